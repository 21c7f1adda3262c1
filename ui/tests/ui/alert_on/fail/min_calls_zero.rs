use telemark::alert_on;

#[alert_on(error_rate > 5%, min_calls = 0)]
fn checkout() {}

fn main() {
    checkout();
}
