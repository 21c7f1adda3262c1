use telemark::alert_on;

#[alert_on(p99_latency > 200)]
fn checkout() {}

fn main() {
    checkout();
}
