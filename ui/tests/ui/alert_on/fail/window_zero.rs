use telemark::alert_on;

#[alert_on(errors > 5, window = "0s")]
fn checkout() {}

fn main() {
    checkout();
}
