use telemark::alert_on;

#[alert_on(errors > 5, severity = "info", window = "1m", severity = "critical")]
fn checkout() {}

fn main() {
    checkout();
}
