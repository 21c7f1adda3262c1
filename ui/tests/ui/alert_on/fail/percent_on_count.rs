use telemark::alert_on;

#[alert_on(calls > 5%)]
fn checkout() {}

fn main() {
    checkout();
}
