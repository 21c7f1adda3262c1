//! The one client of the OTLP thread: one gRPC channel or one HTTP client, and one set of headers
//! (checked once, for every signal), shared by the span, log and metric exporters.

use super::metrics::ExportMetricsServiceRequest;
use super::OtlpSettings;
use crate::config::Protocol;
use crate::export::otlp::health::cause;
use opentelemetry_http::HttpClient as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_sdk::logs::LogExporter as _;
use opentelemetry_sdk::trace::SpanExporter as _;
use prost::Message as _;
use std::collections::HashMap;

/// The exporters of the three signals, over one connection.
pub(super) struct Client {
    pub spans: opentelemetry_otlp::SpanExporter,
    pub logs: opentelemetry_otlp::LogExporter,
    pub metrics: MetricsClient,
}

/// Sends telemark's own metrics requests (encoded from its tables, not through the SDK).
pub(super) enum MetricsClient {
    Grpc { client: MetricsServiceClient<tonic::transport::Channel>, metadata: tonic::metadata::MetadataMap },
    Http { url: String, headers: HashMap<String, String>, client: opentelemetry_http::hyper::HyperClient },
}

/// `http://collector:4318` + `/v1/logs` (a base that already names a signal's path loses it).
pub(crate) fn signal_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let base =
        ["/v1/traces", "/v1/logs", "/v1/metrics"].iter().find_map(|s| base.strip_suffix(s)).unwrap_or(base);
    format!("{base}{path}")
}

/// The headers as gRPC metadata; an invalid name or value is an error for every signal.
fn metadata(headers: &[(String, String)]) -> Result<tonic::metadata::MetadataMap, String> {
    let mut md = tonic::metadata::MetadataMap::new();
    for (k, v) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("invalid OTLP header name `{k}`"))?;
        let val = v.parse().map_err(|_| format!("invalid value for OTLP header `{k}`"))?;
        md.insert(key, val);
    }
    Ok(md)
}

/// The headers for HTTP; an invalid name or value is an error for every signal.
fn http_headers(headers: &[(String, String)]) -> Result<HashMap<String, String>, String> {
    for (k, v) in headers {
        http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid OTLP header name `{k}`"))?;
        http::HeaderValue::from_str(v).map_err(|_| format!("invalid value for OTLP header `{k}`"))?;
    }
    Ok(headers.iter().cloned().collect())
}

/// Builds the client (inside the OTLP thread's runtime); fails on a bad endpoint or header.
pub(super) fn build(s: &OtlpSettings) -> Result<Client, String> {
    let err = |e: &dyn std::fmt::Display| {
        format!("OTLP endpoint `{}` (exporters.otlp.endpoint, OTEL_EXPORTER_OTLP_ENDPOINT): {e}", s.endpoint)
    };
    let (mut spans, mut logs, metrics) = match s.protocol {
        Protocol::Grpc => {
            let metadata = metadata(&s.headers)?;
            let channel = tonic::transport::Endpoint::from_shared(s.endpoint.clone())
                .map_err(|e| err(&cause(&e)))?
                .timeout(s.timeout)
                .connect_lazy();
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_channel(channel.clone())
                .with_timeout(s.timeout)
                .with_metadata(metadata.clone())
                .build()
                .map_err(|e| err(&e))?;
            let logs = opentelemetry_otlp::LogExporter::builder()
                .with_tonic()
                .with_channel(channel.clone())
                .with_timeout(s.timeout)
                .with_metadata(metadata.clone())
                .build()
                .map_err(|e| err(&e))?;
            (spans, logs, MetricsClient::Grpc { client: MetricsServiceClient::new(channel), metadata })
        }
        Protocol::HttpProtobuf => {
            let headers = http_headers(&s.headers)?;
            let client = opentelemetry_http::hyper::HyperClient::with_default_connector(s.timeout, None);
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client.clone())
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(signal_url(&s.endpoint, "/v1/traces"))
                .with_timeout(s.timeout)
                .with_headers(headers.clone())
                .build()
                .map_err(|e| err(&e))?;
            let logs = opentelemetry_otlp::LogExporter::builder()
                .with_http()
                .with_http_client(client.clone())
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(signal_url(&s.endpoint, "/v1/logs"))
                .with_timeout(s.timeout)
                .with_headers(headers.clone())
                .build()
                .map_err(|e| err(&e))?;
            let url = signal_url(&s.endpoint, "/v1/metrics");
            (spans, logs, MetricsClient::Http { url, headers, client })
        }
    };
    spans.set_resource(&s.resource);
    logs.set_resource(&s.resource);
    Ok(Client { spans, logs, metrics })
}

impl MetricsClient {
    /// Sends one request; the cause (with its sources) when it fails.
    pub(super) async fn send(&mut self, req: ExportMetricsServiceRequest) -> Result<(), String> {
        match self {
            MetricsClient::Grpc { client, metadata } => {
                let mut request = tonic::Request::new(req);
                *request.metadata_mut() = metadata.clone();
                client.export(request).await.map(|_| ()).map_err(|e| cause(&e))
            }
            MetricsClient::Http { url, headers, client } => {
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
