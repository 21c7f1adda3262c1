use telemark::alert_on;

#[alert_on(throughput < 10)]
fn checkout() {}

fn main() {
    checkout();
}
