//! What leaves the process: finished spans and log records as exporters see them, the
//! [`Exporter`] trait, and the built-in exporters (console, OTLP, in-memory).

pub(crate) mod console;
pub(crate) mod memory;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod view;

use crate::caller::callsite::{SpanKind, Status};
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::level::Level;
use crate::caller::value::{Event, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// How long past a shutdown's deadline its caller waits for the answer of a thread that gave up
/// at the deadline: a bound reached only when that thread is stuck, so that what shutdown counts
/// as lost is counted before it returns.
pub(crate) const ANSWER_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

/// A span that has ended, as exporters receive it.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedSpan {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its id.
    pub span_id: SpanId,
    /// Its parent, if any.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent is in another process.
    pub parent_is_remote: bool,
    /// Its name.
    pub name: Cow<'static, str>,
    /// Its kind.
    pub kind: SpanKind,
    /// Start, nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Where it was declared; exporters send it as `code.function.name`, `code.file.path` and
    /// `code.line.number`.
    pub code: CodeLocation,
    /// Its attributes.
    pub attributes: Vec<(Cow<'static, str>, Value)>,
    /// Attributes left out (the span's size limit, `limits.span_attribute_count`, or a value
    /// whose formatting failed).
    pub dropped_attributes: u32,
    /// Events left out (the span's size limit, `limits.span_event_count`).
    pub dropped_events: u32,
    /// Its events (`exception` for errors and panics).
    pub events: Vec<Event>,
    /// Its status.
    pub status: Status,
    /// The W3C `tracestate`, if the trace carries one.
    pub trace_state: Option<Arc<str>>,
}

/// The source location of a span (the OpenTelemetry `code.*` attributes).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CodeLocation {
    /// `code.function.name`: `module::path::function`.
    pub function: Option<Cow<'static, str>>,
    /// `code.file.path`.
    pub file: Option<&'static str>,
    /// `code.line.number`.
    pub line: Option<u32>,
}

impl CodeLocation {
    /// The location as `code.*` attributes.
    pub fn attributes(&self) -> impl Iterator<Item = (&'static str, Value)> + '_ {
        let function = self.function.clone().map(|f| ("code.function.name", Value::Str(f)));
        let file = self.file.map(|f| ("code.file.path", Value::Str(Cow::Borrowed(f))));
        let line = self.line.map(|l| ("code.line.number", Value::I64(i64::from(l))));
        function.into_iter().chain(file).chain(line)
    }
}

impl FinishedSpan {
    /// The value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// Duration in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}

/// A log record (a `tracing` event), as exporters receive it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// When, nanoseconds since the Unix epoch.
    pub time_unix_nanos: u64,
    /// Its level.
    pub level: Level,
    /// The `tracing` target (usually the module path).
    pub target: &'static str,
    /// The message.
    pub message: String,
    /// The other fields.
    pub attributes: Vec<(Cow<'static, str>, Value)>,
    /// The trace that was current, if any.
    pub trace_id: Option<TraceId>,
    /// The span that was current, if any.
    pub span_id: Option<SpanId>,
    /// Source file.
    pub file: Option<&'static str>,
    /// Source line.
    pub line: Option<u32>,
    /// Attributes dropped (by the count limit, or a value whose formatting failed).
    pub dropped_attributes: u32,
}

/// Why an export failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError(pub String);

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExportError {}

/// A destination for finished spans and log records.
///
/// Exporters run on telemark's collector thread, never on the instrumented code's. An exporter that
/// talks to the network should hand work to its own thread (as the OTLP exporter does), so that a
/// slow backend delays nothing else.
pub trait Exporter: Send + 'static {
    /// Receives what finished since the last call (either slice may be empty).
    fn export(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> Result<(), ExportError>;
    /// Called when telemark's thread found nothing new for `export.drain_interval`: the moment
    /// for an exporter that batches to send a partial batch that has waited long enough. The
    /// default does nothing.
    fn idle(&mut self) {}
    /// Delivers anything buffered, waiting at most until `deadline`; true if everything was
    /// delivered (or dropped for good and counted) in time, false if the time ran out or the
    /// backend is failing and what is left is kept for later. The default does nothing and says
    /// true.
    fn flush(&mut self, _deadline: std::time::Instant) -> bool {
        true
    }
    /// Flushes and releases resources, waiting at most until `deadline`.
    fn shutdown(&mut self, deadline: std::time::Instant) {
        self.flush(deadline);
    }
}

/// An exporter that also takes borrowed views of spans and log records, so that telemark's thread
/// can hand it what a caller's thread recorded without decoding it into owned values first (the
/// OTLP exporter, which writes bytes). A pass of telemark's thread calls [`begin`], then [`span`]
/// and [`log`] for each record it could hand over so, and ends with [`Exporter::export`] of the
/// ones it had to decode (a span whose exception event was completed on telemark's thread, an
/// exception's log record), which may be none.
///
/// [`begin`]: RecordExporter::begin
/// [`span`]: RecordExporter::span
/// [`log`]: RecordExporter::log
pub(crate) trait RecordExporter: Exporter {
    /// A pass starts.
    fn begin(&mut self);
    /// Takes a span.
    fn span(&mut self, span: &view::SpanView<'_>);
    /// Takes a log record.
    fn log(&mut self, log: &view::LogView<'_>);
}

/// An exporter that discards everything (for benchmarks and for measuring the pipeline itself).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Exporter for Discard {
    fn export(&mut self, _: &[FinishedSpan], _: &[LogEntry]) -> Result<(), ExportError> {
        Ok(())
    }
}
