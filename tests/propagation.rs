//! Context across services: baggage set upstream travels in the headers with the trace context,
//! is current downstream (in a `#[traced]` function, an async one and a `telemark::spawn`ed task),
//! and the spans form one trace at the receiver; B3 headers with `OTEL_PROPAGATORS=b3multi`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use http::HeaderMap;
use std::sync::Mutex;
use support::{Receiver, Span};
use telemark::{baggage, propagation, traced, Config, FutureExt, Protocol};

/// telemark's pipeline is process-wide: these tests take turns, each with its own pipeline.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// A pipeline to `rx`, with `OTEL_PROPAGATORS` (read through a closure, not the process
/// environment) when given.
fn start(rx: &Receiver, propagators: Option<&str>) -> telemark::Guard {
    let mut cfg = Config::default().service_name("propagation").otlp(rx.grpc_endpoint(), Protocol::Grpc);
    cfg.export.shutdown_timeout = telemark::QUERY_WAIT;
    let value = propagators.map(str::to_string);
    cfg.apply_env(&|k| if k == "OTEL_PROPAGATORS" { value.clone() } else { None }).unwrap();
    telemark::init(cfg).unwrap()
}

/// Everything recorded so far, once the receiver has it.
fn delivered(rx: &Receiver) -> Vec<Span> {
    assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");
    rx.spans()
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!("no span `{name}`; got {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>())
    })
}

// ---- upstream ----

#[traced(kind = "client")]
fn call_downstream() -> HeaderMap {
    // Added to this span's context: the headers carry it, the caller's scope does not get it.
    assert!(baggage::set("user", "u-7"));
    let mut headers = HeaderMap::new();
    propagation::inject(&mut headers);
    headers
}

// ---- downstream ----

#[derive(Debug, Default, PartialEq)]
struct Seen {
    handler: Option<String>,
    sync_child: Option<String>,
    async_child: Option<String>,
    spawned: Option<String>,
    spawned_user: Option<String>,
    set_in_handler: Option<String>,
}

#[traced]
fn sync_child() -> Option<String> {
    baggage::get("tenant")
}

#[traced]
async fn async_child() -> Option<String> {
    tokio::task::yield_now().await;
    baggage::get("tenant")
}

#[traced]
async fn spawned_work() -> (Option<String>, Option<String>) {
    tokio::task::yield_now().await;
    (baggage::get("tenant"), baggage::get("user"))
}

#[traced(kind = "server", parent = propagation::extract(&headers))]
async fn handle(headers: HeaderMap) -> Seen {
    let mut seen = Seen { handler: baggage::get("tenant"), sync_child: sync_child(), ..Seen::default() };
    seen.async_child = async_child().await;
    assert!(baggage::set("step", "handled"));
    let (tenant, user) = telemark::spawn(spawned_work()).await.unwrap();
    seen.spawned = tenant;
    seen.spawned_user = user;
    seen.set_in_handler = telemark::spawn(async { baggage::get("step") }).await.unwrap();
    drop(headers);
    seen
}

#[test]
fn baggage_crosses_services_and_follows_the_trace() {
    let _turn = turn();
    let rx = Receiver::start();
    let guard = start(&rx, None);

    let headers = {
        let _scope = baggage::scope([("tenant", "acme corp")]);
        let headers = call_downstream();
        assert_eq!(baggage::get("user"), None, "set inside the span stays in its context");
        assert_eq!(baggage::get("tenant").as_deref(), Some("acme corp"));
        headers
    };
    assert_eq!(baggage::current(), None, "the scope ended");
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header("baggage").as_deref(), Some("tenant=acme%20corp,user=u-7"));
    assert!(header("traceparent").is_some_and(|t| t.starts_with("00-")), "{headers:?}");
    assert_eq!(header("x-b3-traceid"), None);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let seen = rt.block_on(handle(headers.clone()));
    let acme = Some("acme corp".to_string());
    assert_eq!(
        seen,
        Seen {
            handler: acme.clone(),
            sync_child: acme.clone(),
            async_child: acme.clone(),
            spawned: acme,
            spawned_user: Some("u-7".to_string()),
            set_in_handler: Some("handled".to_string()),
        }
    );

    // Entered with ContextScope, an extracted context makes its baggage current too.
    let ctx = propagation::extract(&headers).unwrap();
    {
        let _scope = telemark::ContextScope::enter(&ctx);
        assert_eq!(baggage::get("user").as_deref(), Some("u-7"));
        assert_eq!(baggage::all().len(), 2);
    }
    assert_eq!(baggage::get("user"), None);

    let spans = delivered(&rx);
    let up = named(&spans, "call_downstream");
    let down = named(&spans, "handle");
    assert!(up.is_root());
    assert_eq!(down.trace_id, up.trace_id);
    assert_eq!(down.parent_span_id, up.span_id);
    for child in ["sync_child", "async_child", "spawned_work"] {
        let s = named(&spans, child);
        assert_eq!(s.trace_id, up.trace_id, "{child}");
        assert_eq!(s.parent_span_id, down.span_id, "{child}");
    }
    // Baggage is not copied into span attributes (it may carry secrets), nor recorded with the
    // headers argument.
    assert!(down.attr_str("headers").is_some_and(|h| h.contains("traceparent")), "{:?}", down.attributes);
    for s in &spans {
        assert!(
            s.attributes.values().all(|v| v.as_str().is_none_or(|v| !v.contains("acme") && v != "u-7")),
            "{}: {:?}",
            s.name,
            s.attributes
        );
    }
    drop(rt);
    drop(guard);
}

