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
use crate::caller::sampling;
use crate::caller::thread;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
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

/// A propagation format (`OTEL_PROPAGATORS`, the `propagators:` config key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagator {
    /// W3C Trace Context: `traceparent`, `tracestate`.
    TraceContext,
    /// W3C Baggage: `baggage`.
    Baggage,
    /// Zipkin B3, single header: `b3: {trace}-{span}-{sampled}`.
    B3,
    /// Zipkin B3, multiple headers: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`, `X-B3-Flags`.
    B3Multi,
}

/// The names `OTEL_PROPAGATORS` takes.
pub const PROPAGATOR_NAMES: &[&str] = &["tracecontext", "baggage", "b3", "b3multi", "none"];

impl Propagator {
    /// The name in `OTEL_PROPAGATORS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::Baggage => "baggage",
            Propagator::B3 => "b3",
            Propagator::B3Multi => "b3multi",
        }
    }

    /// Parses a comma-separated list (`tracecontext,baggage`); `none` alone is the empty list.
    /// Duplicates are dropped.
    pub fn parse_list(text: &str) -> Result<Vec<Propagator>, String> {
        let mut out = Vec::new();
        let mut none = false;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Propagator::parse_one(name)? {
                Some(p) if !out.contains(&p) => out.push(p),
                Some(_) => {}
                None => none = true,
            }
        }
        if none && !out.is_empty() {
            return Err("`none` cannot be combined with other propagators".to_string());
        }
        Ok(out)
    }

    fn code(self) -> u32 {
        self as u32 + 1
    }

    fn from_code(code: u32) -> Option<Propagator> {
        [Propagator::TraceContext, Propagator::Baggage, Propagator::B3, Propagator::B3Multi]
            .get((code as usize).checked_sub(1)?)
            .copied()
    }
}

impl Propagator {
    /// One name: `Some` propagator, or `None` for `none`.
    pub fn parse_one(s: &str) -> Result<Option<Propagator>, String> {
        Ok(Some(match s.trim() {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "b3" => Propagator::B3,
            "b3multi" => Propagator::B3Multi,
            "none" => return Ok(None),
            other => {
                let names = PROPAGATOR_NAMES.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                return Err(format!("unknown propagator `{other}`, expected one of {names}"));
            }
        }))
    }
}

/// The propagators in use, in order, 3 bits each (0 ends the list): `tracecontext,baggage` until
/// `init` installs the configured ones.
static ACTIVE: AtomicU32 = AtomicU32::new(1 | (2 << 3));

/// Makes `list` the propagators [`inject`] and [`extract`] use (`init` calls it).
pub(crate) fn install(list: &[Propagator]) {
    let code = list.iter().take(8).enumerate().fold(0, |acc, (i, p)| acc | (p.code() << (3 * i)));
    ACTIVE.store(code, Relaxed);
}

/// The propagators in use, in order.
pub fn active() -> Vec<Propagator> {
    let code = ACTIVE.load(Relaxed);
    (0..8).map_while(|i| Propagator::from_code((code >> (3 * i)) & 7)).collect()
}

/// Writes the current span's context into `carrier` with the configured propagators; writes
/// nothing when no span (or baggage) is current.
pub fn inject<C: Injector + ?Sized>(carrier: &mut C) {
    if let Some(ctx) = thread::with(|l| l.current()).flatten() {
        inject_context(&ctx, carrier);
    }
}

/// Writes `ctx` into `carrier` with the configured propagators (by default `traceparent`, and
/// `tracestate` when there is one, and `baggage` when it has some).
pub fn inject_context<C: Injector + ?Sized>(ctx: &SpanContext, carrier: &mut C) {
    inject_context_with(&active(), ctx, carrier);
}

/// Writes `ctx` into `carrier` with `propagators`, whatever is configured.
pub fn inject_context_with<C: Injector + ?Sized>(
    propagators: &[Propagator],
    ctx: &SpanContext,
    carrier: &mut C,
) {
    for p in propagators {
        match p {
            Propagator::Baggage => {
                if let Some(b) = ctx.baggage.as_ref().filter(|b| !b.is_empty()) {
                    carrier.set("baggage", b.header());
                }
            }
            _ if !ctx.is_valid() => {}
            Propagator::TraceContext => {
                carrier.set("traceparent", traceparent(ctx));
                if let Some(ts) = ctx.trace_state.as_deref().filter(|t| !t.is_empty()) {
                    carrier.set("tracestate", ts.to_string());
                }
            }
            Propagator::B3 => {
                carrier.set("b3", format!("{}-{}-{}", ctx.trace_id, ctx.span_id, ctx.sampled as u8));
            }
            Propagator::B3Multi => {
                carrier.set("X-B3-TraceId", ctx.trace_id.to_string());
                carrier.set("X-B3-SpanId", ctx.span_id.to_string());
                carrier.set("X-B3-Sampled", (ctx.sampled as u8).to_string());
            }
        }
    }
}

