//! W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage (`baggage`) across process
//! boundaries.
//!
//! ```
//! use std::collections::HashMap;
//! let mut headers: HashMap<String, String> = HashMap::new();
//! headers.insert("traceparent".into(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
//! let ctx = telemark_runtime::propagation::extract(&headers).unwrap();
//! assert!(ctx.sampled && ctx.remote);
//! ```

use crate::caller::baggage::Baggage;
use crate::caller::callsite::SpanContext;
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::thread;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Something headers can be written into.
pub trait Injector {
    /// Sets header `key` to `value`.
    fn set(&mut self, key: &str, value: String);
}

/// Something headers can be read from.
pub trait Extractor {
    /// The value of header `key` (case-insensitive for HTTP headers).
    fn get(&self, key: &str) -> Option<&str>;
}

impl Injector for http::HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.insert(k, v);
        }
    }
}

impl Extractor for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key).and_then(|v| v.to_str().ok())
    }
}

impl Injector for HashMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_string(), value);
    }
}

impl Extractor for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key)
            .or_else(|| self.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
            .map(String::as_str)
    }
}

impl Injector for BTreeMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_string(), value);
    }
}

impl Extractor for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key)
            .or_else(|| self.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
            .map(String::as_str)
    }
}

/// Writes the current span's context into `carrier`; writes nothing when no span is current.
pub fn inject<C: Injector + ?Sized>(carrier: &mut C) {
    if let Some(ctx) = thread::with(|l| l.current()).flatten() {
        inject_context(&ctx, carrier);
    }
}

/// Writes `ctx` into `carrier` as `traceparent` (and `tracestate` when there is one), and its
/// baggage as `baggage` when it has some.
pub fn inject_context<C: Injector + ?Sized>(ctx: &SpanContext, carrier: &mut C) {
    if ctx.is_valid() {
        carrier.set("traceparent", traceparent(ctx));
        if let Some(ts) = ctx.trace_state.as_deref().filter(|t| !t.is_empty()) {
            carrier.set("tracestate", ts.to_string());
        }
    }
    if let Some(b) = ctx.baggage.as_ref().filter(|b| !b.is_empty()) {
        carrier.set("baggage", b.header());
    }
}

/// The `traceparent` header value for `ctx`.
pub(crate) fn traceparent(ctx: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", ctx.trace_id, ctx.span_id, ctx.sampled as u8)
}

/// Reads a remote parent from `carrier`, with its baggage.
///
/// `None` when there is neither a valid `traceparent` nor a valid `baggage`. A carrier with only
/// `baggage` gives a context without span ids (`is_valid()` is false): as a `parent =`, or entered
/// with [`ContextScope::enter`](crate::ContextScope::enter), it starts a new trace that carries
/// the baggage.
pub fn extract<C: Extractor + ?Sized>(carrier: &C) -> Option<SpanContext> {
    let baggage = carrier.get("baggage").and_then(Baggage::parse);
    let Some(mut ctx) = carrier.get("traceparent").and_then(parse_traceparent) else {
        return baggage.map(|b| SpanContext { baggage: Some(b), ..SpanContext::empty() });
    };
    ctx.trace_state = carrier
        .get("tracestate")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 512 && t.is_ascii())
        .map(Arc::from);
    ctx.baggage = baggage;
    Some(ctx)
}

/// Parses a W3C `traceparent` value.
pub(crate) fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let v = value.trim();
    let mut parts = v.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2
        || !version.bytes().all(|b| b.is_ascii_hexdigit())
        || version.eq_ignore_ascii_case("ff")
    {
        return None;
    }
    // Version 00 has exactly four fields; later versions may append more.
    if version == "00" && (parts.next().is_some() || v.len() != 55) {
        return None;
    }
    let is_lower_hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_lower_hex(trace) || !is_lower_hex(span) || flags.len() != 2 {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).filter(|t| *t != TraceId::INVALID)?;
    let span_id = SpanId::from_hex(span).filter(|s| *s != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::remote(trace_id, span_id, flags & 1 == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(ok.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(ok.sampled && ok.remote);
        assert_eq!(traceparent(&ok), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        assert!(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what").is_some());
    }

    #[test]
    fn string_map_round_trip_is_case_insensitive_on_read() {
        let ctx = SpanContext::remote(TraceId(0xabc), SpanId(0xdef), false);
        let mut m: HashMap<String, String> = HashMap::new();
        inject_context(&ctx, &mut m);
        assert_eq!(
            m.get("traceparent").map(String::as_str),
            Some("00-00000000000000000000000000000abc-0000000000000def-00")
        );
        let upper: BTreeMap<String, String> = m.into_iter().map(|(k, v)| (k.to_uppercase(), v)).collect();
        assert_eq!(extract(&upper), Some(ctx));
    }

    #[test]
    fn baggage_round_trip_and_alone() {
        let ctx = SpanContext {
            baggage: Baggage::new().with("tenant", "acme corp"),
            ..SpanContext::remote(TraceId(7), SpanId(9), true)
        };
        let mut h = http::HeaderMap::new();
        inject_context(&ctx, &mut h);
        assert_eq!(h.get("baggage").and_then(|v| v.to_str().ok()), Some("tenant=acme%20corp"));
        let back = extract(&h).unwrap();
        assert_eq!(back, ctx);
        assert_eq!(back.baggage.unwrap().get("tenant"), Some("acme corp"));

        // Only baggage: a context without span ids, which still carries it.
        let mut only: HashMap<String, String> = HashMap::new();
        only.insert("Baggage".into(), "k=v".into());
        let ctx = extract(&only).unwrap();
        assert!(!ctx.is_valid());
        assert_eq!(ctx.baggage.as_ref().and_then(|b| b.get("k")), Some("v"));
        let mut out: HashMap<String, String> = HashMap::new();
        inject_context(&ctx, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out.get("baggage").map(String::as_str), Some("k=v"));

        // A malformed baggage header is ignored; the trace context still comes through.
        only.insert("traceparent".into(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        only.insert("Baggage".into(), "=,;".into());
        let ctx = extract(&only).unwrap();
        assert!(ctx.is_valid() && ctx.baggage.is_none());
        only.remove("traceparent");
        assert_eq!(extract(&only), None);
    }

    #[test]
    fn header_map_round_trip() {
        let ctx = SpanContext {
            trace_state: Some(Arc::from("vendor=1")),
            ..SpanContext::remote(TraceId(7), SpanId(9), true)
        };
        let mut h = http::HeaderMap::new();
        inject_context(&ctx, &mut h);
        assert_eq!(extract(&h), Some(ctx));
    }
}
