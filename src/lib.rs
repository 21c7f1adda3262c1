#![doc = include_str!("../README.md")]

pub use telemark_macros::{alert_on, capture_exceptions, traced};
pub use telemark_runtime::{
    alerts, config, current_span, exceptions, export, flush, in_span, init, metrics, propagation, span,
    spawn, spawn_blocking, stats, testing, tracing_layer, with_current_context, Config, ConfigError,
    ConsoleFormat, ContextScope, CurrentSpan, Error, Event, FutureExt, Guard, Level, Protocol, SpanContext,
    SpanGuard, SpanId, SpanKind, Stats, Status, TelemarkLayer, TraceId, Value, QUERY_WAIT,
};
/// The `tracing` crate, whose macros (`info!`, `warn!`, `info_span!`, …) are telemark's logging API:
/// events inside a span carry its trace and span ids. Re-exported so that depending on telemark
/// is enough; a `tracing` dependency of your own (0.1) works the same.
pub use tracing;

/// What generated code calls. Not a stable API: it changes with the macros.
#[doc(hidden)]
pub mod __private {
    pub use telemark_runtime::alerts::{inventory, Metric, Op, Quantile, Severity, StaticRule};
    pub use telemark_runtime::exceptions::{CaptureScope, CaptureSite};
    pub use telemark_runtime::spec;
    pub use telemark_runtime::{
        call_once, parent, Callsite, Level, Outcome, Parent, Pending, Recorder, SiteMeta, SpanGuard,
        SpanKind, Traced,
    };
}
