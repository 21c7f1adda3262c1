use telemark::alert_on;

#[alert_on(errors > 5, labels(severity = "page", __name__ = "x", function = "f", alertname = "a"))]
fn checkout() {}

fn main() {
    checkout();
}
