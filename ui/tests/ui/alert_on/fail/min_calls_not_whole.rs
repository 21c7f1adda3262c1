use telemark::alert_on;

// `min_calls` is a whole number of calls, written as a literal.
#[alert_on(error_rate > 5%, min_calls = 2.5)]
fn checkout() {}

#[alert_on(error_rate > 5%, min_calls = 20.0)]
fn pay() {}

#[alert_on(error_rate > 5%, min_calls = "20")]
fn refund() {}

#[alert_on(p99_latency > 200ms, min_calls = twenty)]
fn search() {}

fn main() {
    checkout();
    pay();
    refund();
    search();
}
