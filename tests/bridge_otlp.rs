//! The `tracing` bridge end to end, on what an OTLP/gRPC receiver got: library spans at the level
//! directives (no per-crate cut-off), telemark's own threads never instrumented, and the `otel.*`
//! fields of `tracing` spans.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::sync::OnceLock;
use support::{Receiver, Span, SpanKind, Status};
use telemark::{traced, Config, Protocol};

/// The directives: everything at `debug`, and the crates of telemark's own HTTP/gRPC stack at
/// `trace`, so that whatever the exporter's thread emits would pass the filter.
const LEVEL: &str = "debug,h2=trace,hyper=trace,hyper_util=trace,tonic=trace,tower=trace";

/// One pipeline per test binary: telemark's pipeline is process-wide.
fn receiver() -> &'static Receiver {
    static P: OnceLock<(Receiver, telemark::Guard)> = OnceLock::new();
    &P.get_or_init(|| {
        let rx = Receiver::start();
        let config = Config::default()
            .service_name("bridge-tests")
            .otlp(rx.grpc_endpoint(), Protocol::Grpc)
            .level(LEVEL)
            .unwrap();
        let guard = telemark::init(config).expect("init");
        (rx, guard)
    })
    .0
}

/// Delivers everything recorded so far: `flush` returns once the receiver has answered.
fn delivered() -> &'static Receiver {
    let rx = receiver();
    assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");
    rx
}

fn span(name: &str) -> Span {
    let rx = delivered();
    rx.spans_named(name).pop().unwrap_or_else(|| {
        panic!(
            "no span `{name}` arrived; got {:?}",
            rx.spans().into_iter().map(|s| s.name).collect::<Vec<_>>()
        )
    })
}

/// The crates of telemark's own export path.
fn is_plumbing(target: &str) -> bool {
    ["h2", "hyper", "hyper_util", "tonic", "tower"]
        .iter()
        .any(|p| target == *p || target.strip_prefix(p).is_some_and(|rest| rest.starts_with("::")))
}

#[traced]
fn calls_a_library() {
    // What reqwest or tower-http's `TraceLayer` do: a DEBUG span in the library's own target.
    let s = tracing::debug_span!(target: "reqwest::connect", "library.connect", peer = "db:5432");
    let _e = s.enter();
    tracing::debug!(target: "reqwest::connect", "connecting");
    // Below the directives: dropped.
    let t = tracing::trace_span!(target: "reqwest::connect", "library.too_verbose");
    let _t = t.enter();
}

#[test]
fn a_library_span_at_debug_arrives_nested_under_its_caller() {
    receiver();
    calls_a_library();
    let outer = span("calls_a_library");
    let lib = span("library.connect");
    assert_eq!(lib.trace_id, outer.trace_id);
    assert_eq!(lib.parent_span_id, outer.span_id);
    assert_eq!(lib.attr_str("peer"), Some("db:5432"));
    let rx = delivered();
    assert!(rx.spans_named("library.too_verbose").is_empty(), "a trace span passed `debug`");
    let log = rx.logs().into_iter().find(|l| l.body == "connecting").expect("the library's debug event");
    assert_eq!(log.scope_name, "reqwest::connect");
    assert_eq!(log.span_id, lib.span_id);
}

#[test]
fn telemark_own_export_thread_is_never_instrumented() {
    let rx = receiver();
    // Several exports over gRPC at `trace` for h2/hyper/tonic: each one runs the exporter's whole
    // stack on telemark's thread, which would emit spans and events if it were instrumented.
    for i in 0..3 {
        tracing::info!(round = i, "exported round");
        assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");
    }
    // One more round: what the previous exports emitted would have been sent by now.
    tracing::info!("last round");
    assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");
    let logs = rx.logs();
    assert!(logs.iter().any(|l| l.body == "last round"), "the program's own log did not arrive");
    let own: Vec<_> =
        logs.iter().filter(|l| is_plumbing(&l.scope_name)).map(|l| (&l.scope_name, &l.body)).collect();
    assert!(own.is_empty(), "the exporter's own events were exported: {own:?}");
    let spans: Vec<_> =
        rx.spans().into_iter().map(|s| s.name).filter(|n| !OURS.contains(&n.as_str())).collect();
    assert!(spans.is_empty(), "spans this binary never opened were exported: {spans:?}");
}

