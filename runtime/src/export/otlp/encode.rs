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
use crate::caller::callsite::SpanKind;
use crate::caller::value::ValueRef;
use crate::export::view::{LogView, SpanView, StatusView};
use crate::export::CodeLocation;
use std::borrow::Cow;

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

/// The bytes [`request`] writes.
pub(crate) fn request_len(envelope: &Envelope, scopes: &[Scoped<'_>], grpc: bool) -> usize {
    let resource_len = envelope.resource_len(scopes.iter().map(|s| scope_len(s.scope.len(), s.items.len())));
    let grpc_frame = if grpc { 5 } else { 0 };
    grpc_frame + wire::message_head_len(resource_len) + resource_len
}

/// Writes a whole export request (any signal) into `out`: the resource, then each scope with
/// its items. With `grpc`, it is framed as a gRPC message (uncompressed, 4-byte length).
pub(crate) fn request(out: &mut Vec<u8>, envelope: &Envelope, scopes: &[Scoped<'_>], grpc: bool) {
    let resource_len = envelope.resource_len(scopes.iter().map(|s| scope_len(s.scope.len(), s.items.len())));
    envelope.start(out, resource_len, grpc);
    for s in scopes {
        scope_head(out, s.scope, s.items.len());
        out.extend_from_slice(s.items);
    }
}

/// Writes what goes before the items of a one-scope request whose `items_len` bytes of items
/// follow (so that a batch's buffer can become the request without being copied).
pub(crate) fn head(out: &mut Vec<u8>, envelope: &Envelope, scope: &[u8], items_len: usize, grpc: bool) {
    let resource_len = envelope.resource_len(std::iter::once(scope_len(scope.len(), items_len)));
    envelope.start(out, resource_len, grpc);
    scope_head(out, scope, items_len);
}

impl Envelope {
    /// The most bytes [`head`] can write for `scope`: keep this much room before the items.
    pub(crate) fn head_room(&self, scope: &[u8]) -> usize {
        // gRPC's frame; then three keys with lengths of at most 5 bytes each, and the bodies.
        5 + 3 * 6 + self.resource.len() + 6 + scope.len()
    }

    fn resource_len(&self, scope_lens: impl Iterator<Item = usize>) -> usize {
        wire::message_head_len(self.resource.len())
            + self.resource.len()
            + scope_lens.map(|l| wire::message_head_len(l) + l).sum::<usize>()
    }

    /// The gRPC frame (if `grpc`), the `Resource*` message's key and length, and the resource.
    fn start(&self, out: &mut Vec<u8>, resource_len: usize, grpc: bool) {
        if grpc {
            let total = wire::message_head_len(resource_len) + resource_len;
            out.push(0);
            out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
        }
        wire::message_head(out, 1, resource_len);
        wire::message_head(out, 1, self.resource.len());
        out.extend_from_slice(&self.resource);
    }
}

/// Bytes of a `Scope*` message with a scope of `scope` bytes and `items` bytes of items.
fn scope_len(scope: usize, items: usize) -> usize {
    wire::message_head_len(scope) + scope + items
}

/// A `Scope*` message's key and length, and its scope.
fn scope_head(out: &mut Vec<u8>, scope: &[u8], items_len: usize) {
    wire::message_head(out, 2, scope_len(scope.len(), items_len));
    wire::message_head(out, 1, scope.len());
    out.extend_from_slice(scope);
}

/// Appends `s` to a batch (a `Span`, field 2 of `ScopeSpans`).
pub(crate) fn span(buf: &mut Vec<u8>, s: &SpanView<'_>, code: &mut CodeCache) {
    // A span with telemark's `code.*` attributes takes over 127 bytes: two bytes of length.
    wire::message_with_room(buf, 2, 2, |b| {
        wire::bytes(b, 1, &s.trace_id.to_bytes());
        wire::bytes(b, 2, &s.span_id.to_bytes());
        if let Some(state) = s.trace_state {
            wire::string(b, 3, state);
        }
        if let Some(parent) = s.parent_span_id {
            wire::bytes(b, 4, &parent.to_bytes());
        }
        let remote = if s.parent_is_remote { IS_REMOTE } else { 0 };
        wire::fixed32(b, 16, SAMPLED | HAS_IS_REMOTE | remote);
        wire::string(b, 5, s.name);
        wire::uint(b, 6, kind(s.kind));
        wire::fixed64(b, 7, s.start_unix_nanos);
        wire::fixed64(b, 8, s.end_unix_nanos);
        code.span(b, &s.code);
        s.attributes.for_each(|k, v| key_value(b, 9, k, v));
        wire::uint(b, 10, u64::from(s.dropped_attributes));
        for e in s.events {
            wire::message(b, 11, |b| {
                wire::fixed64(b, 1, e.time_unix_nanos);
                wire::string(b, 2, &e.name);
                for (k, v) in &e.attributes {
                    key_value(b, 3, k, v.into());
                }
            });
        }
        wire::uint(b, 12, u64::from(s.dropped_events));
        // The status is always present (code 0 when unset), as the SDK sent it.
        wire::message(b, 15, |b| match s.status {
            StatusView::Unset => {}
            StatusView::Ok => wire::uint(b, 3, 1),
            StatusView::Error(message) => {
                wire::string(b, 2, message);
                wire::uint(b, 3, 2);
            }
        });
    });
}

/// The `code.*` attributes of recently seen callsites, encoded: a span of a `#[traced]` function
/// copies its attributes (two or three, `tracing.code_attributes`) as one block instead of writing
/// their strings and messages one by one (a log record, its two). Direct-mapped by the addresses of the callsite's `&'static` strings,
/// which are compared, never followed; a function name that is not static is written each time.
pub(crate) struct CodeCache {
    slots: Vec<Option<CodeSlot>>,
}

/// A callsite by the addresses of its strings, and its attributes.
struct CodeSlot {
    key: (usize, Option<usize>, Option<u32>),
    encoded: Vec<u8>,
}

const CODE_SLOTS: usize = 256;

impl Default for CodeCache {
    fn default() -> Self {
        CodeCache { slots: (0..CODE_SLOTS).map(|_| None).collect() }
    }
}

impl CodeCache {
    /// Writes a span's `code` as attributes (field 9 of `Span`).
    fn span(&mut self, b: &mut Vec<u8>, code: &CodeLocation) {
        // By the function's and the file's addresses; without a function (`short`, a span named
        // after it), 0 in its place, which no string has. A log record's key has no file.
        let key = match (&code.function, code.file) {
            (Some(Cow::Borrowed(function)), file) => {
                (function.as_ptr() as usize, file.map(|f| f.as_ptr() as usize), code.line)
            }
            (None, Some(file)) => (0, Some(file.as_ptr() as usize), code.line),
            _ => return span_code(b, code),
        };
        self.write(b, key, |b| span_code(b, code));
    }

    /// Writes a log record's source file and line as attributes (field 6 of `LogRecord`).
    fn log(&mut self, b: &mut Vec<u8>, file: Option<&'static str>, line: Option<u32>) {
        let Some(f) = file else {
            return log_code(b, file, line);
        };
        self.write(b, (f.as_ptr() as usize, None, line), |b| log_code(b, file, line));
    }

    fn write(
        &mut self,
        b: &mut Vec<u8>,
        key: (usize, Option<usize>, Option<u32>),
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        let hash = (key.0 >> 3) ^ (key.1.unwrap_or(0) >> 3) ^ key.2.map_or(0, |l| l as usize);
        let slot = &mut self.slots[hash % CODE_SLOTS];
        if slot.as_ref().is_none_or(|s| s.key != key) {
            let mut encoded = Vec::new();
            encode(&mut encoded);
            *slot = Some(CodeSlot { key, encoded });
        }
        if let Some(s) = slot {
            b.extend_from_slice(&s.encoded);
        }
    }
}

fn span_code(b: &mut Vec<u8>, code: &CodeLocation) {
    if let Some(function) = &code.function {
        key_value_str(b, 9, "code.function.name", function);
    }
    if let Some(file) = code.file {
        key_value_str(b, 9, "code.file.path", file);
    }
    if let Some(line) = code.line {
        key_value(b, 9, "code.line.number", ValueRef::I64(i64::from(line)));
    }
}

fn log_code(b: &mut Vec<u8>, file: Option<&str>, line: Option<u32>) {
    if let Some(file) = file {
        key_value_str(b, 6, "code.file.path", file);
    }
    if let Some(line) = line {
        key_value(b, 6, "code.line.number", ValueRef::I64(i64::from(line)));
    }
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
pub(crate) fn log(buf: &mut Vec<u8>, l: &LogView<'_>, observed: u64, code: &mut CodeCache) {
    wire::message_with_room(buf, 2, 2, |b| {
        wire::fixed64(b, 1, l.time_unix_nanos);
        wire::fixed64(b, 11, observed);
        wire::uint(b, 2, u64::from(l.level.severity_number().unsigned_abs()));
        wire::string(b, 3, l.level.severity_text());
        // The body (field 5, a string) where the message lies among the fields.
        l.fields(|key, v| match (key, v) {
            (Some(k), v) => key_value(b, 6, k, v),
            (None, ValueRef::Str(s)) => wire::message(b, 5, |b| always::string(b, 1, s)),
            (None, other) => wire::message(b, 5, |b| always::string(b, 1, &other.to_string())),
        });
        code.log(b, l.file, l.line);
        wire::uint(b, 7, u64::from(l.dropped_attributes));
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
pub(crate) fn key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: ValueRef<'_>) {
    wire::message(buf, field, |b| {
        wire::string(b, 1, key);
        wire::message(b, 2, |b| match value {
            ValueRef::Str(s) => always::string(b, 1, s),
            ValueRef::Bool(v) => always::varint_field(b, 2, u64::from(v)),
            ValueRef::I64(v) => always::varint_field(b, 3, v as u64),
            ValueRef::F64(v) => always::double(b, 4, v),
        });
    });
}