/// The `traceparent` header value for `ctx`.
pub(crate) fn traceparent(ctx: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", ctx.trace_id, ctx.span_id, ctx.sampled as u8)
}

/// Reads a remote parent from `carrier` with the configured propagators, with its baggage.
///
/// The span context comes from the first trace propagator (in the configured order) that finds a
/// valid one; malformed headers are ignored. `None` when there is neither a span context nor
/// baggage. A carrier with only `baggage` gives a context without span ids (`is_valid()` is
/// false): as a `parent =`, or entered with [`ContextScope::enter`](crate::ContextScope::enter),
/// it starts a new trace that carries the baggage.
pub fn extract<C: Extractor + ?Sized>(carrier: &C) -> Option<SpanContext> {
    extract_with(&active(), carrier)
}

/// [`extract`] with `propagators`, whatever is configured.
pub fn extract_with<C: Extractor + ?Sized>(propagators: &[Propagator], carrier: &C) -> Option<SpanContext> {
    let mut span = None;
    let mut baggage = None;
    for p in propagators {
        match p {
            Propagator::Baggage => baggage = carrier.get("baggage").and_then(Baggage::parse),
            _ if span.is_some() => {}
            Propagator::TraceContext => span = extract_tracecontext(carrier),
            Propagator::B3 => span = carrier.get("b3").and_then(parse_b3),
            Propagator::B3Multi => span = extract_b3multi(carrier),
        }
    }
    let Some(mut ctx) = span else {
        return baggage.map(|b| SpanContext { baggage: Some(b), ..SpanContext::empty() });
    };
    ctx.baggage = baggage;
    Some(ctx)
}

fn extract_tracecontext<C: Extractor + ?Sized>(carrier: &C) -> Option<SpanContext> {
    let mut ctx = parse_traceparent(carrier.get("traceparent")?)?;
    ctx.trace_state = carrier
        .get("tracestate")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 512 && t.is_ascii())
        .map(Arc::from);
    Some(ctx)
}

/// A B3 trace id: 32 or 16 lowercase hex digits (16 are padded with zeros on the left), not zero.
fn b3_trace_id(s: &str) -> Option<TraceId> {
    let s = s.trim();
    if (s.len() != 32 && s.len() != 16) || !is_lower_hex(s) {
        return None;
    }
    u128::from_str_radix(s, 16).ok().filter(|t| *t != 0).map(TraceId)
}

