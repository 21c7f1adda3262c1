#![deny(warnings)]
// `crate = path`: telemark reached under another name. Without `#[traced]`, the one `#[alert_on]`
// adds names telemark the same way, so the function's metrics are recorded all the same.

extern crate telemark as tm;

/// What a wrapper library does: re-export telemark as its own.
mod my_telemark {
    pub use telemark::*;
}

#[my_telemark::alert_on(errors > 1, crate = my_telemark)]
fn not_traced(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[tm::traced(crate = tm)]
#[tm::alert_on(p99_latency > 200ms, crate = tm, severity = "critical")]
fn traced_above() {}

#[tm::alert_on(calls > 100, crate = tm)]
#[tm::traced(crate = tm)]
fn traced_below() {}

fn calls(function: &str) -> [u64; 3] {
    let full = format!("{}::{function}", module_path!());
    tm::metrics::snapshot().into_iter().find(|m| m.function == full).map(|m| m.calls).unwrap_or_default()
}

fn main() {
    let names: Vec<String> = tm::alerts::rules().iter().map(|r| r.name.to_string()).collect();
    for name in ["not_traced_errors", "traced_above_p99_latency", "traced_below_calls"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }

    let capture = tm::testing::capture();
    let _ = not_traced(0);
    let _ = not_traced(1);
    traced_above();
    traced_below();
    assert!(tm::flush(std::time::Duration::from_secs(5)));
    assert_eq!(calls("not_traced"), [1, 1, 0]);
    assert_eq!(calls("traced_above"), [1, 0, 0]);
    assert_eq!(calls("traced_below"), [1, 0, 0]);
    let spans = capture.spans();
    assert!(!spans.iter().any(|s| s.name == "not_traced"), "{spans:?}");
    assert!(spans.iter().any(|s| s.name == "traced_above"), "{spans:?}");
}
