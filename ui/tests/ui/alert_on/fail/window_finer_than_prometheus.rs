use telemark::alert_on;

// Prometheus measures a rule's window and `for` in whole milliseconds.
#[alert_on(errors > 5, window = "1500us")]
fn checkout() {}

#[alert_on(errors > 5, window = "1m", for = "0.5ms")]
fn refund() {}

fn main() {
    checkout();
    refund();
}
