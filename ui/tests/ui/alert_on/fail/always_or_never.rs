use telemark::alert_on;

#[alert_on(errors >= 0)]
fn checkout() {}

#[alert_on(calls < 0)]
fn refund() {}

#[alert_on(error_rate > 100%)]
fn cancel() {}

fn main() {
    checkout();
    refund();
    cancel();
}
