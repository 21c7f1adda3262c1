use telemark::alert_on;

#[alert_on(errors > 5, window = "1m", for = "11m")]
fn checkout() {}

#[alert_on(errors > 5, for = "1h")]
fn refund() {}

fn main() {
    checkout();
    refund();
}
