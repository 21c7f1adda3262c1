use telemark::alert_on;

#[alert_on]
fn checkout() {}

#[alert_on(severity = "critical")]
fn refund() {}

#[alert_on(errors >, window = "5m")]
fn cancel() {}

fn main() {
    checkout();
    refund();
    cancel();
}
