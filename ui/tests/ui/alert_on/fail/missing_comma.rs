use telemark::alert_on;

#[alert_on(errors > 5 window = "5m")]
fn checkout() {}

fn main() {
    checkout();
}
