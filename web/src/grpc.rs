//! tonic interceptors: the caller's span context and baggage in gRPC metadata, both directions.
//!
//! - Client: [`InjectContext`] writes the current span's context into each request's metadata
//!   (`traceparent`, `tracestate`, `baggage`, or B3 — whatever `OTEL_PROPAGATORS` or
//!   `propagators:` configure), for `ServiceClient::with_interceptor(channel, InjectContext)`.
//!   Call the client from inside a span (a `#[traced]` function): the interceptor runs when the
//!   call's future is polled, where that span is current.
//! - Server: [`ExtractContext`] reads the caller's context from the metadata and keeps it in the
//!   request's extensions, for `ServiceServer::with_interceptor(service, ExtractContext)`. The
//!   handler makes it the parent of its span with [`parent`]:
//!   `#[telemark::traced(kind = "server", parent = telemark::web::grpc::parent(&request))]` on
//!   `async fn say_hello(&self, request: Request<HelloRequest>)` — its span is then a child of the
//!   remote caller's, and the caller's baggage is current inside it
//!   (`telemark::baggage::get`). Without a context in the metadata, the span starts a new trace.
//!
//! The interceptor is the light server option: no span of its own, the handler's `#[traced]`
//! makes it. The tower `ServerLayer` (`telemark::web::server`, feature `tower`) is the fuller one: it
//! opens a SERVER span for every request with its attributes (method, status) and makes the
//! caller's context current for the handler by itself.
//!
//! [`inject`] and [`extract`] do the same on a `MetadataMap` directly (streaming calls, or a
//! service built without the interceptors). Keys and values that cannot be gRPC ASCII metadata
//! are skipped, never a panic or an error; binary (`-bin`) entries are neither written nor read.
//!
//! ```
//! use telemark_web::grpc::{parent, ExtractContext, InjectContext};
//! use tonic::service::Interceptor;
//!
//! // Client side: inside a span (here only baggage, which travels too).
//! let _scope = telemark_runtime::baggage::scope([("tenant", "acme corp")]);
//! let outgoing = InjectContext.call(tonic::Request::new(())).unwrap();
//! assert_eq!(outgoing.metadata().get("baggage").unwrap(), "tenant=acme%20corp");
//!
//! // Server side: what the handler's `parent = parent(&request)` gets.
//! let incoming = ExtractContext.call(tonic::Request::from_parts(
//!     outgoing.metadata().clone(),
//!     Default::default(),
//!     (),
//! )).unwrap();
//! let ctx = parent(&incoming).unwrap();
//! assert_eq!(ctx.baggage.as_ref().and_then(|b| b.get("tenant")), Some("acme corp"));
//! ```

use telemark_runtime::propagation::{self, Extractor, Injector};
use telemark_runtime::SpanContext;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

/// Writes the current span context and baggage into a `MetadataMap`.
struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An ASCII key (not `-bin`) and a value of printable ASCII (gRPC's ASCII-Value; tonic
        // itself would also take octets above 127), or nothing.
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return;
        }
        if let (Ok(k), Ok(v)) =
            (AsciiMetadataKey::from_bytes(key.as_bytes()), AsciiMetadataValue::try_from(value))
        {
            self.0.insert(k, v);
        }
    }
}

/// Reads a span context and baggage from a `MetadataMap`.
struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // Case-insensitive (keys are stored lowercase); a `-bin` key reads nothing.
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
}

/// Writes the current span's context (and baggage) into `metadata` with the configured
/// propagators; writes nothing when no span or baggage is current.
///
/// ```
/// let mut metadata = tonic::metadata::MetadataMap::new();
/// let _scope = telemark_runtime::baggage::scope([("user", "u-7")]);
/// telemark_web::grpc::inject(&mut metadata);
/// assert_eq!(metadata.get("baggage").unwrap(), "user=u-7");
/// ```
pub fn inject(metadata: &mut MetadataMap) {
    propagation::inject(&mut MetadataInjector(metadata));
}

/// The caller's span context (with its baggage) from `metadata`, read with the configured
/// propagators; `None` when it carries neither.
///
/// ```
/// let mut metadata = tonic::metadata::MetadataMap::new();
/// metadata.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let ctx = telemark_web::grpc::extract(&metadata).unwrap();
/// assert!(ctx.remote && ctx.sampled);
/// ```
pub fn extract(metadata: &MetadataMap) -> Option<SpanContext> {
    propagation::extract(&MetadataExtractor(metadata))
}

/// A client interceptor that injects the current span's context and baggage into every request's
/// metadata: `ServiceClient::with_interceptor(channel, InjectContext)`.
///
/// Inside an interceptor of your own, call it first: `InjectContext.call(request)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct InjectContext;

