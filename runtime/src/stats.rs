//! Self-observability: what telemark recorded, exported and dropped.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub(crate) struct Counters {
    pub spans_recorded: AtomicU64,
    pub spans_dropped: AtomicU64,
    pub spans_exported: AtomicU64,
    pub logs_recorded: AtomicU64,
    pub logs_dropped: AtomicU64,
    pub logs_exported: AtomicU64,
    pub export_failures: AtomicU64,
    pub attributes_dropped: AtomicU64,
    pub events_dropped: AtomicU64,
    pub too_large: AtomicU64,
    pub queue_depth: AtomicU64,
    pub exceptions_dropped: AtomicU64,
    pub exceptions_suppressed: AtomicU64,
}

pub(crate) static STATS: Counters = Counters {
    spans_recorded: AtomicU64::new(0),
    spans_dropped: AtomicU64::new(0),
    spans_exported: AtomicU64::new(0),
    logs_recorded: AtomicU64::new(0),
    logs_dropped: AtomicU64::new(0),
    logs_exported: AtomicU64::new(0),
    export_failures: AtomicU64::new(0),
    attributes_dropped: AtomicU64::new(0),
    events_dropped: AtomicU64::new(0),
    too_large: AtomicU64::new(0),
    queue_depth: AtomicU64::new(0),
    exceptions_dropped: AtomicU64::new(0),
    exceptions_suppressed: AtomicU64::new(0),
};

/// A snapshot of telemark's own counters since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Spans that reached telemark's collector thread.
    pub spans_recorded: u64,
    /// Spans dropped because a buffer or the export queue was full (or the exporter failed).
    pub spans_dropped: u64,
    /// Spans an exporter accepted.
    pub spans_exported: u64,
    /// Log records that reached the collector.
    pub logs_recorded: u64,
    /// Log records dropped.
    pub logs_dropped: u64,
    /// Log records an exporter accepted.
    pub logs_exported: u64,
    /// Export calls that failed (after the exporter's own retries).
    pub export_failures: u64,
    /// Attributes left out: a span's data was full, a value failed to format, or a span or log
    /// record had more than `limits.*attribute_count`.
    pub attributes_dropped: u64,
    /// Span events left out: a span's data was full, or it had more than `limits.span_event_count`.
    pub events_dropped: u64,
    /// Spans and log records dropped because one alone was larger than `export.max_request_bytes`
    /// (also counted in `spans_dropped` / `logs_dropped`).
    pub too_large: u64,
    /// Spans and logs waiting in the export queue right now.
    pub queue_depth: u64,
    /// Captured exceptions lost on the way to the collector (a full buffer): neither grouped nor exported.
    pub exceptions_dropped: u64,
    /// Exceptions counted in their group but not exported (the group's rate limit).
    pub exceptions_suppressed: u64,
}

/// Reads telemark's counters, after telemark's thread has taken in everything recorded before the
/// call (at most [`QUERY_WAIT`](crate::QUERY_WAIT), a bound reached only when that thread is
/// stuck). What is still on its way to a backend is in `queue_depth`; [`flush`](crate::flush)
/// waits for it.
pub fn stats() -> Stats {
    crate::collector::barrier();
    Stats {
        spans_recorded: STATS.spans_recorded.load(Relaxed),
        spans_dropped: STATS.spans_dropped.load(Relaxed),
        spans_exported: STATS.spans_exported.load(Relaxed),
        logs_recorded: STATS.logs_recorded.load(Relaxed),
        logs_dropped: STATS.logs_dropped.load(Relaxed),
        logs_exported: STATS.logs_exported.load(Relaxed),
        export_failures: STATS.export_failures.load(Relaxed),
        attributes_dropped: STATS.attributes_dropped.load(Relaxed),
        events_dropped: STATS.events_dropped.load(Relaxed),
        too_large: STATS.too_large.load(Relaxed),
        queue_depth: STATS.queue_depth.load(Relaxed),
        exceptions_dropped: STATS.exceptions_dropped.load(Relaxed),
        exceptions_suppressed: STATS.exceptions_suppressed.load(Relaxed),
    }
}
