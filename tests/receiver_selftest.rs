//! Self-test of the OTLP test receiver in `tests/support`, driven by `opentelemetry-otlp`
//! directly (no telemark involved), over both gRPC and HTTP/protobuf.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    LogExporter, Protocol, RetryPolicy, SpanExporter, WithExportConfig as _, WithHttpConfig as _,
    WithTonicConfig as _,
};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;

use support::{Receiver, Signal, Value};

fn resource(service: &'static str) -> Resource {
    Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("deployment.environment", "selftest"))
        .build()
}

/// Emits a parent span (with an attribute, an event and an error status) and a child span
/// through an SDK provider with a simple (synchronous) processor, then shuts the provider down.
/// Returns (trace id, parent span id, child span id) as hex.
///
/// Runs on a blocking-pool thread of the caller's multi-thread runtime: the simple processor
/// exports with `block_on` on the thread ending the span, and both the tonic channel and the
/// hyper client need a Tokio context there (STACK.md traps 1 and 2).
fn emit_two_spans(exporter: SpanExporter, service: &'static str) -> (String, String, String) {
    let provider =
        SdkTracerProvider::builder().with_simple_exporter(exporter).with_resource(resource(service)).build();
    let tracer = provider.tracer("selftest-scope");

    let mut parent = tracer
        .span_builder("parent-op")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.route", "/users/{id}"),
            KeyValue::new("retries", 3_i64),
            KeyValue::new("cached", true),
        ])
        .start(&tracer);
    parent.add_event("cache.miss", vec![KeyValue::new("key", "user:7"), KeyValue::new("ratio", 0.5)]);
    parent.set_status(Status::error("boom"));
    let trace_id = parent.span_context().trace_id().to_string();
    let parent_id = parent.span_context().span_id().to_string();

    let cx = Context::current_with_span(parent);
    let mut child = tracer.start_with_context("child-op", &cx);
    let child_id = child.span_context().span_id().to_string();
    child.end();
    cx.span().end();

    provider.shutdown().expect("tracer provider shutdown");
    (trace_id, parent_id, child_id)
}

