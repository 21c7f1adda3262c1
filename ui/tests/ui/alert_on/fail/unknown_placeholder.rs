use telemark::alert_on;

#[alert_on(errors > 5, summary = "{fn} failed {value} times")]
fn checkout() {}

#[alert_on(errors > 5, description = "unclosed {value")]
fn refund() {}

fn main() {
    checkout();
    refund();
}
