use telemark::alert_on;

#[alert_on(errors > 5, name = "checkout is broken")]
fn checkout() {}

#[alert_on(errors > 5, name = "")]
fn refund() {}

fn main() {
    checkout();
    refund();
}
