use telemark::alert_on;

#[alert_on(errors > 5, notify = "console")]
fn checkout() {}

#[alert_on(errors > 5, notify = [])]
fn refund() {}

#[alert_on(errors > 5, notify = ["console", "on call", "console"])]
fn cancel() {}

fn main() {
    checkout();
    refund();
    cancel();
}
