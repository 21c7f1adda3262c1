//! telemark writes OTLP's protobuf itself. These tests check, field by field through the official
//! definitions (`opentelemetry-proto`), that what a receiver gets is what the OpenTelemetry SDK
//! and opentelemetry-otlp sent for the same records before: every span, log record and metric
//! a run produced is also captured by an exporter beside OTLP, converted the SDK's way (the
//! conversion telemark used until it encoded on its own), and compared with what arrived — over
//! gRPC and over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{self as otel, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::common::v1 as proto_common;
use opentelemetry_proto::tonic::logs::v1 as proto_logs;
use opentelemetry_proto::tonic::metrics::v1 as proto_metrics;
use opentelemetry_proto::tonic::trace::v1 as proto_trace;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::Receiver;
use telemark::export::{ExportError, Exporter, FinishedSpan, LogEntry};
use telemark::{traced, Config, Protocol, Status, Value};

/// telemark's pipeline is process-wide: the two protocols take turns.
static TURN: Mutex<()> = Mutex::new(());

/// Keeps a copy of everything telemark's thread hands to the exporters.
#[derive(Clone, Default)]
struct Copy {
    spans: Arc<Mutex<Vec<FinishedSpan>>>,
    logs: Arc<Mutex<Vec<LogEntry>>>,
}

impl Exporter for Copy {
    fn export(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> Result<(), ExportError> {
        self.spans.lock().unwrap().extend_from_slice(spans);
        self.logs.lock().unwrap().extend_from_slice(logs);
        Ok(())
    }
}

#[derive(Debug)]
enum LedgerError {
    Closed(u32),
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::Closed(id) => write!(f, "ledger {id} is closed"),
        }
    }
}

impl std::error::Error for LedgerError {}

#[traced(kind = "server", ret)]
fn handle(order: u32, note: &str, express: bool, weight: f64) -> u32 {
    tracing::info!(order, express, weight, "order received: {note}");
    tracing::warn!(target: "billing", amount = -3, "negative amount");
    order * 2
}

#[traced(kind = "client", fields(attempt = 2))]
fn post_to_ledger(id: u32) -> Result<(), LedgerError> {
    Err(LedgerError::Closed(id))
}

#[traced(kind = "consumer", parent = telemark::propagation::extract(headers))]
fn consume(headers: &http::HeaderMap) {
    tracing::debug!("consumed");
}

#[telemark::capture_exceptions]
fn load(id: u32) -> Result<(), LedgerError> {
    Err(LedgerError::Closed(id))
}

/// One run of every kind of record, to `protocol`; what was captured beside OTLP, and the
/// receiver.
fn run(protocol: Protocol) -> (Copy, Receiver) {
    let rx = Receiver::start();
    let endpoint = match protocol {
        Protocol::Grpc => rx.grpc_endpoint(),
        Protocol::HttpProtobuf => rx.http_endpoint(),
    };
    let copy = Copy::default();
    let mut cfg = Config::default().service_name("encoding").otlp(endpoint, protocol).exporter(copy.clone());
    cfg.service.attributes.insert("host.name".into(), "test-host".into());
    cfg.tracing.level = "debug".parse().unwrap();
    cfg.logging.level = "debug".parse().unwrap();
    cfg.export.shutdown_timeout = telemark::QUERY_WAIT;
    let guard = telemark::init(cfg).unwrap();

    handle(21, "two books", true, 1.5);
    let _ = post_to_ledger(7);
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    headers.insert("tracestate", "vendor=abc,other=1".parse().unwrap());
    consume(&headers);
    {
        let g = telemark::span(format!("manual-{}", 1));
        g.set_attribute("k", "v");
        g.set_attribute("empty", "");
        g.set_attribute("zero", 0i64);
        g.set_attribute("no", false);
        g.set_status(Status::Ok);
        g.add_event("cache.miss", &[("key", Value::from("user:1"))]);
    }
    let _ = load(3);
    tracing::error!(code = 0, "outside any span");
    assert!(guard.shutdown_within(telemark::QUERY_WAIT), "everything was delivered");
    (copy, rx)
}

fn time(unix_nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nanos)
}

fn key_value(k: &str, v: &Value) -> KeyValue {
    let key = opentelemetry::Key::from(k.to_string());
    match v {
        Value::Str(s) => KeyValue::new(key, s.to_string()),
        Value::I64(i) => KeyValue::new(key, *i),
        Value::F64(f) => KeyValue::new(key, *f),
        Value::Bool(b) => KeyValue::new(key, *b),
    }
}

