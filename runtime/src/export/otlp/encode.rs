//! OTLP requests written as protobuf bytes straight from telemark's records: no SDK types, no
//! generated structs, no allocation per span or log record.
//!
//! The three signals share one shape: `Export*ServiceRequest { resource_* = 1 }`,
//! `Resource* { resource = 1, scope_* = 2 }`, `Scope* { scope = 1, items = 2 }`. Items are
//! encoded one by one into a batch's buffer ([`span`], [`log`], `metrics`); [`request`] then
//! writes the envelope around them once per request, with the resource and scope encoded once
//! per pipeline ([`Envelope`]). The messages are the ones opentelemetry-otlp sent before
//! (field for field; `tests/otlp_encoding.rs` compares them through the official definitions).

use super::wire::{self, always};
use crate::caller::callsite::{SpanKind, Status};
use crate::caller::value::Value;
use crate::export::{FinishedSpan, LogEntry};

/// The instrumentation scope of spans and metrics; log records are scoped by their target.
pub(crate) const SCOPE: &str = "telemark";
/// The scope's version.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `SpanFlags`: the context says whether the parent is remote, and (the next bit) that it is.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;
/// W3C trace flags: sampled (telemark exports only sampled spans).
const SAMPLED: u32 = 0x01;

/// What every request of a pipeline starts with: its resource, and the `telemark` scope.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// The body of the `Resource` message.
    resource: Vec<u8>,
    /// The body of the `InstrumentationScope` message of spans and metrics.
    scope: Vec<u8>,
}

impl Envelope {
    /// The envelope for a resource with these attributes (strings, in order).
    pub(crate) fn new(resource: &[(String, String)]) -> Envelope {
        let mut r = Vec::new();
        for (k, v) in resource {
            key_value_str(&mut r, 1, k, v);
        }
        Envelope { resource: r, scope: scope(SCOPE) }
    }

    /// The body of the `telemark` scope.
    pub(crate) fn scope(&self) -> &[u8] {
        &self.scope
    }
}

/// The body of an `InstrumentationScope` named `name`, at telemark's version.
pub(crate) fn scope(name: &str) -> Vec<u8> {
    let mut s = Vec::with_capacity(name.len() + VERSION.len() + 4);
    wire::string(&mut s, 1, name);
    wire::string(&mut s, 2, VERSION);
    s
}

/// One scope's part of a request: the scope's body and its items, each already framed as field
/// 2 of the scope message (what [`span`], [`log`] and the metric encoder write).
pub(crate) struct Scoped<'a> {
    pub scope: &'a [u8],
    pub items: &'a [u8],
}

