//! Whether a backend takes what is sent to it, said on stderr once when export starts failing
//! (with the cause, and how much is kept meanwhile) and once when it recovers (with what was
//! lost in between, by reason) — never per batch. A backend that rejects items for good (a final
//! answer, or `partial_success`) is said once per pipeline (`init`).
//!
//! One [`Health`] per destination: the OTLP span, log and metric senders share one, so a dead
//! collector is one line, not three. Losses are counted in [`crate::stats()`] whether or not a
//! line is printed.

use crate::stats::{Reason, REASONS};
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
    /// Bytes kept while it fails (`export.max_queue_bytes`).
    kept: usize,
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
    /// Spans and log records lost since it began, per signal and reason.
    lost: [[u64; 6]; 2],
    /// Metric pushes lost since it began.
    pushes_lost: u64,
    last_announced: Option<Instant>,
    /// Whether a rejection was said (once per pipeline).
    rejection_said: bool,
}

impl Health {
    /// The health of `target`, which keeps up to `kept` bytes while it fails.
    pub(crate) fn new(target: impl Into<String>, kept: usize) -> Health {
        Health { target: target.into(), kept, state: Mutex::new(State::default()) }
    }

    /// An attempt to send `signal` failed because of `cause`, and may be retried.
    pub(crate) fn failed(&self, signal: Signal, cause: &str) {
        if let Some(line) = self.on_failure(signal, cause, Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// An attempt to send `signal` succeeded.
    pub(crate) fn delivered(&self, signal: Signal) {
        if let Some(line) = self.on_success(signal, Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// `n` items of `signal` were dropped for `reason` (the recovered line reports those dropped
    /// while the backend failed).
    pub(crate) fn dropped(&self, signal: Signal, reason: Reason, n: u64) {
        let Ok(mut st) = self.state.lock() else { return };
        if st.since.is_some() && signal != Signal::Metrics && n > 0 {
            let slot = &mut st.lost[signal as usize][reason as usize];
            *slot = slot.saturating_add(n);
        }
    }

    /// A metrics push failed and is not kept.
    pub(crate) fn push_lost(&self) {
        if let Ok(mut st) = self.state.lock() {
            if st.since.is_some() {
                st.pushes_lost += 1;
            }
        }
    }

    /// The backend refused `n` items of `signal` for good (`why`: its answer).
    pub(crate) fn rejected(&self, signal: Signal, n: u64, why: &str) {
        if let Some(line) = self.on_rejected(signal, n, why) {
            eprintln!("{line}");
        }
    }

    fn on_rejected(&self, signal: Signal, n: u64, why: &str) -> Option<String> {
        let mut st = self.state.lock().ok()?;
        if st.since.is_some() && signal != Signal::Metrics {
            let slot = &mut st.lost[signal as usize][Reason::Rejected as usize];
            *slot = slot.saturating_add(n);
        }
        if std::mem::replace(&mut st.rejection_said, true) {
            return None;
        }
        let (one, many) = NAMES[signal as usize];
        Some(format!(
            "telemark: {} rejected {n} {} ({why}); rejected items are dropped and counted \
             (telemark::stats(), *_dropped_by.rejected); this is said once",
            self.target,
            if n == 1 { one } else { many }
        ))
    }

    /// The line to print, if any, for a failure at `now`.
    fn on_failure(&self, signal: Signal, cause: &str, now: Instant) -> Option<String> {
        let mut st = self.state.lock().ok()?;
        let i = signal as usize;
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
            "telemark: {} is failing ({}: {cause}); spans and log records are kept (up to {}) and \
             sent when it recovers, the oldest dropped and counted past that (telemark::stats())",
            self.target,
            NAMES[i].1,
            mebibytes(self.kept)
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
        // The destination took spans or logs: a metrics push that failed meanwhile is not
        // waited for (it is not retried: its flag would stand until the next push).
        if signal != Signal::Metrics {
            st.failing[Signal::Metrics as usize] = false;
        }
        if st.failing.iter().any(|f| *f) {
            return None;
        }
        let lost = std::mem::take(&mut st.lost);
        let pushes = std::mem::take(&mut st.pushes_lost);
        let since = st.since.take();
        if !std::mem::take(&mut st.announced) {
            return None;
        }
        let mut line = format!("telemark: {} recovered", self.target);
        if let Some(since) = since {
            let _ = write!(line, " after {:.1}s", now.saturating_duration_since(since).as_secs_f64());
        }
        let mut parts: Vec<String> = Vec::new();
        for (k, by_reason) in lost.iter().enumerate() {
            let n: u64 = by_reason.iter().sum();
            if n == 0 {
                continue;
            }
            let (one, many) = NAMES[k];
            let reasons: Vec<String> = REASONS
                .iter()
                .filter(|r| by_reason[**r as usize] > 0)
                .map(|r| format!("{} {}", r.name(), by_reason[*r as usize]))
                .collect();
            parts.push(format!("{n} {} ({})", if n == 1 { one } else { many }, reasons.join(", ")));
        }
        if pushes > 0 {
            let (one, many) = NAMES[2];
            parts.push(format!(
                "{pushes} {} (not kept: the next push carries the counts)",
                if pushes == 1 { one } else { many }
            ));
        }
        if parts.is_empty() {
            line.push_str("; nothing was lost");
        } else {
            let _ = write!(line, "; lost while it failed: {}", parts.join(", "));
        }
        Some(line)
    }
}

/// `64 MiB`, `512 KiB`.
fn mebibytes(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", bytes >> 10)
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
        let h = Health::new("OTLP export to http://collector:4317", 64 << 20);
        let t0 = Instant::now();
        let first = h.on_failure(Signal::Spans, "connection refused", t0).expect("announced");
        assert!(first.contains("OTLP export to http://collector:4317 is failing (spans: connection refused)"));
        assert!(first.contains("kept (up to 64 MiB)"), "{first}");
        // Every later attempt, and the other signals, fail silently.
        for k in 1..100 {
            assert_eq!(
                h.on_failure(Signal::Spans, "connection refused", t0 + Duration::from_millis(k)),
                None
            );
        }
        h.dropped(Signal::Spans, Reason::QueueFull, 51_000);
        h.dropped(Signal::Spans, Reason::RetriesExhausted, 200);
        assert_eq!(h.on_failure(Signal::Logs, "connection refused", t0), None);
        h.dropped(Signal::Logs, Reason::QueueFull, 3);
        h.push_lost();
        assert_eq!(h.on_success(Signal::Metrics, t0), None, "metrics were never failing");
        assert_eq!(h.on_success(Signal::Spans, t0 + Duration::from_secs(30)), None, "logs still fail");
        let back = h.on_success(Signal::Logs, t0 + Duration::from_secs(31)).expect("recovered");
        assert_eq!(
            back,
            "telemark: OTLP export to http://collector:4317 recovered after 31.0s; lost while it failed: \
             51200 spans (queue_full 51000, retries_exhausted 200), 3 log records (queue_full 3), \
             1 metric push (not kept: the next push carries the counts)"
        );
        assert_eq!(h.on_success(Signal::Logs, t0 + Duration::from_secs(32)), None, "once");
    }

    #[test]
    fn nothing_lost_is_said_too() {
        let h = Health::new("x", 512 << 10);
        let t0 = Instant::now();
        assert!(h.on_failure(Signal::Spans, "e", t0).is_some_and(|l| l.contains("up to 512 KiB")));
        let back = h.on_success(Signal::Spans, t0 + Duration::from_secs(1)).expect("recovered");
        assert!(back.ends_with("; nothing was lost"), "{back}");
    }

    #[test]
    fn a_failed_metrics_push_does_not_hold_back_the_recovered_line() {
        let h = Health::new("x", 1 << 20);
        let t0 = Instant::now();
        assert!(h.on_failure(Signal::Spans, "e", t0).is_some());
        assert_eq!(h.on_failure(Signal::Metrics, "e", t0), None);
        let back = h.on_success(Signal::Spans, t0 + Duration::from_secs(2)).expect("recovered");
        assert!(back.contains("recovered after 2.0s"), "{back}");
        assert_eq!(h.on_success(Signal::Metrics, t0 + Duration::from_secs(3)), None, "said once");
    }

    #[test]
    fn a_rejection_is_said_once() {
        let h = Health::new("x", 1 << 20);
        let line = h.on_rejected(Signal::Logs, 3, "HTTP 400 Bad Request").expect("said");
        assert!(line.contains("rejected 3 log records (HTTP 400 Bad Request)"), "{line}");
        assert_eq!(h.on_rejected(Signal::Spans, 1, "again"), None);
    }

    #[test]
    fn a_flapping_backend_is_announced_once_a_minute() {
        let h = Health::new("x", 1 << 20);
        let t0 = Instant::now();
        assert!(h.on_failure(Signal::Spans, "e", t0).is_some());
        assert!(h.on_success(Signal::Spans, t0 + Duration::from_secs(1)).is_some());
        // Fails again within the minute: neither the failure nor its end is printed.
        assert!(h.on_failure(Signal::Spans, "e", t0 + Duration::from_secs(2)).is_none());
        assert!(h.on_success(Signal::Spans, t0 + Duration::from_secs(3)).is_none());
        assert!(h.on_failure(Signal::Spans, "e", t0 + Duration::from_secs(61)).is_some());
    }
}
