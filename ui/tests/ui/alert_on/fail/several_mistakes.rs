use telemark::alert_on;

// Every mistake is reported at once, each on its own token.
#[alert_on(p99_latency > 200, window = "0m", severity = "urgent", labels(team-name = "x"), summary = "{val}")]
fn checkout() {}

fn main() {
    checkout();
}
