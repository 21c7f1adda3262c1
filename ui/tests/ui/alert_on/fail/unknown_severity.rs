use telemark::alert_on;

#[alert_on(errors > 5, severity = "warn")]
fn checkout() {}

#[alert_on(errors > 5, severity = "page-me")]
fn refund() {}

fn main() {
    checkout();
    refund();
}
