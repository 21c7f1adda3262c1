#![deny(warnings)]
// Every option, and the defaults when they are left out.

use std::time::Duration;
use telemark::alerts::{Origin, Severity};
use telemark::{alert_on, traced};

#[traced]
#[alert_on(
    p99_latency > 200ms,
    name = "checkout_slow",
    window = "10m",
    for = "2m",
    min_calls = 1_000,
    severity = "critical",
    notify = ["console", "oncall"],
    summary = "{function} is slow: p99 {value} > {threshold}",
    description = "literal braces: {{ and }}",
    labels(team = "payments", tier = "1", r#type = "web"),
)]
#[alert_on(errors > 0, severity = info)]
#[alert_on(calls > 1000, name = "checkout_burst", window = "1.5s", for = "10.25s")]
#[alert_on(calls < 1, name = "checkout_idle", window = "1d", for = "1h30m")]
#[alert_on(error_rate > 5%, min_calls = 20, name = "checkout_failing")]
#[alert_on(error_rate > 10%)]
fn checkout() {}

fn main() {
    let rules = telemark::alerts::rules();
    assert_eq!(rules.len(), 6);
    let slow = rules.iter().find(|r| r.name == "checkout_slow").expect("checkout_slow");
    assert_eq!(slow.function, concat!(module_path!(), "::checkout"));
    assert_eq!(slow.window, Duration::from_secs(600));
    assert_eq!(slow.for_, Duration::from_secs(120));
    assert_eq!(slow.severity, Severity::Critical);
    assert_eq!(slow.notify, ["console", "oncall"]);
    assert_eq!(slow.summary.as_deref(), Some("{function} is slow: p99 {value} > {threshold}"));
    assert_eq!(slow.description.as_deref(), Some("literal braces: {{ and }}"));
    let labels: Vec<(&str, &str)> = slow.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    assert_eq!(labels, [("team", "payments"), ("tier", "1"), ("type", "web")]);
    assert!(!slow.disabled);
    assert_eq!(slow.min_calls, Some(1000));
    assert_eq!(slow.min_calls_in_force(), Some(1000));
    let failing = rules.iter().find(|r| r.name == "checkout_failing").expect("checkout_failing");
    assert_eq!(failing.min_calls, Some(20));
    // Left out: the default, until the config's `alerts.min_calls` fills it in.
    let error_rate = rules.iter().find(|r| r.name == "checkout_error_rate").expect("default name");
    assert_eq!(error_rate.min_calls, None);
    assert_eq!(error_rate.min_calls_in_force(), Some(telemark::alerts::DEFAULT_MIN_CALLS));
    // The line of the attribute's condition, in this file.
    match &slow.origin {
        Origin::Macro { file, line } => {
            assert!(file.ends_with("options.rs"), "{file}");
            assert_eq!(*line, 10);
        }
        other => panic!("{other:?}"),
    }

    let defaults = rules.iter().find(|r| r.name == "checkout_errors").expect("default name");
    assert_eq!(defaults.window, Duration::from_secs(300));
    assert_eq!(defaults.for_, Duration::ZERO);
    assert_eq!(defaults.severity, Severity::Info);
    assert_eq!(defaults.notify, ["console"]);
    assert_eq!(defaults.summary, None);
    assert!(defaults.labels.is_empty());

    // Durations in the one grammar: fractions and compound terms.
    let burst = rules.iter().find(|r| r.name == "checkout_burst").expect("checkout_burst");
    assert_eq!(burst.window, Duration::from_millis(1500));
    assert_eq!(burst.for_, Duration::from_millis(10_250));
    let idle = rules.iter().find(|r| r.name == "checkout_idle").expect("checkout_idle");
    assert_eq!(idle.window, Duration::from_secs(86_400));
    assert_eq!(idle.for_, Duration::from_secs(5400));
    assert_eq!(defaults.min_calls_in_force(), None, "a count takes no min_calls");
    checkout();
}