fn any_value(v: &Value) -> AnyValue {
    match v {
        Value::Str(s) => AnyValue::String(s.to_string().into()),
        Value::I64(i) => AnyValue::Int(*i),
        Value::F64(f) => AnyValue::Double(*f),
        Value::Bool(b) => AnyValue::Boolean(*b),
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("telemark").with_version(env!("CARGO_PKG_VERSION")).build()
}

/// A span as telemark gave it to the SDK's exporter before (the SDK's `SpanData`).
fn span_data(s: &FinishedSpan) -> SpanData {
    let trace_state = s.trace_state.as_deref().and_then(|t| TraceState::from_str(t).ok()).unwrap_or_default();
    let mut events = SpanEvents::default();
    events.events = s
        .events
        .iter()
        .map(|e| {
            otel::Event::new(
                e.name.clone(),
                time(e.time_unix_nanos),
                e.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
                0,
            )
        })
        .collect();
    SpanData {
        span_context: otel::SpanContext::new(
            otel::TraceId::from_bytes(s.trace_id.to_bytes()),
            otel::SpanId::from_bytes(s.span_id.to_bytes()),
            TraceFlags::SAMPLED,
            false,
            trace_state,
        ),
        parent_span_id: s
            .parent_span_id
            .map(|p| otel::SpanId::from_bytes(p.to_bytes()))
            .unwrap_or(otel::SpanId::INVALID),
        parent_span_is_remote: s.parent_is_remote,
        span_kind: match s.kind {
            telemark::SpanKind::Internal => otel::SpanKind::Internal,
            telemark::SpanKind::Server => otel::SpanKind::Server,
            telemark::SpanKind::Client => otel::SpanKind::Client,
            telemark::SpanKind::Producer => otel::SpanKind::Producer,
            telemark::SpanKind::Consumer => otel::SpanKind::Consumer,
        },
        name: s.name.clone(),
        start_time: time(s.start_unix_nanos),
        end_time: time(s.end_unix_nanos),
        attributes: s
            .code
            .attributes()
            .map(|(k, v)| key_value(k, &v))
            .chain(s.attributes.iter().map(|(k, v)| key_value(k, v)))
            .collect(),
        dropped_attributes_count: s.dropped_attributes,
        events,
        links: SpanLinks::default(),
        status: match &s.status {
            Status::Unset => otel::Status::Unset,
            Status::Ok => otel::Status::Ok,
            Status::Error(m) => otel::Status::error(m.clone()),
        },
        instrumentation_scope: scope(),
    }
}

/// A log record as telemark gave it to the SDK's exporter before.
fn log_record(l: &LogEntry, logger: &opentelemetry_sdk::logs::SdkLogger) -> SdkLogRecord {
    let mut r = logger.create_log_record();
    r.set_timestamp(time(l.time_unix_nanos));
    r.set_observed_timestamp(SystemTime::now());
    r.set_severity_number(match l.level {
        telemark::Level::Trace => Severity::Trace,
        telemark::Level::Debug => Severity::Debug,
        telemark::Level::Info => Severity::Info,
        telemark::Level::Warn => Severity::Warn,
        telemark::Level::Error => Severity::Error,
    });
    r.set_severity_text(l.level.severity_text());
    r.set_target(l.target);
    r.set_body(AnyValue::String(l.message.clone().into()));
    for (k, v) in &l.attributes {
        r.add_attribute(opentelemetry::Key::from(k.to_string()), any_value(v));
    }
    if let Some(f) = l.file {
        r.add_attribute("code.file.path", f);
    }
    if let Some(line) = l.line {
        r.add_attribute("code.line.number", line as i64);
    }
    if let (Some(t), Some(sp)) = (l.trace_id, l.span_id) {
        r.set_trace_context(
            otel::TraceId::from_bytes(t.to_bytes()),
            otel::SpanId::from_bytes(sp.to_bytes()),
            Some(TraceFlags::SAMPLED),
        );
    }
    r
}

fn resource() -> ResourceAttributesWithSchema {
    let r = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "encoding"),
            KeyValue::new("telemetry.sdk.name", "telemark"),
            KeyValue::new("telemetry.sdk.language", "rust"),
            KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("host.name", "test-host"),
        ])
        .build();
    ResourceAttributesWithSchema::from(&r)
}