impl tonic::service::Interceptor for InjectContext {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        inject(request.metadata_mut());
        Ok(request)
    }
}

/// A server interceptor that extracts the caller's span context and baggage from every
/// request's metadata into its extensions, where [`parent`] finds it:
/// `ServiceServer::with_interceptor(service, ExtractContext)`.
///
/// It never rejects a request: without a context (or with a malformed one) nothing is stored.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExtractContext;

impl tonic::service::Interceptor for ExtractContext {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(ctx) = extract(request.metadata()) {
            request.extensions_mut().insert(ctx);
        }
        Ok(request)
    }
}

/// The caller's context that [`ExtractContext`] stored in `request`, as `#[traced(parent = …)]`
/// takes it: `#[telemark::traced(kind = "server", parent = telemark::web::grpc::parent(&request))]`.
///
/// `None` — a new trace — when the caller sent no context or the service was built without
/// `ExtractContext`.
pub fn parent<T>(request: &tonic::Request<T>) -> Option<&SpanContext> {
    request.extensions().get::<SpanContext>()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use telemark_runtime::propagation::{extract_with, inject_context_with, Propagator};
    use telemark_runtime::{SpanId, TraceId};

    fn text<'a>(m: &'a MetadataMap, key: &str) -> Option<&'a str> {
        m.get(key).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn injector_skips_what_metadata_cannot_carry() {
        let mut m = MetadataMap::new();
        let mut inj = MetadataInjector(&mut m);
        inj.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        inj.set("X-B3-TraceId", "abc".into()); // stored lowercase
        inj.set("trace-bin", "AAAA".into()); // binary key: not written
        inj.set("bad key", "v".into()); // not a header name
        inj.set("tracestate", "line\nbreak".into()); // not visible ASCII
        inj.set("baggage", "k=caf\u{e9}".into()); // not ASCII
        assert_eq!(text(&m, "traceparent"), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert_eq!(text(&m, "x-b3-traceid"), Some("abc"));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m.get_bin("trace-bin").is_none());
    }

    #[test]
    fn extractor_is_case_insensitive_and_ignores_binary_and_invalid_values() {
        // A value with opaque octets, as a peer may send it (it cannot be read as text).
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", http::HeaderValue::from_bytes(b"00-\xff").unwrap());
        let mut m = MetadataMap::from_headers(headers);
        m.insert("x-b3-spanid", AsciiMetadataValue::from_static("00f067aa0ba902b7"));
        m.insert_bin("baggage-bin", tonic::metadata::BinaryMetadataValue::from_bytes(b"k=v"));
        let ex = MetadataExtractor(&m);
        assert_eq!(ex.get("X-B3-SpanId"), Some("00f067aa0ba902b7"));
        assert_eq!(ex.get("baggage-bin"), None, "binary entries are not read");
        assert_eq!(ex.get("baggage"), None);
        assert_eq!(ex.get("traceparent"), None, "not visible ASCII");
        assert_eq!(ex.get("missing"), None);
        assert_eq!(extract(&m), None);
    }

    #[test]
    fn round_trip_with_every_propagator() {
        let ctx = SpanContext {
            trace_state: Some("vendor=1".into()),
            baggage: telemark_runtime::baggage::Baggage::new().with("tenant", "acme corp"),
            ..SpanContext::remote(TraceId(0x4bf9_2f35), SpanId(0xf067), true)
        };
        use Propagator::*;
        for list in [vec![TraceContext, Baggage], vec![B3, Baggage], vec![B3Multi, Baggage]] {
            let mut m = MetadataMap::new();
            inject_context_with(&list, &ctx, &mut MetadataInjector(&mut m));
            assert_eq!(text(&m, "baggage"), Some("tenant=acme%20corp"), "{list:?}");
            let back = extract_with(&list, &MetadataExtractor(&m)).unwrap();
            assert_eq!(
                (back.trace_id, back.span_id, back.sampled),
                (ctx.trace_id, ctx.span_id, true),
                "{list:?}"
            );
            assert_eq!(back.baggage, ctx.baggage, "{list:?}");
        }
    }

    #[test]
    fn interceptors_without_context() {
        use tonic::service::Interceptor;
        let out = InjectContext.call(tonic::Request::new(())).unwrap();
        assert!(out.metadata().is_empty(), "nothing current, nothing injected");
        let mut req = tonic::Request::new(());
        req.metadata_mut().insert("traceparent", AsciiMetadataValue::from_static("garbage"));
        let req = ExtractContext.call(req).unwrap();
        assert!(parent(&req).is_none());
    }
}
