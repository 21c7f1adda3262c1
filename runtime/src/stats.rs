//! Self-observability: what telemark recorded, exported and dropped.
//!
//! For spans and log records sent over OTLP the counts balance: once [`crate::flush`] (or
//! shutdown) has returned and `queue_depth` is 0, `recorded = exported + dropped`, and `dropped`
//! is the sum of its reasons ([`DropReasons`]). (A signal with no OTLP endpoint — say, logs when
//! only `exporters.otlp.traces.endpoint` is set — is recorded and handed to the other exporters
//! only: neither exported nor dropped.)

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a span or log record was dropped (the index into the counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The caller's per-thread buffer was full.
    BufferFull = 0,
    /// The export queue was over `export.max_queue_bytes` or `export.max_queue`: the oldest went.
    QueueFull = 1,
    /// Older than `export.max_retry_time` and still not delivered.
    RetriesExhausted = 2,
    /// The backend refused it for good (a non-retryable answer, or `partial_success`).
    Rejected = 3,
    /// Alone larger than `export.max_request_bytes`.
    TooLarge = 4,
    /// Still queued or being sent when shutdown's deadline passed.
    Shutdown = 5,
}

/// The reasons, in index order.
pub(crate) const REASONS: [Reason; 6] = [
    Reason::BufferFull,
    Reason::QueueFull,
    Reason::RetriesExhausted,
    Reason::Rejected,
    Reason::TooLarge,
    Reason::Shutdown,
];

impl Reason {
    /// Its name as a metric attribute value and in the health lines.
    pub(crate) fn name(self) -> &'static str {
        ["buffer_full", "queue_full", "retries_exhausted", "rejected", "too_large", "shutdown"][self as usize]
    }
}

/// Why an export attempt failed (the index into the counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// No answer within the per-request timeout.
    Timeout = 0,
    /// The connection could not be made or broke.
    Connection = 1,
    /// The TLS handshake failed.
    Tls = 2,
    /// The backend answered with an error status.
    Status = 3,
}

impl Cause {
    /// Its name as a metric attribute value (`error.type`).
    pub(crate) fn name(self) -> &'static str {
        ["timeout", "connection", "tls", "status"][self as usize]
    }
}

/// Spans or log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Span = 0,
    Log = 1,
}

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
    /// Per [`Item`], per [`Reason`].
    pub dropped_by: [[AtomicU64; 6]; 2],
    /// Per [`Cause`].
    pub failures_by: [AtomicU64; 4],
    pub queue_bytes: AtomicU64,
    pub metric_pushes_exported: AtomicU64,
    pub metric_pushes_dropped: AtomicU64,
    /// Export attempts by duration, per outcome (delivered, then each [`Cause`]): per bucket of
    /// [`EXPORT_BOUNDS_MS`], then the overflow.
    pub export_duration: [[AtomicU64; EXPORT_BOUNDS_MS.len() + 1]; 5],
    pub export_duration_sum_ns: [AtomicU64; 5],
    /// Per [`Item`]: queued or being sent.
    pub queue_items_by: [AtomicU64; 2],
    /// The export queue's bounds (`export.max_queue`, `export.max_queue_bytes`); 0 without OTLP.
    pub queue_capacity_items: AtomicU64,
    pub queue_capacity_bytes: AtomicU64,
}

/// The upper bounds of the export duration histogram's buckets, in milliseconds.
pub(crate) const EXPORT_BOUNDS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000];

/// Counts one export attempt (a request, answered or not) that took `took`: delivered
/// (`failed` is `None`) or failed for `failed`.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))] // the OTLP exporter's
pub(crate) fn observe_export(took: std::time::Duration, failed: Option<Cause>) {
    let outcome = failed.map_or(0, |c| c as usize + 1);
    let ms = took.as_millis();
    let i = EXPORT_BOUNDS_MS.iter().position(|b| ms <= u128::from(*b)).unwrap_or(EXPORT_BOUNDS_MS.len());
    STATS.export_duration[outcome][i].fetch_add(1, Relaxed);
    STATS.export_duration_sum_ns[outcome]
        .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
}

/// The export duration histogram, per outcome: its `error.type` (`None`: delivered), the count
/// per bucket (the last one past the last bound) and the sum in nanoseconds. Outcomes never seen
/// are left out.
pub(crate) fn export_durations() -> Vec<(Option<&'static str>, [u64; EXPORT_BOUNDS_MS.len() + 1], u64)> {
    let outcomes =
        [None, Some(Cause::Timeout), Some(Cause::Connection), Some(Cause::Tls), Some(Cause::Status)];
    outcomes
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let buckets = STATS.export_duration[k].each_ref().map(|c| c.load(Relaxed));
            (c.map(Cause::name), buckets, STATS.export_duration_sum_ns[k].load(Relaxed))
        })
        .filter(|(c, buckets, _)| c.is_none() || buckets.iter().any(|n| *n > 0))
        .collect()
}