/// Attributes in a fixed order (the SDK's resource keeps them in a hash map).
fn sorted(mut kvs: Vec<proto_common::KeyValue>) -> Vec<proto_common::KeyValue> {
    kvs.sort_by(|a, b| a.key.cmp(&b.key));
    kvs
}

fn check_spans(copy: &Copy, rx: &Receiver) {
    let captured = copy.spans.lock().unwrap().clone();
    assert_eq!(captured.len(), 4, "{captured:#?}");
    let want = opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(
        captured.iter().map(span_data).collect(),
        &resource(),
    );
    let want_spans: Vec<proto_trace::Span> =
        want.iter().flat_map(|r| &r.scope_spans).flat_map(|s| s.spans.clone()).collect();
    let got = rx.raw_trace_requests();
    let mut got_spans: Vec<proto_trace::Span> = Vec::new();
    for request in &got {
        for rs in &request.resource_spans {
            let resource = rs.resource.clone().unwrap();
            assert_eq!(sorted(resource.attributes), sorted(want[0].resource.clone().unwrap().attributes));
            assert_eq!(rs.schema_url, want[0].schema_url);
            for ss in &rs.scope_spans {
                assert_eq!(ss.scope, want[0].scope_spans[0].scope, "the telemark scope");
                assert_eq!(ss.schema_url, want[0].scope_spans[0].schema_url);
                got_spans.extend(ss.spans.iter().cloned());
            }
        }
    }
    assert_eq!(got_spans.len(), want_spans.len());
    for w in &want_spans {
        let g =
            got_spans.iter().find(|g| g.span_id == w.span_id).unwrap_or_else(|| panic!("{w:?} not received"));
        assert_eq!(g, w, "span `{}`", w.name);
    }
    // The run covered what the encoder has to get right.
    let by_name = |n: &str| want_spans.iter().find(|s| s.name == n).unwrap_or_else(|| panic!("no span {n}"));
    assert_eq!(by_name("consume").trace_state, "vendor=abc,other=1");
    assert_eq!(by_name("consume").flags, 0x301, "sampled, remote parent");
    assert_eq!(by_name("post_to_ledger").status.as_ref().unwrap().code, 2);
    assert!(by_name("manual-1").events.iter().any(|e| e.name == "cache.miss"));
    assert!(by_name("post_to_ledger").events.iter().any(|e| e.name == "exception"));
}

fn check_logs(copy: &Copy, rx: &Receiver) {
    let captured = copy.logs.lock().unwrap().clone();
    let provider = SdkLoggerProvider::builder().build();
    let logger = provider.logger("telemark");
    let records: Vec<SdkLogRecord> = captured.iter().map(|l| log_record(l, &logger)).collect();
    let scope = scope();
    let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> = records.iter().map(|r| (r, &scope)).collect();
    let want = opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope(
        &LogBatch::new(&refs),
        &resource(),
    );
    // (scope, record) pairs; the observed time is when each side exported, so it is compared
    // only for being set.
    let flatten = |resource_logs: &[proto_logs::ResourceLogs]| {
        let mut out: Vec<(Option<proto_common::InstrumentationScope>, proto_logs::LogRecord)> = Vec::new();
        for rl in resource_logs {
            for sl in &rl.scope_logs {
                for r in &sl.log_records {
                    assert_ne!(r.observed_time_unix_nano, 0);
                    let mut r = r.clone();
                    r.observed_time_unix_nano = 0;
                    out.push((sl.scope.clone(), r));
                }
            }
        }
        out
    };
    let want_records = flatten(&want);
    let got: Vec<proto_logs::ResourceLogs> =
        rx.raw_logs_requests().into_iter().flat_map(|r| r.resource_logs).collect();
    for rl in &got {
        assert_eq!(
            sorted(rl.resource.clone().unwrap().attributes),
            sorted(want[0].resource.clone().unwrap().attributes)
        );
    }
    let got_records = flatten(&got);
    assert_eq!(got_records.len(), want_records.len());
    for w in &want_records {
        assert!(got_records.contains(w), "{w:#?} not received; got {got_records:#?}");
    }
    let scopes: Vec<&str> =
        want_records.iter().filter_map(|(s, _)| s.as_ref().map(|s| s.name.as_str())).collect();
    assert!(scopes.contains(&"billing") && scopes.contains(&"otlp_encoding"), "{scopes:?}");
    assert!(want_records.iter().any(|(_, r)| r.trace_id.is_empty()), "a log outside any span");
    assert!(want_records.iter().any(|(_, r)| r.attributes.iter().any(|a| a.key == "exception.type")));
}

