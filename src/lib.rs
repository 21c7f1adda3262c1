#![doc = include_str!("../README.md")]

/// ```
/// #[telemark::traced(kind = "server", skip(token))]
/// fn handle(order: u64, token: &str) -> Result<u64, String> {
///     if order == 0 { Err("no order".into()) } else { Ok(order) }   // an `Err` fails the span
/// }
/// # fn main() { let _ = handle(1, "t"); }
/// ```
///
/// The README's tour has every option with its default.
pub use telemark_macros::traced;

/// ```
/// #[telemark::traced]
/// #[telemark::capture_exceptions(ignore = ["cache miss"], level = "warn")]
/// fn load(id: u64) -> Result<String, std::io::Error> {
///     Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("user {id}")))
/// }
/// # fn main() { let _ = load(7); }
/// ```
pub use telemark_macros::capture_exceptions;
pub use telemark_runtime::{
    baggage, config, current_span, exceptions, export, flush, in_span, metrics, propagation, span, spawn,
    spawn_blocking, stats, testing, tracing_layer, with_current_context, with_trace_ids, ConfigError,
    ConsoleFormat, ContextScope, CurrentSpan, DropReasons, Error, Event, FailureCauses, FutureExt, Guard,
    IntoParent, Level, Protocol, SpanContext, SpanGuard, SpanId, SpanKind, Stats, Status, TelemarkLayer,
    TraceId, Value, WithContext, WithTraceIds, QUERY_WAIT,
};
/// The `tracing` crate, whose macros (`info!`, `warn!`, `info_span!`, …) are telemark's logging API:
/// events inside a span carry its trace and span ids. Re-exported so that depending on telemark
/// is enough; a `tracing` dependency of your own (0.1) works the same.
pub use tracing;

#[cfg(feature = "alerts")]
#[doc(inline)]
pub use telemark_alerts as alerts;
/// ```
/// #[telemark::traced]
/// #[telemark::alert_on(p99_latency > 200ms, window = "10m", severity = "critical")]
/// #[telemark::alert_on(error_rate > 5%, min_calls = 20, notify = ["oncall"])]
/// fn checkout(cart: u32) -> Result<u32, String> { Ok(cart) }
/// # fn main() {
/// assert!(telemark::alerts::rules().iter().any(|r| r.name == "checkout_p99_latency"));
/// # }
/// ```
#[cfg(feature = "alerts")]
pub use telemark_macros::alert_on;
#[cfg(any(feature = "tower", feature = "reqwest", feature = "tonic"))]
#[doc(inline)]
pub use telemark_web as web;

/// The whole configuration: the runtime's sections and, with the `alerts` feature, `alerts:`.
#[cfg(feature = "alerts")]
pub type Config = telemark_runtime::Config<telemark_alerts::Alerts>;
/// The whole configuration (built without the `alerts` feature: an `alerts:` section is an error).
#[cfg(not(feature = "alerts"))]
pub type Config = telemark_runtime::Config;

/// Starts telemark: the runtime (telemark's thread, the exporters, the `tracing` bridge and the
/// panic hook), then the alerts service when the configuration has rules to evaluate.
///
/// Call it once, early in `main`, and keep the guard until the end. Calling it again replaces the
/// running pipeline. With `disabled: true` (or `OTEL_SDK_DISABLED=true`) it returns a guard that
/// does nothing, and instrumented code costs one branch.
pub fn init(config: Config) -> Result<Guard, Error> {
    telemark_runtime::init(config)
}

/// What generated code calls — its only door into telemark. Not a stable API: it changes with the
/// macros, which is why the facade pins its macro and runtime crates to its own exact version.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "alerts")]
    pub use inventory;
    #[cfg(feature = "alerts")]
    pub use telemark_alerts::{Metric, Op, Quantile, Severity, StaticRule};
    pub use telemark_runtime::exceptions::{CaptureScope, CaptureSite};
    pub use telemark_runtime::spec;
    pub use telemark_runtime::{
        call_once, parent, Callsite, Level, Outcome, Parent, Pending, Recorder, SiteMeta, SpanGuard,
        SpanKind, Traced,
    };
}
