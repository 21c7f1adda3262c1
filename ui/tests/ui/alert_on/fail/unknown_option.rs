use telemark::alert_on;

#[alert_on(errors > 5, windw = "5m")]
fn checkout() {}

#[alert_on(errors > 5, channels = ["console"])]
fn refund() {}

fn main() {
    checkout();
    refund();
}
