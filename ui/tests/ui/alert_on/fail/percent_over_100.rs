use telemark::alert_on;

#[alert_on(error_rate > 150%)]
fn checkout() {}

fn main() {
    checkout();
}
