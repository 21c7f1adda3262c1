use telemark::alert_on;

#[alert_on(errors > 5, labels(team = payments, tier = "", team = "x"))]
fn checkout() {}

fn main() {
    checkout();
}
