use telemark::alert_on;

#[alert_on(rate > -1)]
fn checkout() {}

fn main() {
    checkout();
}
