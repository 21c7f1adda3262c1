//! Pushes the per-function metrics over OTLP (gRPC or HTTP/protobuf) every
//! `metrics.export_interval`, from a thread telemark owns, as cumulative sums and histograms:
//! `telemark.function.calls` (attributes `function`, `module`, `outcome`),
//! `telemark.function.duration` (seconds; `function`, `module`) and `telemark.exceptions`
//! (`function`, `module`) — the same series the Prometheus endpoint shows.

use super::{exception_counts, snapshot, FunctionMetrics, BOUNDS_NS};
use crate::export::health::{cause, Signal};
use crate::export::otlp::OtlpSettings;
use crate::export::Protocol;
use crate::stats::STATS;
use opentelemetry_http::HttpClient as _;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
pub(crate) fn request(
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

/// The push thread: it pushes once more when stopped.
pub(crate) type Pusher = crate::worker::Worker;

/// Starts pushing.
pub(crate) struct Push;

impl Push {
    /// Starts pushing to the OTLP endpoint of `s` every `interval`.
    pub(crate) fn start(s: OtlpSettings, interval: Duration) -> std::io::Result<Pusher> {
        let (tx, rx) = mpsc::sync_channel::<Instant>(1);
        let thread = std::thread::Builder::new().name("telemark-metrics".into()).spawn(move || {
            crate::local::mark_internal();
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            let resource: Vec<KeyValue> =
                s.resource.iter().map(|(k, v)| kv(k.as_str(), &v.to_string())).collect();
            // Counts run from the first `init` of the process (a later `init` does not reset them).
            let started = super::started();
            let mut sender = Sender::new(&s);
            loop {
                let last = match rx.recv_timeout(interval) {
                    Ok(deadline) => Some(deadline),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                let req = request(&snapshot(), &exception_counts(), &resource, started, SystemTime::now());
                let timeout = match last {
                    Some(deadline) => deadline.saturating_duration_since(Instant::now()).min(s.timeout),
                    None => s.timeout,
                };
                let sent = rt.block_on(async { tokio::time::timeout(timeout, sender.send(req)).await });
                let cause = match sent {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(_) => Some(crate::export::otlp::no_answer(timeout)),
                };
                match cause {
                    None => s.health.delivered(Signal::Metrics),
                    Some(cause) => {
                        STATS.export_failures.fetch_add(1, Relaxed);
                        s.health.failed(Signal::Metrics, &cause, 1);
                    }
                }
                if last.is_some() {
                    return;
                }
            }
        })?;
        Ok(Pusher::new(tx, thread))
    }
}

enum Sender {
    Grpc {
        endpoint: String,
        headers: Vec<(String, String)>,
        client: Option<MetricsServiceClient<tonic::transport::Channel>>,
    },
    Http {
        url: String,
        headers: Vec<(String, String)>,
        client: opentelemetry_http::hyper::HyperClient,
    },
}

impl Sender {
    fn new(s: &OtlpSettings) -> Sender {
        match s.protocol {
            Protocol::Grpc => {
                Sender::Grpc { endpoint: s.endpoint.clone(), headers: s.headers.clone(), client: None }
            }
            Protocol::HttpProtobuf => Sender::Http {
                url: crate::export::otlp::signal_url(&s.endpoint, "/v1/metrics"),
                headers: s.headers.clone(),
                client: opentelemetry_http::hyper::HyperClient::with_default_connector(s.timeout, None),
            },
        }
    }

    async fn send(&mut self, req: ExportMetricsServiceRequest) -> Result<(), String> {
        match self {
            Sender::Grpc { endpoint, headers, client } => {
                if client.is_none() {
                    let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
                        .map_err(|e| cause(&e))?
                        .connect()
                        .await
                        .map_err(|e| cause(&e))?;
                    *client = Some(MetricsServiceClient::new(channel));
                }
                let Some(c) = client.as_mut() else { return Err("no client".into()) };
                let mut request = tonic::Request::new(req);
                for (k, v) in headers.iter() {
                    if let (Ok(k), Ok(v)) = (
                        tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()),
                        tonic::metadata::MetadataValue::try_from(v.as_str()),
                    ) {
                        request.metadata_mut().insert(k, v);
                    }
                }
                match c.export(request).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        *client = None;
                        Err(cause(&e))
                    }
                }
            }
            Sender::Http { url, headers, client } => {
                let mut b = http::Request::builder()
                    .method("POST")
                    .uri(url.as_str())
                    .header("content-type", "application/x-protobuf");
                for (k, v) in headers.iter() {
                    b = b.header(k.as_str(), v.as_str());
                }
                let request = b.body(bytes::Bytes::from(req.encode_to_vec())).map_err(|e| cause(&e))?;
                let response = client.send_bytes(request).await.map_err(|e| cause(&*e))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("HTTP {}", response.status()))
                }
            }
        }
    }
}