#[traced(kind = "client")]
fn b3_call() -> HeaderMap {
    let mut headers = HeaderMap::new();
    propagation::inject(&mut headers);
    headers
}

#[traced(kind = "server", parent = propagation::extract(headers), skip(headers))]
fn b3_handle(headers: &HeaderMap) -> Option<String> {
    baggage::get("tenant")
}

#[test]
fn b3multi_headers_are_written_and_read() {
    let _turn = turn();
    let rx = Receiver::start();
    let guard = start(&rx, Some("b3multi"));

    let headers = {
        let _scope = baggage::scope([("tenant", "acme")]);
        b3_call()
    };
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert!(header("x-b3-traceid").is_some_and(|t| t.len() == 32), "{headers:?}");
    assert!(header("x-b3-spanid").is_some_and(|t| t.len() == 16), "{headers:?}");
    assert_eq!(header("x-b3-sampled").as_deref(), Some("1"));
    assert_eq!(header("traceparent"), None, "tracecontext is not configured");
    assert_eq!(header("baggage"), None, "baggage is not configured");
    assert_eq!(b3_handle(&headers), None);

    // A 64-bit trace id from a B3 peer is padded; a traceparent alone is not read.
    let mut foreign = HeaderMap::new();
    foreign.insert("X-B3-TraceId", "a3ce929d0e0e4736".parse().unwrap());
    foreign.insert("X-B3-SpanId", "00f067aa0ba902b7".parse().unwrap());
    foreign.insert("X-B3-Sampled", "1".parse().unwrap());
    b3_handle(&foreign);
    let mut w3c = HeaderMap::new();
    w3c.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    b3_handle(&w3c);

    let spans = delivered(&rx);
    let up = named(&spans, "b3_call");
    let handled: Vec<&Span> = spans.iter().filter(|s| s.name == "b3_handle").collect();
    assert_eq!(handled.len(), 3, "{spans:?}");
    assert_eq!(header("x-b3-traceid").as_deref(), Some(up.trace_id.as_str()));
    assert_eq!(header("x-b3-spanid").as_deref(), Some(up.span_id.as_str()));
    assert!(handled.iter().any(|s| s.trace_id == up.trace_id && s.parent_span_id == up.span_id));
    assert!(handled
        .iter()
        .any(|s| s.trace_id == "0000000000000000a3ce929d0e0e4736" && s.parent_span_id == "00f067aa0ba902b7"));
    assert!(handled.iter().any(|s| s.is_root() && s.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"));
    drop(guard);
}

#[test]
fn async_baggage_scope_follows_the_future() {
    let _turn = turn();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let got = rt.block_on(
        async {
            tokio::task::yield_now().await;
            assert!(baggage::set("zone", "b"));
            tokio::task::yield_now().await; // set lasts across polls
            let spawned = telemark::spawn(async { baggage::get("region") }).await.unwrap();
            (baggage::get("region"), spawned, baggage::get("zone"))
        }
        .with_baggage([("region", "eu")]),
    );
    assert_eq!(got, (Some("eu".to_string()), Some("eu".to_string()), Some("b".to_string())));
    assert_eq!(baggage::get("region"), None);
}
