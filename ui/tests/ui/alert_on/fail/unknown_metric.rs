use telemark::alert_on;

#[alert_on(p99_latncy > 200ms)]
fn checkout() {}

fn main() {
    checkout();
}
