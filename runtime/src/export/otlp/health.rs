//! Whether a backend takes what is sent to it, said on stderr once when export starts failing
//! (with the cause) and once when it recovers (with what was lost in between) — never per batch.
//!
//! One [`Health`] per destination: the OTLP span, log and metric senders share one, so a dead
//! collector is one line, not three. Losses are counted in [`crate::stats()`] whether or not a
//! line is printed.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What was being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Spans = 0,
    Logs = 1,
    Metrics = 2,
}

/// Each signal's items, one and several.
const NAMES: [(&str, &str); 3] =
    [("span", "spans"), ("log record", "log records"), ("metric push", "metric pushes")];

/// A "failing" line at most this often: a backend that flaps does not flood stderr.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(60);

/// The export health of one destination.
#[derive(Debug)]
pub(crate) struct Health {
    /// What the lines call the destination (`OTLP export to http://collector:4317`).
    target: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Signals whose last attempt failed.
    failing: [bool; 3],
    /// When the current failure began.
    since: Option<Instant>,
    /// Whether its start was announced (so its end is too).
    announced: bool,
    /// Items lost since it began, per signal.
    lost: [u64; 3],
    last_announced: Option<Instant>,
}

impl Health {
    pub(crate) fn new(target: impl Into<String>) -> Health {
        Health { target: target.into(), state: Mutex::new(State::default()) }
    }

    /// An attempt to send `lost` items of `signal` failed for good (after its retries) because
    /// of `cause`.
    pub(crate) fn failed(&self, signal: Signal, cause: &str, lost: u64) {
        if let Some(line) = self.on_failure(signal, cause, lost, Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// An attempt to send `signal` succeeded.
    pub(crate) fn delivered(&self, signal: Signal) {
        if let Some(line) = self.on_success(signal, Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// The line to print, if any, for a failure at `now`.
    fn on_failure(&self, signal: Signal, cause: &str, lost: u64, now: Instant) -> Option<String> {
        let mut st = self.state.lock().ok()?;
        let i = signal as usize;
        st.lost[i] = st.lost[i].saturating_add(lost);
        let was_healthy = !st.failing.iter().any(|f| *f);
        st.failing[i] = true;
        if !was_healthy {
            return None;
        }
        st.since = Some(now);
        st.announced = st.last_announced.is_none_or(|t| now.saturating_duration_since(t) >= ANNOUNCE_EVERY);
        if !st.announced {
            return None;
        }
        st.last_announced = Some(now);
        Some(format!(
            "telemark: {} is failing ({}: {cause}); what cannot be sent is dropped and counted \
             (telemark::stats()) until it recovers",
            self.target, NAMES[i].1
        ))
    }

    /// The line to print, if any, for a success at `now`.
    fn on_success(&self, signal: Signal, now: Instant) -> Option<String> {
        let mut st = self.state.lock().ok()?;
        let i = signal as usize;
        if !st.failing[i] {
            return None;
        }
        st.failing[i] = false;
        if st.failing.iter().any(|f| *f) {
            return None;
        }
        let lost = std::mem::take(&mut st.lost);
        let since = st.since.take();
        if !std::mem::take(&mut st.announced) {
            return None;
        }
        let mut line = format!("telemark: {} recovered", self.target);
        if let Some(since) = since {
            let _ = write!(line, " after {:.1}s", now.saturating_duration_since(since).as_secs_f64());
        }
        let parts: Vec<String> = lost
            .iter()
            .zip(NAMES)
            .filter(|(n, _)| **n > 0)
            .map(|(n, (one, many))| format!("{n} {}", if *n == 1 { one } else { many }))
            .collect();
        if parts.is_empty() {
            line.push_str("; nothing was lost");
        } else {
            let _ = write!(line, "; lost while it failed: {}", parts.join(", "));
        }
        Some(line)
    }
}

/// An error with its sources, as a person reads it (`transport error: tcp connect error:
/// Connection refused (os error 111)`); a source already said by the one before is left out.
pub(crate) fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_when_failing_starts_and_one_when_it_ends() {
        let h = Health::new("OTLP export to http://collector:4317");
        let t0 = Instant::now();
        let first = h.on_failure(Signal::Spans, "connection refused", 512, t0).expect("announced");
        assert!(first.contains("OTLP export to http://collector:4317 is failing (spans: connection refused)"));
        // Every later batch, and the other signals, fail silently (but are counted).
        for k in 1..100 {
            assert_eq!(
                h.on_failure(Signal::Spans, "connection refused", 512, t0 + Duration::from_millis(k)),
                None
            );
        }
        assert_eq!(h.on_failure(Signal::Logs, "connection refused", 3, t0), None);
        assert_eq!(h.on_success(Signal::Metrics, t0), None, "metrics were never failing");
        assert_eq!(h.on_success(Signal::Spans, t0 + Duration::from_secs(30)), None, "logs still fail");
        let back = h.on_success(Signal::Logs, t0 + Duration::from_secs(31)).expect("recovered");
        assert_eq!(
            back,
            "telemark: OTLP export to http://collector:4317 recovered after 31.0s; lost while it failed: \
             51200 spans, 3 log records"
        );
        assert_eq!(h.on_success(Signal::Logs, t0 + Duration::from_secs(32)), None, "once");
    }

    #[test]
    fn a_flapping_backend_is_announced_once_a_minute() {
        let h = Health::new("x");
        let t0 = Instant::now();
        assert!(h.on_failure(Signal::Spans, "e", 1, t0).is_some());
        assert!(h.on_success(Signal::Spans, t0 + Duration::from_secs(1)).is_some());
        // Fails again within the minute: neither the failure nor its end is printed.
        assert!(h.on_failure(Signal::Spans, "e", 1, t0 + Duration::from_secs(2)).is_none());
        assert!(h.on_success(Signal::Spans, t0 + Duration::from_secs(3)).is_none());
        assert!(h.on_failure(Signal::Spans, "e", 1, t0 + Duration::from_secs(61)).is_some());
    }
}
