use telemark::alert_on;

#[alert_on(errors => 5)]
fn checkout() {}

#[alert_on(calls == 0)]
fn refund() {}

fn main() {
    checkout();
    refund();
}