// A template for the statics below (each use is a fresh atomic).
#[allow(clippy::declare_interior_mutable_const)]
const Z: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZROW: [AtomicU64; EXPORT_BOUNDS_MS.len() + 1] = [Z; EXPORT_BOUNDS_MS.len() + 1];

pub(crate) static STATS: Counters = Counters {
    spans_recorded: Z,
    spans_dropped: Z,
    spans_exported: Z,
    logs_recorded: Z,
    logs_dropped: Z,
    logs_exported: Z,
    export_failures: Z,
    attributes_dropped: Z,
    events_dropped: Z,
    too_large: Z,
    queue_depth: Z,
    exceptions_dropped: Z,
    exceptions_suppressed: Z,
    dropped_by: [[Z; 6], [Z; 6]],
    failures_by: [Z; 4],
    queue_bytes: Z,
    metric_pushes_exported: Z,
    metric_pushes_dropped: Z,
    export_duration: [ZROW; 5],
    export_duration_sum_ns: [Z; 5],
    queue_items_by: [Z; 2],
    queue_capacity_items: Z,
    queue_capacity_bytes: Z,
};

/// Counts `n` spans or log records dropped for `reason` (in the total and in the reason).
pub(crate) fn count_dropped(item: Item, reason: Reason, n: u64) {
    if n == 0 {
        return;
    }
    let total = match item {
        Item::Span => &STATS.spans_dropped,
        Item::Log => &STATS.logs_dropped,
    };
    total.fetch_add(n, Relaxed);
    STATS.dropped_by[item as usize][reason as usize].fetch_add(n, Relaxed);
    if reason == Reason::TooLarge {
        STATS.too_large.fetch_add(n, Relaxed);
    }
}

/// Counts `n` spans or log records that never reached telemark's thread (a full per-thread
/// buffer): recorded, and dropped.
pub(crate) fn count_buffer_full(item: Item, n: u64) {
    if n == 0 {
        return;
    }
    let recorded = match item {
        Item::Span => &STATS.spans_recorded,
        Item::Log => &STATS.logs_recorded,
    };
    recorded.fetch_add(n, Relaxed);
    count_dropped(item, Reason::BufferFull, n);
}

/// Counts one failed export attempt.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))] // the OTLP exporter's
pub(crate) fn count_failure(cause: Cause) {
    STATS.export_failures.fetch_add(1, Relaxed);
    STATS.failures_by[cause as usize].fetch_add(1, Relaxed);
}

/// Spans (or log records) dropped, by reason; they add up to the signal's `*_dropped` total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DropReasons {
    /// The recording thread's buffer (`export.buffer_per_thread`) was full: telemark's thread
    /// was behind. Counted as recorded too.
    pub buffer_full: u64,
    /// The export queue was over `export.max_queue_bytes` (or `export.max_queue`) while the
    /// backend was slow or down: the oldest batches were dropped to make room.
    pub queue_full: u64,
    /// Still not delivered `export.max_retry_time` after it was queued.
    pub retries_exhausted: u64,
    /// The backend refused it: a non-retryable answer (HTTP 400, `INVALID_ARGUMENT`, …), or the
    /// rejected items of a `partial_success`.
    pub rejected: u64,
    /// Alone larger than `export.max_request_bytes`.
    pub too_large: u64,
    /// Still queued or being sent when shutdown's deadline passed.
    pub shutdown: u64,
}

impl DropReasons {
    /// The sum of the reasons.
    pub fn total(&self) -> u64 {
        self.buffer_full
            + self.queue_full
            + self.retries_exhausted
            + self.rejected
            + self.too_large
            + self.shutdown
    }

    fn load(item: Item) -> DropReasons {
        let c = &STATS.dropped_by[item as usize];
        let n = |r: Reason| c[r as usize].load(Relaxed);
        DropReasons {
            buffer_full: n(Reason::BufferFull),
            queue_full: n(Reason::QueueFull),
            retries_exhausted: n(Reason::RetriesExhausted),
            rejected: n(Reason::Rejected),
            too_large: n(Reason::TooLarge),
            shutdown: n(Reason::Shutdown),
        }
    }
}

/// Failed export attempts, by cause; they add up to `export_failures`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureCauses {
    /// No answer within the per-request timeout (`exporters.otlp.timeout`).
    pub timeout: u64,
    /// The connection could not be made, or broke.
    pub connection: u64,
    /// The TLS handshake failed.
    pub tls: u64,
    /// The backend answered with an error status (HTTP or gRPC).
    pub status: u64,
}

