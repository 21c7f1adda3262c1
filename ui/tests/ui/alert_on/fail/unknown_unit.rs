use telemark::alert_on;

#[alert_on(p95 > 2sec)]
fn checkout() {}

fn main() {
    checkout();
}