/// Every span this test binary opens; anything else came from somewhere it should not have.
const OURS: &[&str] = &[
    "calls_a_library",
    "library.connect",
    "GET /users/{id}",
    "kafka.send",
    "kafka.receive",
    "internal.kind",
    "renamed.later",
    "failed.call",
    "described.failure",
    "ok.call",
    "error.field",
    "unknown.kind",
    "calls_a_client",
    "http.client",
];

/// The attributes a span kept, `otel.*` fields must not be among them.
fn no_otel_attributes(s: &Span) {
    let otel: Vec<_> = s.attributes.keys().filter(|k| k.starts_with("otel.")).collect();
    assert!(otel.is_empty(), "`{}` kept {otel:?} as attributes", s.name);
}

#[test]
fn otel_kind_sets_the_span_kind() {
    receiver();
    tracing::info_span!("server.span", otel.name = "GET /users/{id}", otel.kind = "server").in_scope(|| {});
    tracing::info_span!("kafka.send", otel.kind = "Producer").in_scope(|| {});
    tracing::info_span!("kafka.receive", otel.kind = %"consumer").in_scope(|| {});
    tracing::info_span!("internal.kind", otel.kind = "internal").in_scope(|| {});
    tracing::info_span!("unknown.kind", otel.kind = "sideways").in_scope(|| {});
    let s = span("GET /users/{id}");
    assert_eq!(s.kind, SpanKind::Server);
    no_otel_attributes(&s);
    assert!(delivered().spans_named("server.span").is_empty(), "`otel.name` did not rename the span");
    assert_eq!(span("kafka.send").kind, SpanKind::Producer);
    assert_eq!(span("kafka.receive").kind, SpanKind::Consumer);
    assert_eq!(span("internal.kind").kind, SpanKind::Internal);
    let u = span("unknown.kind");
    assert_eq!(u.kind, SpanKind::Internal);
    no_otel_attributes(&u);
}

#[test]
fn otel_kind_on_a_client_span_under_a_traced_function() {
    receiver();
    calls_a_client();
    let outer = span("calls_a_client");
    let c = span("http.client");
    assert_eq!(c.kind, SpanKind::Client);
    assert_eq!(c.parent_span_id, outer.span_id);
    no_otel_attributes(&c);
}

#[traced]
fn calls_a_client() {
    tracing::debug_span!(target: "reqwest::client", "http.client", otel.kind = "client", http.request.method = "GET")
        .in_scope(|| {});
}

#[test]
fn otel_name_recorded_later_renames_the_span() {
    receiver();
    // Recorded while the span is closed, then while it is entered.
    let s = tracing::info_span!(
        "placeholder",
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty
    );
    s.record("otel.name", "renamed.first");
    s.in_scope(|| {
        tracing::Span::current().record("otel.name", "renamed.later");
        tracing::Span::current().record("otel.kind", "client");
    });
    drop(s);
    let r = span("renamed.later");
    assert_eq!(r.kind, SpanKind::Client);
    no_otel_attributes(&r);
    let rx = delivered();
    assert!(rx.spans_named("placeholder").is_empty() && rx.spans_named("renamed.first").is_empty());
}

#[test]
fn otel_status_fields_set_the_status() {
    receiver();
    tracing::info_span!("ok.call", otel.status_code = "ok").in_scope(|| {});
    tracing::info_span!("failed.call", otel.status_code = "ERROR").in_scope(|| {});
    let d = tracing::info_span!(
        "described.failure",
        otel.status_code = tracing::field::Empty,
        otel.status_message = tracing::field::Empty
    );
    d.in_scope(|| {
        tracing::Span::current().record("otel.status_code", "error");
        tracing::Span::current().record("otel.status_message", "upstream timed out");
    });
    drop(d);
    let e = tracing::info_span!("error.field", error = tracing::field::Empty);
    e.record("error", tracing::field::display("connection refused"));
    drop(e);

    let ok = span("ok.call");
    assert_eq!(ok.status.code, Status::OK);
    no_otel_attributes(&ok);
    let failed = span("failed.call");
    assert_eq!(failed.status.code, Status::ERROR);
    no_otel_attributes(&failed);
    let described = span("described.failure");
    assert_eq!(described.status, Status { code: Status::ERROR, message: "upstream timed out".into() });
    no_otel_attributes(&described);
    let err = span("error.field");
    assert_eq!(err.status, Status { code: Status::ERROR, message: "connection refused".into() });
    assert_eq!(err.attr_str("error"), Some("connection refused"));
}
