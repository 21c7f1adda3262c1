use telemark::alert_on;

const LIMIT: u32 = 10;

#[alert_on(errors > LIMIT)]
fn checkout() {}

#[alert_on(p99 > "200ms")]
fn refund() {}

fn main() {
    let _ = LIMIT;
    checkout();
    refund();
}