/// A snapshot of telemark's own counters since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Spans that reached telemark's collector thread, or were dropped on their way to it
    /// (`spans_dropped_by.buffer_full`).
    pub spans_recorded: u64,
    /// Spans dropped, for any reason (the sum of `spans_dropped_by`).
    pub spans_dropped: u64,
    /// Spans an exporter accepted.
    pub spans_exported: u64,
    /// Log records that reached the collector, or were dropped on their way to it.
    pub logs_recorded: u64,
    /// Log records dropped (the sum of `logs_dropped_by`).
    pub logs_dropped: u64,
    /// Log records an exporter accepted.
    pub logs_exported: u64,
    /// Spans dropped, by reason.
    pub spans_dropped_by: DropReasons,
    /// Log records dropped, by reason.
    pub logs_dropped_by: DropReasons,
    /// Export attempts that failed (each retry counts), and export calls of the program's own
    /// exporters that returned an error. A full queue is not a failure (it is `*_dropped_by.queue_full`).
    pub export_failures: u64,
    /// The OTLP exporter's failed attempts, by cause.
    pub export_failures_by: FailureCauses,
    /// Metric pushes the backend took.
    pub metric_pushes_exported: u64,
    /// Metric pushes that could not be delivered. They are not kept: the counts are cumulative,
    /// and the next push carries them.
    pub metric_pushes_dropped: u64,
    /// Attributes left out: a span's data was full, a value failed to format, or a span or log
    /// record had more than `limits.*attribute_count`.
    pub attributes_dropped: u64,
    /// Span events left out: a span's data was full, or it had more than `limits.span_event_count`.
    pub events_dropped: u64,
    /// Spans and log records dropped because one alone was larger than `export.max_request_bytes`
    /// (also counted in `spans_dropped` / `logs_dropped`).
    pub too_large: u64,
    /// Spans and logs waiting in the export queue (or being sent) right now.
    pub queue_depth: u64,
    /// Bytes of encoded spans and logs waiting in the export queue (or being sent) right now.
    pub queue_bytes: u64,
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
    snapshot()
}

/// The counters as they are now, without the barrier (for telemark's own threads).
pub(crate) fn snapshot() -> Stats {
    let f = |c: Cause| STATS.failures_by[c as usize].load(Relaxed);
    Stats {
        spans_recorded: STATS.spans_recorded.load(Relaxed),
        spans_dropped: STATS.spans_dropped.load(Relaxed),
        spans_exported: STATS.spans_exported.load(Relaxed),
        logs_recorded: STATS.logs_recorded.load(Relaxed),
        logs_dropped: STATS.logs_dropped.load(Relaxed),
        logs_exported: STATS.logs_exported.load(Relaxed),
        spans_dropped_by: DropReasons::load(Item::Span),
        logs_dropped_by: DropReasons::load(Item::Log),
        export_failures: STATS.export_failures.load(Relaxed),
        export_failures_by: FailureCauses {
            timeout: f(Cause::Timeout),
            connection: f(Cause::Connection),
            tls: f(Cause::Tls),
            status: f(Cause::Status),
        },
        metric_pushes_exported: STATS.metric_pushes_exported.load(Relaxed),
        metric_pushes_dropped: STATS.metric_pushes_dropped.load(Relaxed),
        attributes_dropped: STATS.attributes_dropped.load(Relaxed),
        events_dropped: STATS.events_dropped.load(Relaxed),
        too_large: STATS.too_large.load(Relaxed),
        queue_depth: STATS.queue_depth.load(Relaxed),
        queue_bytes: STATS.queue_bytes.load(Relaxed),
        exceptions_dropped: STATS.exceptions_dropped.load(Relaxed),
        exceptions_suppressed: STATS.exceptions_suppressed.load(Relaxed),
    }
}

/// How a metric of telemark's own adds up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A monotonic sum (Prometheus: `_total`).
    Counter,
    /// A value now (an OTLP non-monotonic sum, a Prometheus gauge).
    Gauge,
}

