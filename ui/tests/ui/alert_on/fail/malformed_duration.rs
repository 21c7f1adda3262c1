use telemark::alert_on;

#[alert_on(errors > 5, window = "5 minutes")]
fn checkout() {}

#[alert_on(errors > 5, for = "1h 30m")]
fn refund() {}

#[alert_on(errors > 5, window = "300")]
fn cancel() {}

fn main() {
    checkout();
    refund();
    cancel();
}