fn check_two_spans(
    rx: &Receiver,
    transport: &str,
    service: &str,
    (trace_id, parent_id, child_id): (String, String, String),
) {
    let spans = rx.wait_span_count(2);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let child = &spans[0];
    let parent = &spans[1];

    assert_eq!(child.name, "child-op");
    assert_eq!(parent.name, "parent-op");
    assert_eq!(parent.trace_id, trace_id);
    assert_eq!(child.trace_id, trace_id);
    assert_eq!(trace_id.len(), 32);
    assert_eq!(parent.span_id, parent_id);
    assert_eq!(child.span_id, child_id);
    assert_eq!(child.parent_span_id, parent_id);
    assert!(parent.is_root(), "{parent:#?}");
    assert_eq!(parent.parent_span_id, "");

    assert_eq!(parent.kind, support::SpanKind::Server);
    assert_eq!(child.kind, support::SpanKind::Internal);
    assert_eq!(parent.attr_str("http.route"), Some("/users/{id}"));
    assert_eq!(parent.attr_i64("retries"), Some(3));
    assert_eq!(parent.attr("cached"), Some(&Value::Bool(true)));
    assert_eq!(parent.attr("missing"), None);
    let event = parent.event("cache.miss").expect("event");
    assert_eq!(event.attr_str("key"), Some("user:7"));
    assert_eq!(event.attr("ratio").and_then(Value::as_f64), Some(0.5));
    assert!(event.time_unix_nano >= parent.start_time_unix_nano);
    assert!(parent.status.is_error());
    assert_eq!(parent.status.message, "boom");
    assert!(child.status.is_unset());
    assert!(parent.end_time_unix_nano >= parent.start_time_unix_nano);
    assert!(parent.start_time_unix_nano > 1_600_000_000_000_000_000);

    for s in &spans {
        assert_eq!(s.transport, transport);
        assert_eq!(s.scope_name, "selftest-scope");
        assert_eq!(s.resource_attr("service.name"), Some(&Value::from(service)));
        assert_eq!(s.resource.get("deployment.environment"), Some(&Value::from("selftest")));
    }

    let requests = rx.requests();
    assert_eq!(requests.len(), 2, "one request per span (simple processor)");
    assert!(requests.iter().all(|r| r.accepted && r.signal == Signal::Traces && r.transport == transport));
    assert!(rx.logs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_over_grpc() {
    let rx = Receiver::start();
    let endpoint = rx.grpc_endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let ids = tokio::task::spawn_blocking(move || {
        let mut metadata = MetadataMap::new();
        metadata.insert("x-selftest", "grpc-value".parse().unwrap());
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_metadata(metadata)
            .build()
            .expect("tonic span exporter");
        emit_two_spans(exporter, "svc-grpc")
    })
    .await
    .unwrap();

    check_two_spans(&rx, "grpc", "svc-grpc", ids);
    for h in rx.headers() {
        assert_eq!(h.get("x-selftest").map(String::as_str), Some("grpc-value"));
        assert_eq!(h.get("content-type").map(String::as_str), Some("application/grpc"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_over_http_protobuf() {
    let rx = Receiver::start();
    let base = rx.http_endpoint();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_ne!(base, rx.grpc_endpoint());

    let ids = tokio::task::spawn_blocking(move || {
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{base}/v1/traces"))
            .with_headers(HashMap::from([("x-selftest".to_owned(), "http-value".to_owned())]))
            .build()
            .expect("http span exporter");
        emit_two_spans(exporter, "svc-http")
    })
    .await
    .unwrap();

    check_two_spans(&rx, "http", "svc-http", ids);
    for h in rx.headers() {
        assert_eq!(h.get("x-selftest").map(String::as_str), Some("http-value"));
        assert_eq!(h.get("content-type").map(String::as_str), Some("application/x-protobuf"));
    }
}

fn emit_log(exporter: LogExporter, body: &'static str) {
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource("svc-logs"))
        .build();
    let logger = provider.logger("selftest-logs");
    let mut record = logger.create_log_record();
    record.set_body(body.into());
    record.set_severity_number(Severity::Warn);
    record.set_severity_text("WARN");
    record.set_timestamp(SystemTime::now());
    record.add_attribute("user.id", 42_i64);
    record.add_attribute(
        "tags",
        opentelemetry::logs::AnyValue::ListAny(Box::new(vec!["a".into(), "b".into()])),
    );
    record.set_trace_context(
        TraceId::from(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10_u128),
        SpanId::from(0x1112_1314_1516_1718_u64),
        Some(TraceFlags::SAMPLED),
    );
    logger.emit(record);
    provider.shutdown().expect("logger provider shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_over_grpc_and_http() {
    let rx = Receiver::start();
    let (grpc, http) = (rx.grpc_endpoint(), rx.http_logs_url());
    tokio::task::spawn_blocking(move || {
        let exporter =
            LogExporter::builder().with_tonic().with_endpoint(grpc).build().expect("tonic log exporter");
        emit_log(exporter, "hello over grpc");
        let exporter = LogExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(http)
            .build()
            .expect("http log exporter");
        emit_log(exporter, "hello over http");
    })
    .await
    .unwrap();

    let logs = rx.wait_log_count(2);
    assert_eq!(logs.len(), 2, "{logs:#?}");
    assert_eq!(logs[0].body, "hello over grpc");
    assert_eq!(logs[0].transport, "grpc");
    assert_eq!(logs[1].body, "hello over http");
    assert_eq!(logs[1].transport, "http");
    for log in &logs {
        assert_eq!(log.body_value.as_ref().and_then(Value::as_str), Some(log.body.as_str()));
        assert_eq!(log.severity_number, 13);
        assert_eq!(log.severity_text, "WARN");
        assert_eq!(log.attr_i64("user.id"), Some(42));
        assert_eq!(log.attr("tags").map(ToString::to_string).as_deref(), Some("[a, b]"));
        assert_eq!(log.trace_id, "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(log.span_id, "1112131415161718");
        assert_eq!(log.scope_name, "selftest-logs");
        assert_eq!(log.resource_attr("service.name"), Some(&Value::from("svc-logs")));
        assert!(log.time_unix_nano > 0);
    }
    assert!(rx.spans().is_empty());
    let signals: Vec<Signal> = rx.requests().iter().map(|r| r.signal).collect();
    assert_eq!(signals, [Signal::Logs, Signal::Logs]);
}

/// A span built by hand, for calling `SpanExporter::export` directly.
fn span_data(name: &'static str) -> SpanData {
    let now = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0xaaaa_u128),
            SpanId::from(0xbbbb_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: Cow::Borrowed(name),
        start_time: now,
        end_time: now,
        attributes: vec![KeyValue::new("k", "v")],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("direct").build(),
    }
}

/// Direct `export().await` on the default current-thread test runtime: no blocking anywhere,
/// so this flavor works too.
#[tokio::test]
async fn direct_export_on_current_thread_runtime() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let rx = Receiver::start();
    let grpc = SpanExporter::builder().with_tonic().with_endpoint(rx.grpc_endpoint()).build().unwrap();
    grpc.export(vec![span_data("direct-grpc")]).await.unwrap();
    let http = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(rx.http_traces_url())
        .build()
        .unwrap();
    http.export(vec![span_data("direct-http")]).await.unwrap();

    let spans = rx.wait_spans_async(|s| s.len() >= 2).await;
    let names: Vec<(&str, &str)> = spans.iter().map(|s| (s.name.as_str(), s.transport)).collect();
    assert_eq!(names, [("direct-grpc", "grpc"), ("direct-http", "http")]);
    for s in &spans {
        assert_eq!(s.trace_id, format!("{:032x}", 0xaaaa_u128));
        assert_eq!(s.span_id, "000000000000bbbb");
        assert_eq!(s.parent_span_id, "");
        assert_eq!(s.kind, support::SpanKind::Client);
        assert_eq!(s.attr_str("k"), Some("v"));
        assert_eq!(s.scope_name, "direct");
    }
    assert_eq!(rx.raw_trace_requests().len(), 2);
}

/// No runtime in the test at all: the receiver brings its own; the exporter gets one built here.
#[test]
fn works_without_a_test_runtime_and_stops_quickly() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let rx = Receiver::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let exporter =
            SpanExporter::builder().with_tonic().with_endpoint(rx.grpc_endpoint()).build().unwrap();
        exporter.export(vec![span_data("no-runtime")]).await.unwrap();
    });
    let span = rx.wait_span_named("no-runtime").expect("span arrived");
    assert_eq!(span.transport, "grpc");

    rx.clear();
    assert!(rx.spans().is_empty() && rx.requests().is_empty());
    // The exporter's connection is still open (the runtime is alive): dropping must not hang.
    drop(rx);
    drop(rt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_receiver_is_a_dead_backend() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let mut rx = Receiver::start();
    let http = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(rx.http_traces_url())
        .with_retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    http.export(vec![span_data("before")]).await.unwrap();
    rx.stop();
    assert!(http.export(vec![span_data("after")]).await.is_err());
    let names: Vec<String> = rx.spans().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_backends_record_requests_but_accept_nothing() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let rx = Receiver::start_failing_http(400);
    rx.set_grpc_error(Some(tonic::Code::InvalidArgument));

    let http = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(rx.http_traces_url())
        .with_retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    let err = http.export(vec![span_data("rejected")]).await;
    assert!(err.is_err(), "{err:?}");

    let grpc = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(rx.grpc_endpoint())
        .with_retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    let err = grpc.export(vec![span_data("rejected")]).await;
    assert!(err.is_err(), "{err:?}");

    let requests = rx.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(requests.iter().all(|r| !r.accepted && r.items == 1));
    assert!(rx.spans().is_empty());

    // Back to normal.
    rx.set_http_status(200);
    rx.set_grpc_error(None);
    http.export(vec![span_data("accepted")]).await.unwrap();
    grpc.export(vec![span_data("accepted")]).await.unwrap();
    assert_eq!(rx.wait_span_count(2).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_backend_times_out_the_exporter() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let rx = Receiver::start();
    // An answer after an hour: whatever the machine's load, the 100 ms timeout comes first.
    rx.set_delay(Duration::from_secs(3600));
    let http = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(rx.http_traces_url())
        .with_timeout(Duration::from_millis(100))
        .with_retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    let grpc = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(rx.grpc_endpoint())
        .with_timeout(Duration::from_millis(100))
        .with_retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    let res = http.export(vec![span_data("slow")]).await;
    assert!(res.is_err(), "{res:?}");
    let res = grpc.export(vec![span_data("slow")]).await;
    assert!(res.is_err(), "{res:?}");
    // The client closed the connection (HTTP) or reset the stream (gRPC): the receiver dropped
    // both requests unanswered, and never records them.
    assert_eq!(rx.wait_abandoned(2).await, 2);
    assert!(rx.requests().is_empty(), "{:#?}", rx.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_http_path_is_reported() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let rx = Receiver::start();
    // A code-given HTTP endpoint is used verbatim: without /v1/traces this posts to "/".
    let http = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(rx.http_endpoint())
        .with_retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    assert!(http.export(vec![span_data("lost")]).await.is_err());
    let errors = rx.take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("no such OTLP path"), "{errors:?}");
}

#[test]
fn dead_endpoint_refuses_connections() {
    let endpoint = support::dead_endpoint();
    let addr = endpoint.strip_prefix("http://").unwrap();
    assert!(addr.starts_with("127.0.0.1:"));
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// A garbage body is answered with 400, and the problem fails the test when the receiver drops.
#[test]
#[should_panic(expected = "body is not an ExportTraceServiceRequest")]
fn undecodable_body_fails_the_test_on_drop() {
    use std::io::{Read as _, Write as _};
    let rx = Receiver::start();
    let addr = rx.http_endpoint().replace("http://", "");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.write_all(
        b"POST /v1/traces HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-protobuf\r\n\
          Content-Length: 3\r\nConnection: close\r\n\r\n\xff\xff\xff",
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert_eq!(rx.errors().len(), 1);
}

/// A metrics request built by hand: a cumulative monotonic Sum with one int point and a
/// cumulative Histogram with one point.
fn metrics_request(
    service: &str,
    calls: i64,
) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let kv = |k: &str, v: &str| KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.to_owned())) }),
        ..Default::default()
    };
    let cumulative = AggregationTemporality::Cumulative as i32;
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![kv("service.name", service)], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "selftest-metrics".into(), ..Default::default() }),
                metrics: vec![
                    Metric {
                        name: "calls".into(),
                        unit: "{call}".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                attributes: vec![kv("outcome", "ok")],
                                start_time_unix_nano: 1,
                                time_unix_nano: 2,
                                value: Some(number_data_point::Value::AsInt(calls)),
                                ..Default::default()
                            }],
                            aggregation_temporality: cumulative,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "duration".into(),
                        unit: "s".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: vec![kv("function", "f")],
                                count: 3,
                                sum: Some(0.5),
                                bucket_counts: vec![1, 2, 0],
                                explicit_bounds: vec![0.1, 1.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: cumulative,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Posts `body` to `path` of `endpoint` over a plain HTTP/1.1 connection; returns the status line.
fn http_post(endpoint: &str, path: &str, body: &[u8]) -> String {
    use std::io::{Read as _, Write as _};
    let addr = endpoint.strip_prefix("http://").unwrap();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-protobuf\r\n\
         x-selftest: metrics\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_grpc_and_http() {
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use prost::Message as _;
    let rx = Receiver::start();

    let mut client = MetricsServiceClient::connect(rx.grpc_endpoint()).await.expect("gRPC connect");
    client.export(metrics_request("svc-grpc", 5)).await.expect("gRPC metrics export");
    let body = metrics_request("svc-http", 7).encode_to_vec();
    assert_eq!(rx.http_metrics_url(), format!("{}/v1/metrics", rx.http_endpoint()));
    let endpoint = rx.http_endpoint();
    let status =
        tokio::task::spawn_blocking(move || http_post(&endpoint, "/v1/metrics", &body)).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    let raw = rx.wait_metrics(|r| r.len() >= 2);
    assert_eq!(raw.len(), 2, "{raw:#?}");
    assert_eq!(raw[0], metrics_request("svc-grpc", 5), "stored as received");
    assert_eq!(raw[1], metrics_request("svc-http", 7));

    let points = rx.metric_points();
    assert_eq!(points.len(), 4, "{points:#?}");
    let calls: Vec<(usize, &str, Option<i64>)> =
        points.iter().filter(|p| p.name == "calls").map(|p| (p.request, p.transport, p.as_i64())).collect();
    assert_eq!(calls, [(0, "grpc", Some(5)), (1, "http", Some(7))]);
    for p in &points {
        assert_eq!(p.temporality, 2, "cumulative");
        assert_eq!(p.scope_name, "selftest-metrics");
        let service = if p.transport == "grpc" { "svc-grpc" } else { "svc-http" };
        assert_eq!(p.resource_attr("service.name"), Some(&Value::from(service)));
        if p.name == "calls" {
            assert_eq!((p.kind, p.monotonic, p.unit.as_str()), ("sum", true, "{call}"));
            assert_eq!(p.attr_str("outcome"), Some("ok"));
            assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (1, 2));
        } else {
            assert_eq!((p.name.as_str(), p.kind, p.unit.as_str()), ("duration", "histogram", "s"));
            assert_eq!(p.histogram_count(), Some(3));
            assert_eq!(p.attr_str("function"), Some("f"));
        }
    }
    let latest = rx.latest_metric_points();
    assert_eq!(latest.len(), 2);
    assert!(latest.iter().all(|p| p.request == 1 && p.transport == "http"));

    let requests = rx.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.signal == Signal::Metrics && r.accepted && r.items == 2));
    assert_eq!(requests[1].headers.get("x-selftest").map(String::as_str), Some("metrics"));
    assert!(rx.spans().is_empty() && rx.logs().is_empty());

    // Failure behaviours apply to metrics as to the other signals.
    rx.set_grpc_error(Some(tonic::Code::Unavailable));
    rx.set_http_status(503);
    assert!(client.export(metrics_request("svc-grpc", 6)).await.is_err());
    let (endpoint, body) = (rx.http_endpoint(), metrics_request("svc-http", 8).encode_to_vec());
    let status =
        tokio::task::spawn_blocking(move || http_post(&endpoint, "/v1/metrics", &body)).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    let requests = rx.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests[2..].iter().all(|r| r.signal == Signal::Metrics && !r.accepted));
    assert_eq!(rx.raw_metrics_requests().len(), 2, "rejected requests are not stored");

    rx.clear();
    assert!(rx.metric_points().is_empty() && rx.raw_metrics_requests().is_empty());
}
