use telemark::alert_on;

// Counts are the evidence themselves, and the largest latency is about single calls.
#[alert_on(errors > 5, min_calls = 20)]
fn checkout() {}

#[alert_on(max_latency > 1s, min_calls = 20)]
fn pay() {}

fn main() {
    checkout();
    pay();
}