/// The metrics as telemark encoded them with the generated structs before, from the numbers of
/// the last push.
fn check_metrics(rx: &Receiver) {
    let last = rx.raw_metrics_requests().pop().expect("the final push");
    let rm = &last.resource_metrics[0];
    assert_eq!(sorted(rm.resource.clone().unwrap().attributes), sorted(resource().attributes.0));
    let sm = &rm.scope_metrics[0];
    assert_eq!(
        sm.scope,
        Some(proto_common::InstrumentationScope {
            name: "telemark".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        })
    );
    let names: Vec<&str> = sm.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["telemark.function.calls", "telemark.function.duration", "telemark.exceptions"]);
    let kv = |k: &str, v: &str| proto_common::KeyValue {
        key: k.into(),
        value: Some(proto_common::AnyValue {
            value: Some(proto_common::any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let snapshot = telemark::metrics::snapshot();
    let handle = snapshot.iter().find(|m| m.function == "otlp_encoding::handle").unwrap();
    let Some(proto_metrics::metric::Data::Sum(calls)) = &sm.metrics[0].data else { panic!("a sum") };
    assert_eq!(calls.aggregation_temporality, proto_metrics::AggregationTemporality::Cumulative as i32);
    assert!(calls.is_monotonic);
    let point = calls
        .data_points
        .iter()
        .find(|p| {
            p.attributes.contains(&kv("function", "otlp_encoding::handle"))
                && p.attributes.contains(&kv("outcome", "ok"))
        })
        .unwrap();
    let want = proto_metrics::NumberDataPoint {
        attributes: vec![kv("function", handle.function), kv("module", handle.module), kv("outcome", "ok")],
        start_time_unix_nano: point.start_time_unix_nano,
        time_unix_nano: point.time_unix_nano,
        value: Some(proto_metrics::number_data_point::Value::AsInt(handle.calls[0] as i64)),
        ..Default::default()
    };
    assert_eq!(point, &want);
    assert!(point.start_time_unix_nano > 0 && point.time_unix_nano >= point.start_time_unix_nano);
    let zero = calls
        .data_points
        .iter()
        .find(|p| {
            p.attributes.contains(&kv("function", "otlp_encoding::handle"))
                && p.attributes.contains(&kv("outcome", "panic"))
        })
        .unwrap();
    assert_eq!(
        zero.value,
        Some(proto_metrics::number_data_point::Value::AsInt(0)),
        "a zero count is sent as 0"
    );

    let Some(proto_metrics::metric::Data::Histogram(durations)) = &sm.metrics[1].data else {
        panic!("a histogram")
    };
    assert_eq!(sm.metrics[1].unit, "s");
    let p = durations
        .data_points
        .iter()
        .find(|p| p.attributes.contains(&kv("function", "otlp_encoding::handle")))
        .unwrap();
    let want = proto_metrics::HistogramDataPoint {
        attributes: vec![kv("function", handle.function), kv("module", handle.module)],
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        count: handle.buckets.iter().sum(),
        sum: Some(handle.sum.as_secs_f64()),
        bucket_counts: handle.buckets.to_vec(),
        explicit_bounds: telemark::metrics::BOUNDS_NS.iter().map(|b| *b as f64 / 1e9).collect(),
        ..Default::default()
    };
    assert_eq!(p, &want);
    let Some(proto_metrics::metric::Data::Sum(exceptions)) = &sm.metrics[2].data else { panic!("a sum") };
    assert!(exceptions
        .data_points
        .iter()
        .any(|p| p.attributes.contains(&kv("function", "otlp_encoding::load"))));
}

#[test]
fn grpc_requests_are_the_sdks_field_by_field() {
    let _t = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (copy, rx) = run(Protocol::Grpc);
    check_spans(&copy, &rx);
    check_logs(&copy, &rx);
    check_metrics(&rx);
    assert!(rx.duplicate_keys().is_empty());
}

#[test]
fn http_requests_are_the_sdks_field_by_field() {
    let _t = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (copy, rx) = run(Protocol::HttpProtobuf);
    check_spans(&copy, &rx);
    check_logs(&copy, &rx);
    check_metrics(&rx);
    assert!(rx.duplicate_keys().is_empty());
}
