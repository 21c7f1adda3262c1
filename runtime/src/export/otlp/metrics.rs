//! The per-function metrics as an OTLP request, encoded from telemark's own tables (the SDK's
//! metric types cannot be built from outside it): cumulative sums and histograms,
//! `telemark.function.calls` (attributes `function`, `module`, `outcome`),
//! `telemark.function.duration` (seconds; `function`, `module`) and `telemark.exceptions`
//! (`function`, `module`) — the same series the Prometheus endpoint shows.

use crate::metrics::{FunctionMetrics, BOUNDS_NS};
pub(super) use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::time::{SystemTime, UNIX_EPOCH};

/// The resource's attributes as the proto's key-values.
pub(super) fn resource(r: &opentelemetry_sdk::Resource) -> Vec<KeyValue> {
    r.iter().map(|(k, v)| kv(k.as_str(), &v.to_string())).collect()
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..Default::default()
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn sum(name: &str, description: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn module_of(function: &str) -> &str {
    function.rsplit_once("::").map_or(function, |(m, _)| m)
}

/// The export request for one snapshot (`start`: when counting began).
pub(super) fn request(
    metrics: &[FunctionMetrics],
    exceptions: &[(String, u64)],
    resource: &[KeyValue],
    start: SystemTime,
    now: SystemTime,
) -> ExportMetricsServiceRequest {
    let (start, now) = (unix_nanos(start), unix_nanos(now));
    let point = |attributes: Vec<KeyValue>, n: u64| NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(i64::try_from(n).unwrap_or(i64::MAX))),
        ..Default::default()
    };
    let mut calls = Vec::new();
    let mut durations = Vec::new();
    for m in metrics {
        for (k, outcome) in ["ok", "error", "panic"].iter().enumerate() {
            calls.push(point(
                vec![kv("function", m.function), kv("module", m.module), kv("outcome", outcome)],
                m.calls[k],
            ));
        }
        durations.push(HistogramDataPoint {
            attributes: vec![kv("function", m.function), kv("module", m.module)],
            start_time_unix_nano: start,
            time_unix_nano: now,
            count: m.buckets.iter().sum(),
            sum: Some(m.sum.as_secs_f64()),
            bucket_counts: m.buckets.to_vec(),
            explicit_bounds: BOUNDS_NS.iter().map(|b| *b as f64 / 1e9).collect(),
            ..Default::default()
        });
    }
    let exceptions = exceptions
        .iter()
        .map(|(f, n)| point(vec![kv("function", f), kv("module", module_of(f))], *n))
        .collect();
    let metrics = vec![
        sum(
            "telemark.function.calls",
            "Calls of instrumented functions, by how they ended.",
            "{call}",
            calls,
        ),
        Metric {
            name: "telemark.function.duration".into(),
            description: "Latency of instrumented functions.".into(),
            unit: "s".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: durations,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
        sum(
            "telemark.exceptions",
            "Exceptions captured, by the function they happened in.",
            "{exception}",
            exceptions,
        ),
    ];
    // A metric without points (no exception captured yet) is left out rather than sent empty.
    let metrics = metrics.into_iter().filter(has_points).collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: resource.to_vec(), ..Default::default() }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "telemark".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn has_points(m: &Metric) -> bool {
    match &m.data {
        Some(metric::Data::Sum(s)) => !s.data_points.is_empty(),
        Some(metric::Data::Histogram(h)) => !h.data_points.is_empty(),
        _ => false,
    }
}
