use telemark::alert_on;

#[alert_on(error_rate > 5)]
fn checkout() {}

fn main() {
    checkout();
}
