use telemark::{alert_on, traced};

// Two default names that clash: `checkout_p99_latency`.
#[alert_on(p99_latency > 200ms)]
#[traced]
#[alert_on(p99 > 1s, severity = "critical")]
fn checkout() {}

// Three explicit names: each duplicate is reported once.
#[alert_on(errors > 1, name = "refund_broken")]
#[alert_on(calls < 1, name = "refund_idle")]
#[alert_on(errors > 10, name = "refund_broken")]
#[alert_on(error_rate > 5%, name = "refund_broken")]
fn refund() {}

fn main() {
    checkout();
    refund();
}
