#![deny(warnings)]
// Every metric, every comparison, every way of writing a threshold: kept in canonical units
// (a fraction, seconds, per second, a count).

use telemark::alerts::{Metric, Op, Quantile};
use telemark::{alert_on, traced};

#[traced]
#[alert_on(error_rate > 5%)]
#[alert_on(error_rate >= 0.25, name = "half_broken")]
#[alert_on(errors > 10)]
#[alert_on(calls < 1)]
#[alert_on(rate <= 0.5)]
#[alert_on(exceptions >= 3)]
fn counts() {}

#[traced]
#[alert_on(p50_latency > 500us)]
#[alert_on(p90_latency > 20ms)]
#[alert_on(p95 > 1_000ms)]
#[alert_on(p99 > 1.5s)]
#[alert_on(max_latency > 2 s)]
#[alert_on(p99_latency < 1ms, name = "suspiciously_fast")]
fn latencies() {}

fn find(name: &str) -> telemark::alerts::Rule {
    telemark::alerts::rules().into_iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no rule {name}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn main() {
    let expect: &[(&str, Metric, Op, f64)] = &[
        ("counts_error_rate", Metric::ErrorRate, Op::Gt, 0.05),
        ("half_broken", Metric::ErrorRate, Op::Ge, 0.25),
        ("counts_errors", Metric::Errors, Op::Gt, 10.0),
        ("counts_calls", Metric::Calls, Op::Lt, 1.0),
        ("counts_rate", Metric::Rate, Op::Le, 0.5),
        ("counts_exceptions", Metric::Exceptions, Op::Ge, 3.0),
        ("latencies_p50_latency", Metric::Latency(Quantile::P50), Op::Gt, 0.0005),
        ("latencies_p90_latency", Metric::Latency(Quantile::P90), Op::Gt, 0.02),
        ("latencies_p95_latency", Metric::Latency(Quantile::P95), Op::Gt, 1.0),
        ("latencies_p99_latency", Metric::Latency(Quantile::P99), Op::Gt, 1.5),
        ("latencies_max_latency", Metric::Latency(Quantile::Max), Op::Gt, 2.0),
        ("suspiciously_fast", Metric::Latency(Quantile::P99), Op::Lt, 0.001),
    ];
    for (name, metric, op, threshold) in expect {
        let r = find(name);
        assert_eq!((r.metric, r.op), (*metric, *op), "{name}");
        assert!(close(r.threshold, *threshold), "{name}: {} != {threshold}", r.threshold);
        assert!(r.function.ends_with("::counts") || r.function.ends_with("::latencies"), "{}", r.function);
    }
    assert_eq!(find("counts_error_rate").condition(), "error_rate > 5%");
    assert_eq!(find("latencies_p99_latency").condition(), "p99_latency > 1.5s");
    assert_eq!(telemark::alerts::rules().len(), expect.len());
    counts();
    latencies();
}
