//! The runtime of [telemark](https://docs.rs/telemark): everything that runs when instrumented
//! code runs. Users depend on the `telemark` crate, which re-exports what is public here.
//!
//! The modules in the order data flows through them:
//!
//! - `caller` — on the instrumented program's threads: call sites and the level filter and
//!   sampler (`callsite`, `sampling`), the span API (`span`), values recorded into a span's
//!   buffer (`value`, and `dispatch` for generated code), the per-thread span stack and the ring
//!   to telemark's thread (`thread`), the `tracing` bridge and W3C propagation. Nothing there
//!   locks (but once per thread), allocates per span, or does I/O.
//! - `collector` — telemark's thread: drains every ring, decodes records, hands them to the
//!   exception processor and the exporters; the barrier behind the query APIs.
//! - [`export`] — what leaves the process: the [`export::Exporter`] trait, console, in-memory and
//!   OTLP (spans, logs and metrics on one thread).
//! - [`metrics`] — per-function counts and latencies, written on the caller's thread, read by the
//!   exporters, the Prometheus endpoint and the alerts.
//! - [`exception`] — what an error is (`model`), capturing it (`capture`), backtraces,
//!   fingerprints and the groups (`tracker`).
//! - [`config`] — the configuration file and `OTEL_*` variables.
//! - `lifecycle` — [`init`] and the [`Guard`] that shuts it all down; [`stats`] — what telemark
//!   counted about itself.
//! - [`host`] (hidden) — what telemark-alerts uses of the runtime.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod caller;
mod collector;
pub mod config;
mod error;
pub mod exception;
pub mod export;
#[doc(hidden)]
pub mod host;
mod lifecycle;
pub mod metrics;
mod sanitize;
#[doc(hidden)] // for telemark's benches: the sanitizing stage alone
pub mod __bench {
    pub use crate::sanitize::bench::Sanitize;
}
mod stats;
pub mod testing;
mod tls;

pub use exception as exceptions;

pub use caller::baggage;
pub use caller::bridge::{tracing_layer, with_trace_ids, TelemarkLayer, WithTraceIds};
pub use caller::callsite::{Callsite, SiteMeta, SpanContext, SpanKind, Status};
#[doc(hidden)]
pub use caller::dispatch as spec;
#[doc(hidden)]
pub use caller::dispatch::{call_once, parent};
pub use caller::ids::{SpanId, TraceId};
pub use caller::level::{Directives, Level};
pub use caller::propagation;
pub use caller::sampling::{Sampler, SamplerConfig};
pub use caller::span::{
    current_span, in_span, span, spawn, spawn_blocking, with_current_context, ContextScope, CurrentSpan, End,
    Finish, FutureExt, InSpan, IntoParent, Outcome, Parent, Pending, SpanGuard, Traced, WithContext,
};
pub use caller::value::{Event, Recorder, Value};
pub use collector::QUERY_WAIT;
#[doc(hidden)] // for telemark-web: what it redacts before recording, the scrubber's own test and marker
pub use config::check::REDACTED;
pub use config::Protocol;
pub use config::{Config, ConfigError};
pub use error::Error;
pub use export::console::ConsoleFormat;
pub use lifecycle::{flush, init, Guard};
#[doc(hidden)]
pub use sanitize::is_secret_key;
pub use stats::{stats, DropReasons, FailureCauses, Stats};