/// One metric of telemark's own ("monitoring the monitor"), for the Prometheus endpoint and the
/// OTLP metrics push. The names follow OpenTelemetry's semantic conventions for SDK
/// self-observability where they exist (`otel.sdk.exporter.span.exported`,
/// `otel.sdk.exporter.log.exported` with `error.type` for what was not delivered,
/// `otel.sdk.processor.span.queue.size` / `.capacity`, the log ones alike,
/// `otel.sdk.exporter.operation.duration` with `error.type` on failed attempts); telemark's own are `telemark.exporter.failures`
/// (failed attempts, each retry counted, by `error.type`), `telemark.exporter.queue.bytes` and
/// `.capacity_bytes`, and `telemark.exporter.metric_pushes` (pushes are not kept).
#[cfg_attr(not(feature = "otlp"), allow(dead_code))] // the OTLP exporter's
pub(crate) struct Own {
    pub name: &'static str,
    /// The Prometheus name (the usual translation: dots to underscores, `_total` on counters).
    pub prometheus: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    pub kind: Kind,
    /// Each point: its attribute (`error.type`, if any) and its value.
    pub points: Vec<(Option<&'static str>, u64)>,
}

/// Telemark's own metrics now (without the export duration histogram: [`export_durations`]).
pub(crate) fn own(s: &Stats) -> Vec<Own> {
    let exported = |ok: u64, d: &DropReasons| {
        let mut points = vec![(None, ok)];
        let by = [d.buffer_full, d.queue_full, d.retries_exhausted, d.rejected, d.too_large, d.shutdown];
        points.extend(REASONS.iter().map(|r| (Some(r.name()), by[*r as usize])));
        points
    };
    let f = &s.export_failures_by;
    let gauge = |c: &AtomicU64| vec![(None, c.load(Relaxed))];
    vec![
        Own {
            name: "otel.sdk.exporter.span.exported",
            prometheus: "otel_sdk_exporter_span_exported_total",
            description: "Spans whose export finished: delivered (no error.type) or dropped (error.type: why).",
            unit: "{span}",
            kind: Kind::Counter,
            points: exported(s.spans_exported, &s.spans_dropped_by),
        },
        Own {
            name: "otel.sdk.exporter.log.exported",
            prometheus: "otel_sdk_exporter_log_exported_total",
            description: "Log records whose export finished: delivered (no error.type) or dropped (error.type: why).",
            unit: "{log_record}",
            kind: Kind::Counter,
            points: exported(s.logs_exported, &s.logs_dropped_by),
        },
        Own {
            name: "telemark.exporter.failures",
            prometheus: "telemark_exporter_failures_total",
            description: "Failed export attempts (each retry counted), by cause.",
            unit: "{attempt}",
            kind: Kind::Counter,
            points: vec![
                (Some(Cause::Timeout.name()), f.timeout),
                (Some(Cause::Connection.name()), f.connection),
                (Some(Cause::Tls.name()), f.tls),
                (Some(Cause::Status.name()), f.status),
            ],
        },
        Own {
            name: "telemark.exporter.metric_pushes",
            prometheus: "telemark_exporter_metric_pushes_total",
            description: "OTLP metric pushes: delivered (no error.type) or not (error.type: not_delivered; not kept, the next push carries the counts).",
            unit: "{push}",
            kind: Kind::Counter,
            points: vec![(None, s.metric_pushes_exported), (Some("not_delivered"), s.metric_pushes_dropped)],
        },
        Own {
            name: "otel.sdk.processor.span.queue.size",
            prometheus: "otel_sdk_processor_span_queue_size",
            description: "Spans queued for export or being sent.",
            unit: "{span}",
            kind: Kind::Gauge,
            points: gauge(&STATS.queue_items_by[Item::Span as usize]),
        },
        Own {
            name: "otel.sdk.processor.log.queue.size",
            prometheus: "otel_sdk_processor_log_queue_size",
            description: "Log records queued for export or being sent.",
            unit: "{log_record}",
            kind: Kind::Gauge,
            points: gauge(&STATS.queue_items_by[Item::Log as usize]),
        },
        Own {
            name: "otel.sdk.processor.span.queue.capacity",
            prometheus: "otel_sdk_processor_span_queue_capacity",
            description: "Spans and log records the export queue holds at most (export.max_queue).",
            unit: "{span}",
            kind: Kind::Gauge,
            points: gauge(&STATS.queue_capacity_items),
        },
        Own {
            name: "telemark.exporter.queue.bytes",
            prometheus: "telemark_exporter_queue_bytes",
            description: "Bytes of encoded spans and log records queued for export or being sent.",
            unit: "By",
            kind: Kind::Gauge,
            points: vec![(None, s.queue_bytes)],
        },
        Own {
            name: "telemark.exporter.queue.capacity_bytes",
            prometheus: "telemark_exporter_queue_capacity_bytes",
            description: "Bytes the export queue holds at most (export.max_queue_bytes).",
            unit: "By",
            kind: Kind::Gauge,
            points: gauge(&STATS.queue_capacity_bytes),
        },
    ]
}

/// The export duration histogram's name (`otel.sdk.exporter.operation.duration`, seconds; one
/// observation per request attempt, whatever its outcome) and its Prometheus name.
pub(crate) const EXPORT_DURATION: (&str, &str) =
    ("otel.sdk.exporter.operation.duration", "otel_sdk_exporter_operation_duration_seconds");
