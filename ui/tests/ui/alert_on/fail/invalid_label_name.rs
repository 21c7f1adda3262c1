use telemark::alert_on;

#[alert_on(errors > 5, labels(team-name = "payments"))]
fn checkout() {}

#[alert_on(errors > 5, labels("1st" = "x", service.tier = "web"))]
fn refund() {}

fn main() {
    checkout();
    refund();
}
