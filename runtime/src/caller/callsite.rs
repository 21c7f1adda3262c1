//! Span contexts, span kinds, status, and the per-call-site static that generated code declares.

use crate::caller::baggage::Baggage;
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::level::Level;
use crate::caller::sampling::GENERATION;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

/// The identity of a span as it crosses API and process boundaries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The span itself.
    pub span_id: SpanId,
    /// Whether the trace is sampled (recorded and exported).
    pub sampled: bool,
    /// Whether the context came from another process (through propagation).
    pub remote: bool,
    /// The W3C `tracestate` header value, carried unchanged.
    pub trace_state: Option<Arc<str>>,
    /// The W3C baggage that travels with the context (`None`: none, the common case).
    pub baggage: Option<Baggage>,
}

impl SpanContext {
    /// A context for a span in another process, as extracted from a request.
    pub fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext { trace_id, span_id, sampled, remote: true, trace_state: None, baggage: None }
    }
    /// No span, no baggage: what a baggage-only context starts from.
    pub(crate) fn empty() -> SpanContext {
        SpanContext {
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            sampled: false,
            remote: false,
            trace_state: None,
            baggage: None,
        }
    }
    /// Whether both ids are valid (non-zero).
    pub fn is_valid(&self) -> bool {
        self.trace_id != TraceId::INVALID && self.span_id != SpanId::INVALID
    }
}

/// The role of a span, as OpenTelemetry defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SpanKind {
    /// Work inside the process (the default).
    #[default]
    Internal,
    /// Handling a request from a remote client.
    Server,
    /// A request to a remote server.
    Client,
    /// Sending a message to a broker.
    Producer,
    /// Handling a message from a broker.
    Consumer,
}

impl SpanKind {
    /// The lowercase name (`"server"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// A span's status.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// Nothing said (the default).
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed, with a description.
    Error(String),
}

pub(crate) const STATUS_UNSET: u8 = 0;
pub(crate) const STATUS_OK: u8 = 1;
pub(crate) const STATUS_ERROR: u8 = 2;
/// Error, with the exception already recorded by a capture (so `err` does not record it twice).
pub(crate) const STATUS_CAPTURED: u8 = 3;

/// Where a span comes from: everything about it known at compile time.
///
/// Generated code declares one `static` of this per `#[traced]` function.
#[derive(Debug)]
pub struct SiteMeta {
    /// The span name.
    pub name: &'static str,
    /// `module::path::function`, exported as `code.function.name`.
    pub function: &'static str,
    /// The module path, matched against level directives.
    pub target: &'static str,
    /// `code.file.path`. Empty for a call site that is not a function (one made at run time,
    /// like an HTTP route's): its spans then carry no `code.*` attributes at all.
    pub file: &'static str,
    /// `code.line.number`.
    pub line: u32,
    /// The span's level.
    pub level: Level,
    /// The span's kind.
    pub kind: SpanKind,
    /// This function's own sampling ratio (1.0 = no extra sampling).
    pub sample: f64,
    /// The attribute keys the call site records (arguments and fields), so that telemark's thread
    /// can refer to them instead of copying them.
    pub keys: &'static [&'static str],
    /// False for a function that only has metrics (`#[alert_on]` without `#[traced]`): no span.
    pub span: bool,
}

/// `module::path::name` → (`module::path`, `name`), at compile time.
const fn split_function(function: &'static str) -> (&'static str, &'static str) {
    let b = function.as_bytes();
    let mut i = b.len();
    while i >= 2 && !(b[i - 1] == b':' && b[i - 2] == b':') {
        i -= 1;
    }
    if i < 2 {
        return ("", function);
    }
    let (module, name) = b.split_at(i);
    let (module, _) = module.split_at(i - 2);
    match (std::str::from_utf8(module), std::str::from_utf8(name)) {
        (Ok(module), Ok(name)) => (module, name),
        _ => ("", function),
    }
}