/// Writes a whole export request (any signal) into `out`: the resource, then each scope with
/// its items. With `grpc`, it is framed as a gRPC message (uncompressed, 4-byte length).
pub(crate) fn request(out: &mut Vec<u8>, envelope: &Envelope, scopes: &[Scoped<'_>], grpc: bool) {
    let scope_len = |s: &Scoped<'_>| wire::message_head_len(s.scope.len()) + s.scope.len() + s.items.len();
    let resource_len = wire::message_head_len(envelope.resource.len())
        + envelope.resource.len()
        + scopes.iter().map(|s| wire::message_head_len(scope_len(s)) + scope_len(s)).sum::<usize>();
    let total = wire::message_head_len(resource_len) + resource_len;
    out.reserve(total + 5);
    if grpc {
        out.push(0);
        out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    }
    wire::message_head(out, 1, resource_len);
    wire::message_head(out, 1, envelope.resource.len());
    out.extend_from_slice(&envelope.resource);
    for s in scopes {
        wire::message_head(out, 2, scope_len(s));
        wire::message_head(out, 1, s.scope.len());
        out.extend_from_slice(s.scope);
        out.extend_from_slice(s.items);
    }
}

/// Appends `span` to a batch (a `Span`, field 2 of `ScopeSpans`).
pub(crate) fn span(buf: &mut Vec<u8>, s: &FinishedSpan) {
    wire::message(buf, 2, |b| {
        wire::bytes(b, 1, &s.trace_id.to_bytes());
        wire::bytes(b, 2, &s.span_id.to_bytes());
        if let Some(state) = &s.trace_state {
            wire::string(b, 3, state);
        }
        if let Some(parent) = s.parent_span_id {
            wire::bytes(b, 4, &parent.to_bytes());
        }
        let remote = if s.parent_is_remote { IS_REMOTE } else { 0 };
        wire::fixed32(b, 16, SAMPLED | HAS_IS_REMOTE | remote);
        wire::string(b, 5, &s.name);
        wire::uint(b, 6, kind(s.kind));
        wire::fixed64(b, 7, s.start_unix_nanos);
        wire::fixed64(b, 8, s.end_unix_nanos);
        if let Some(function) = &s.code.function {
            key_value_str(b, 9, "code.function.name", function);
        }
        if let Some(file) = s.code.file {
            key_value_str(b, 9, "code.file.path", file);
        }
        if let Some(line) = s.code.line {
            key_value(b, 9, "code.line.number", &Value::I64(i64::from(line)));
        }
        for (k, v) in &s.attributes {
            key_value(b, 9, k, v);
        }
        wire::uint(b, 10, u64::from(s.dropped_attributes));
        for e in &s.events {
            wire::message(b, 11, |b| {
                wire::fixed64(b, 1, e.time_unix_nanos);
                wire::string(b, 2, &e.name);
                for (k, v) in &e.attributes {
                    key_value(b, 3, k, v);
                }
            });
        }
        // The status is always present (code 0 when unset), as the SDK sent it.
        wire::message(b, 15, |b| match &s.status {
            Status::Unset => {}
            Status::Ok => wire::uint(b, 3, 1),
            Status::Error(message) => {
                wire::string(b, 2, message);
                wire::uint(b, 3, 2);
            }
        });
    });
}

fn kind(k: SpanKind) -> u64 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Appends `l` to a batch (a `LogRecord`, field 2 of `ScopeLogs`); `observed`: when telemark
/// exported it, in nanoseconds since the Unix epoch.
pub(crate) fn log(buf: &mut Vec<u8>, l: &LogEntry, observed: u64) {
    wire::message(buf, 2, |b| {
        wire::fixed64(b, 1, l.time_unix_nanos);
        wire::fixed64(b, 11, observed);
        wire::uint(b, 2, u64::from(l.level.severity_number().unsigned_abs()));
        wire::string(b, 3, l.level.severity_text());
        wire::message(b, 5, |b| always::string(b, 1, &l.message));
        for (k, v) in &l.attributes {
            key_value(b, 6, k, v);
        }
        if let Some(file) = l.file {
            key_value_str(b, 6, "code.file.path", file);
        }
        if let Some(line) = l.line {
            key_value(b, 6, "code.line.number", &Value::I64(i64::from(line)));
        }
        if let (Some(trace), Some(span)) = (l.trace_id, l.span_id) {
            wire::fixed32(b, 8, SAMPLED);
            wire::bytes(b, 9, &trace.to_bytes());
            wire::bytes(b, 10, &span.to_bytes());
        }
    });
}

/// A `KeyValue` with a string value, as field `field`.
pub(crate) fn key_value_str(buf: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    wire::message(buf, field, |b| {
        wire::string(b, 1, key);
        wire::message(b, 2, |b| always::string(b, 1, value));
    });
}

/// A `KeyValue`, as field `field`.
pub(crate) fn key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    wire::message(buf, field, |b| {
        wire::string(b, 1, key);
        wire::message(b, 2, |b| match value {
            Value::Str(s) => always::string(b, 1, s),
            Value::Bool(v) => always::varint_field(b, 2, u64::from(*v)),
            Value::I64(v) => always::varint_field(b, 3, *v as u64),
            Value::F64(v) => always::double(b, 4, *v),
        });
    });
}
