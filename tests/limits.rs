//! Limits, end to end on what an OTLP/gRPC receiver got: values cut (exception messages and log
//! bodies too), attributes and events over their counts dropped and counted on the wire, and
//! requests split by encoded size so that large spans never make others drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use prost::Message;
use telemark::{capture_exceptions, traced, Config};
use telemark_tests::Receiver;

const YAML: &str = "
limits:
  attribute_count: 4
  span_event_count: 2
  attribute_value_length: 4096
export:
  max_request_bytes: 64KiB
";

#[traced]
fn six(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> u8 {
    a + b + c + d + e + f
}

#[derive(Debug)]
struct Failure(&'static str);
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Failure {}

#[traced]
fn three_events() {
    for what in ["first", "second", "third"] {
        telemark::exceptions::record(&Failure(what));
    }
}

#[capture_exceptions]
#[traced]
fn huge_error(n: usize) -> Result<(), String> {
    Err("x".repeat(n))
}

#[traced]
fn large(i: usize, a: &str, b: &str, c: &str) -> usize {
    i + a.len() + b.len() + c.len()
}

fn spans(rx: &Receiver) -> Vec<ProtoSpan> {
    rx.raw_trace_requests()
        .into_iter()
        .flat_map(|r| r.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect()
}

#[test]
fn limits_cut_drop_count_and_split() {
    let rx = Receiver::start();
    let mut config: Config = Config::from_yaml(YAML, "limits.yaml").unwrap();
    config = config.otlp(rx.grpc_endpoint(), telemark::Protocol::Grpc).service_name("limits");
    let guard = telemark::init(config).expect("init");
    let before = telemark::stats();

    six(1, 2, 3, 4, 5, 6);
    three_events();
    let _ = huge_error(10 << 20);
    let big = "y".repeat(4000);
    for i in 0..200 {
        large(i, &big, &big, &big);
    }
    assert!(telemark::flush(telemark::QUERY_WAIT));

    let all = spans(&rx);
    let six = all.iter().find(|s| s.name == "six").unwrap();
    // Four of the six arguments (telemark's three `code.*` attributes come on top).
    assert_eq!(six.attributes.iter().filter(|a| !a.key.starts_with("code.")).count(), 4);
    assert_eq!(six.dropped_attributes_count, 2);
    let events = all.iter().find(|s| s.name == "three_events").unwrap();
    assert_eq!(events.events.len(), 2);
    assert_eq!(events.dropped_events_count, 1);
    assert_eq!(events.dropped_attributes_count, 0);

    // A 10 MB error message: cut in the span's status, its event and the exception's log record.
    let huge = all.iter().find(|s| s.name == "huge_error").unwrap();
    let status = huge.status.as_ref().unwrap();
    assert!(status.message.len() <= 4096 && status.message.ends_with('…'), "{}", status.message.len());
    let logs = rx.raw_logs_requests();
    let record = logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .find(|l| l.attributes.iter().any(|a| a.key == "exception.message"))
        .expect("the exception's log record");
    assert!(record.encoded_len() < 16 << 10, "log record of {} bytes", record.encoded_len());

    // 200 spans of 12 KB into requests of at most 64 KiB: all arrive, none dropped.
    let large_spans = all.iter().filter(|s| s.name == "large").count();
    assert_eq!(large_spans, 200);
    let sizes: Vec<usize> = rx.raw_trace_requests().iter().map(|r| r.encoded_len()).collect();
    assert!(sizes.iter().all(|&n| n <= 64 << 10), "request sizes {sizes:?}");
    assert!(sizes.len() >= 200 / 5, "{} requests", sizes.len());
    let after = telemark::stats();
    assert_eq!(after.spans_dropped, before.spans_dropped);
    assert_eq!(after.too_large, before.too_large);
    assert_eq!(after.attributes_dropped - before.attributes_dropped, 2);
    assert_eq!(after.events_dropped - before.events_dropped, 1);

    drop(guard);

    // A span that alone is larger than a request: dropped and counted, the next one sent.
    let rx = Receiver::start();
    let yaml = "limits:\n  attribute_value_length: 1048576\nexport:\n  max_request_bytes: 64KiB\n";
    let config: Config = Config::from_yaml(yaml, "too-large.yaml").unwrap();
    let config = config.otlp(rx.grpc_endpoint(), telemark::Protocol::Grpc).service_name("limits");
    let _guard = telemark::init(config).expect("init");
    let before = telemark::stats();
    large(1, &"z".repeat(100_000), "a", "b");
    large(2, "a", "b", "c");
    assert!(telemark::flush(telemark::QUERY_WAIT));
    let arrived: Vec<_> = spans(&rx).into_iter().filter(|s| s.name == "large").collect();
    assert_eq!(arrived.len(), 1, "only the span that fits arrives");
    let after = telemark::stats();
    assert_eq!(after.too_large - before.too_large, 1);
    assert_eq!(after.spans_dropped - before.spans_dropped, 1);
}
