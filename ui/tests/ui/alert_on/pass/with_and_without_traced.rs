#![deny(warnings)]
// `#[alert_on]` with `#[traced]` above, between, below, or absent, once or several times: the
// function is instrumented exactly once (one span with `#[traced]`, none without, and one count
// per call either way), and every rule is registered.

use telemark::{alert_on, traced};

#[traced]
#[alert_on(errors > 1)]
#[alert_on(calls > 100)]
fn traced_above() {}

#[alert_on(errors > 1)]
#[traced]
#[alert_on(calls > 100)]
fn traced_between() {}

#[alert_on(errors > 1)]
#[alert_on(calls > 100)]
#[telemark::traced]
fn traced_below() {}

#[alert_on(errors > 1)]
#[alert_on(calls > 100)]
#[alert_on(rate > 10)]
fn not_traced() {}

#[alert_on(p99 > 10ms)]
fn not_traced_once(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

fn calls(function: &str) -> [u64; 3] {
    let full = format!("{}::{function}", module_path!());
    telemark::metrics::snapshot()
        .into_iter()
        .find(|m| m.function == full)
        .map(|m| m.calls)
        .unwrap_or_default()
}

fn main() {
    let names: Vec<String> = telemark::alerts::rules().iter().map(|r| r.name.to_string()).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    for f in ["traced_above", "traced_between", "traced_below", "not_traced"] {
        assert!(names.contains(&format!("{f}_errors")), "{names:?}");
        assert!(names.contains(&format!("{f}_calls")), "{names:?}");
    }

    let capture = telemark::testing::capture();
    for _ in 0..3 {
        traced_above();
        traced_between();
        traced_below();
        not_traced();
    }
    let _ = not_traced_once(0);
    let _ = not_traced_once(1);
    assert!(telemark::flush(std::time::Duration::from_secs(5)));
    let spans = capture.spans();
    for f in ["traced_above", "traced_between", "traced_below"] {
        assert_eq!(spans.iter().filter(|s| s.name == f).count(), 3, "{f}: {spans:?}");
        assert_eq!(calls(f), [3, 0, 0], "{f}");
    }
    assert!(!spans.iter().any(|s| s.name.starts_with("not_traced")), "{spans:?}");
    assert_eq!(calls("not_traced"), [3, 0, 0]);
    assert_eq!(calls("not_traced_once"), [1, 1, 0]);
}
