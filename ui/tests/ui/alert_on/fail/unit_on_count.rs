use telemark::alert_on;

#[alert_on(errors > 5ms)]
fn checkout() {}

fn main() {
    checkout();
}