fn b3_span_id(s: &str) -> Option<SpanId> {
    let s = s.trim();
    if s.len() != 16 || !is_lower_hex(s) {
        return None;
    }
    u64::from_str_radix(s, 16).ok().filter(|t| *t != 0).map(SpanId)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A B3 sampling state: `1`/`d` (debug) sampled, `0` not; absent, the decision is deferred to this
/// service's sampler.
fn b3_sampled(state: Option<&str>, trace_id: TraceId) -> Option<bool> {
    match state.map(str::trim) {
        None | Some("") => Some(sampling::sample_root(trace_id)),
        Some("1" | "d" | "true") => Some(true),
        Some("0" | "false") => Some(false),
        Some(_) => None,
    }
}

/// Parses a single `b3` header: `{trace}-{span}[-{sampled}[-{parent}]]` (a lone sampling state,
/// with no ids, gives no context).
fn parse_b3(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let trace_id = b3_trace_id(parts.next()?)?;
    let span_id = b3_span_id(parts.next()?)?;
    let sampled = b3_sampled(parts.next(), trace_id)?;
    if let Some(parent) = parts.next() {
        b3_span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(SpanContext::remote(trace_id, span_id, sampled))
}

fn extract_b3multi<C: Extractor + ?Sized>(carrier: &C) -> Option<SpanContext> {
    let trace_id = b3_trace_id(carrier.get("X-B3-TraceId")?)?;
    let span_id = b3_span_id(carrier.get("X-B3-SpanId")?)?;
    let sampled = if carrier.get("X-B3-Flags").map(str::trim) == Some("1") {
        true
    } else {
        b3_sampled(carrier.get("X-B3-Sampled"), trace_id)?
    };
    Some(SpanContext::remote(trace_id, span_id, sampled))
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
    fn b3_single_and_multi() {
        use Propagator::*;
        let ctx = SpanContext::remote(
            TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId(0xf067aa0ba902b7),
            true,
        );
        let mut h = http::HeaderMap::new();
        inject_context_with(&[B3], &ctx, &mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(
            h.get("b3").and_then(|v| v.to_str().ok()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1")
        );
        assert_eq!(extract_with(&[B3], &h), Some(ctx.clone()));
        assert_eq!(extract_with(&[TraceContext], &h), None);

        let mut m: HashMap<String, String> = HashMap::new();
        inject_context_with(&[B3Multi], &ctx, &mut m);
        assert_eq!(m.get("X-B3-TraceId").map(String::as_str), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(m.get("X-B3-SpanId").map(String::as_str), Some("00f067aa0ba902b7"));
        assert_eq!(m.get("X-B3-Sampled").map(String::as_str), Some("1"));
        let lower: BTreeMap<String, String> = m.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
        assert_eq!(extract_with(&[B3Multi], &lower), Some(ctx));

        // 64-bit trace ids are padded; the parent id and the debug flag are accepted.
        let short = parse_b3("a3ce929d0e0e4736-00f067aa0ba902b7-d-0000000000000001").unwrap();
        assert_eq!(short.trace_id, TraceId(0xa3ce_929d_0e0e_4736));
        assert!(short.sampled && short.remote);
        assert!(!parse_b3("a3ce929d0e0e4736-00f067aa0ba902b7-0").unwrap().sampled);
        let mut multi: HashMap<String, String> = HashMap::new();
        multi.insert("x-b3-traceid".into(), "a3ce929d0e0e4736".into());
        multi.insert("x-b3-spanid".into(), "00f067aa0ba902b7".into());
        multi.insert("x-b3-sampled".into(), "0".into());
        multi.insert("x-b3-flags".into(), "1".into());
        assert!(extract_with(&[B3Multi], &multi).unwrap().sampled, "debug wins");
        for bad in [
            "",
            "0",
            "d",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-1",
            "4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-1",
            "00000000000000000000000000000000-00f067aa0ba902b7-1",
            "4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-1",
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-2",
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-xyz",
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-0000000000000001-x",
        ] {
            assert!(parse_b3(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn extract_tries_the_propagators_in_order() {
        use Propagator::*;
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        h.insert("b3", http::HeaderValue::from_static("00000000000000000000000000000001-0000000000000002-1"));
        h.insert("baggage", http::HeaderValue::from_static("k=v"));
        assert_eq!(extract_with(&[TraceContext, B3], &h).unwrap().span_id, SpanId(0x00f0_67aa_0ba9_02b7));
        assert_eq!(extract_with(&[B3, TraceContext], &h).unwrap().span_id, SpanId(2));
        // A malformed first one falls through to the next.
        h.insert("b3", http::HeaderValue::from_static("garbage"));
        assert_eq!(extract_with(&[B3, TraceContext], &h).unwrap().span_id, SpanId(0x00f0_67aa_0ba9_02b7));
        assert!(extract_with(&[B3, TraceContext], &h).unwrap().baggage.is_none(), "baggage not configured");
        assert!(extract_with(&[Baggage, TraceContext], &h).unwrap().baggage.is_some());
        assert_eq!(extract_with(&[], &h), None);
        let mut out = http::HeaderMap::new();
        inject_context_with(&[], &extract_with(&[TraceContext, Baggage], &h).unwrap(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn propagator_lists() {
        use Propagator::*;
        assert_eq!(Propagator::parse_list("tracecontext, baggage ,b3"), Ok(vec![TraceContext, Baggage, B3]));
        assert_eq!(Propagator::parse_list("none"), Ok(vec![]));
        assert!(Propagator::parse_list("none,b3").is_err());
        assert!(Propagator::parse_list("jaeger").unwrap_err().contains("unknown propagator `jaeger`"));
        assert_eq!(active(), vec![TraceContext, Baggage], "the default until init installs others");
        for list in [vec![B3Multi, Baggage, B3, TraceContext], vec![]] {
            let code = list.iter().enumerate().fold(0, |acc, (i, p)| acc | (p.code() << (3 * i)));
            let back: Vec<_> = (0..8).map_while(|i| Propagator::from_code((code >> (3 * i)) & 7)).collect();
            assert_eq!(back, list);
        }
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