/// A call site: its metadata and the cached answer of the level filter.
#[derive(Debug)]
pub struct Callsite {
    /// The metadata.
    pub meta: SiteMeta,
    // (filter generation << 2) | METRICS | SPAN: what a call does, cached per filter generation
    interest: AtomicU32,
    /// This call site's index in the metrics tables, plus one (0: not yet assigned).
    pub(crate) metrics_id: AtomicU32,
}

impl Callsite {
    /// Declares a call site (const, for a `static`).
    pub const fn new(meta: SiteMeta) -> Callsite {
        Callsite { meta, interest: AtomicU32::new(0), metrics_id: AtomicU32::new(0) }
    }

    #[doc(hidden)] // generated code
    /// A function's call site (const, for the `static` generated code declares): `function` is
    /// `module::path::name` (`concat!(module_path!(), "::", "name")`), from which the target and
    /// the span name come; the span is an `INFO`, `INTERNAL` span, unsampled by the function,
    /// recording `keys`. The builder methods below change what the function's options change.
    pub const fn function(
        function: &'static str,
        file: &'static str,
        line: u32,
        keys: &'static [&'static str],
    ) -> Callsite {
        let (target, name) = split_function(function);
        Callsite::new(SiteMeta {
            name,
            function,
            target,
            file,
            line,
            level: Level::Info,
            kind: SpanKind::Internal,
            sample: 1.0,
            keys,
            span: true,
        })
    }

    #[doc(hidden)] // generated code: `name = ..`
    /// The span's name.
    pub const fn named(mut self, name: &'static str) -> Callsite {
        self.meta.name = name;
        self
    }

    #[doc(hidden)] // generated code: `level = ..`
    /// The span's level.
    pub const fn level(mut self, level: Level) -> Callsite {
        self.meta.level = level;
        self
    }

    #[doc(hidden)] // generated code: `kind = ..`
    /// The span's kind.
    pub const fn kind(mut self, kind: SpanKind) -> Callsite {
        self.meta.kind = kind;
        self
    }

    #[doc(hidden)] // generated code: `sample = ..`
    /// The function's own sampling ratio.
    pub const fn sample(mut self, ratio: f64) -> Callsite {
        self.meta.sample = ratio;
        self
    }

    #[doc(hidden)] // generated code: the `#[traced]` that `#[alert_on]` adds
    /// Metrics only, no span.
    pub const fn metrics_only(mut self) -> Callsite {
        self.meta.span = false;
        self
    }

    /// Whether spans from here are wanted now: one cached atomic load in the common case.
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.interest() & Self::SPAN != 0
    }

    /// [`SPAN`](Self::SPAN): spans from here are wanted; [`METRICS`](Self::METRICS): calls are
    /// measured. One cached atomic load in the common case, so that a call that wants neither
    /// costs one load and one compare.
    #[inline(always)]
    pub(crate) fn interest(&self) -> u32 {
        let cached = self.interest.load(Relaxed);
        if cached >> 2 == GENERATION.load(Relaxed) {
            return cached & 3;
        }
        self.recompute()
    }

    pub(crate) const SPAN: u32 = 1;
    pub(crate) const METRICS: u32 = 2;

    #[cold]
    #[inline(never)]
    fn recompute(&self) -> u32 {
        let generation = GENERATION.load(Relaxed);
        let span = self.meta.span && crate::caller::sampling::span_enabled(self.meta.target, self.meta.level);
        let bits = (span as u32 * Self::SPAN) | (crate::metrics::on() as u32 * Self::METRICS);
        self.interest.store((generation << 2) | bits, Relaxed);
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_call_site_splits_its_path() {
        static CS: Callsite = Callsite::function("app::db::load", "src/db.rs", 7, &["id"]);
        assert_eq!((CS.meta.target, CS.meta.name, CS.meta.function), ("app::db", "load", "app::db::load"));
        static TOP: Callsite = Callsite::function("load", "", 1, &[]).named("other");
        assert_eq!((TOP.meta.target, TOP.meta.name), ("", "other"));
    }
}
