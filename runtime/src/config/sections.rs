//! The sections of the configuration file other than `alerts:` (telemark-alerts owns that one),
//! with their defaults; values with a grammar of their own are read by `read`.

use super::check::{self, RedactedHeaders};
use super::read::{
    de_bytes_in, de_code_attributes, de_count, de_directives, de_endpoint, de_format, de_headers, de_output,
    de_patterns, de_protocol, de_ratio, de_regexes, de_sampler_name, de_span, de_switch, list,
};
pub use crate::caller::level::Directives;
pub use crate::caller::propagation::Propagator;
use crate::caller::sampling::{Sampler, SamplerConfig};
use crate::export::console::ConsoleFormat;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// `service:` — who is reporting (the OpenTelemetry resource).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// `service.name`; `OTEL_SERVICE_NAME` overrides it.
    pub name: String,
    /// `service.version`.
    pub version: Option<String>,
    /// `deployment.environment.name`.
    pub environment: Option<String>,
    /// More resource attributes; `OTEL_RESOURCE_ATTRIBUTES` adds to them.
    pub attributes: BTreeMap<String, String>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            name: default_service_name(),
            version: None,
            environment: None,
            attributes: BTreeMap::new(),
        }
    }
}

fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|n| n.split('-').next().unwrap_or(&n).to_string())
        .unwrap_or_else(|| "unknown_service".into())
}

/// `tracing:` — which spans are recorded.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TracingConfig {
    /// Level directives for spans, `RUST_LOG` syntax (`info,my_app::db=debug`).
    #[serde(deserialize_with = "de_directives")]
    pub level: Directives,
    /// The OpenTelemetry `code.*` attributes of a `#[traced]` function's span: `short` (the
    /// default), `full` or `off`; see [`CodeAttributes`].
    #[serde(deserialize_with = "de_code_attributes")]
    pub code_attributes: CodeAttributes,
}

/// Which `code.*` attributes a span of a `#[traced]` function (or `telemark::span`, a `tracing`
/// span) carries. `code.file.path` is the path rustc gave the file: relative to the workspace for
/// the program's own crates; for a crate from a registry, from the crate's directory on
/// (`serde-1.0.228/src/de.rs`, not the home directory it was unpacked in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodeAttributes {
    /// `code.file.path` and `code.line.number`; `code.function.name` only when the span is not
    /// named after its function (`name = ".."`): the span name already says it, and file and line
    /// find the function. The default: 70 bytes a span instead of `full`'s 117
    /// (tests/code_attributes.rs).
    #[default]
    Short,
    /// `code.function.name` (`module::path::function`), `code.file.path` and `code.line.number`
    /// on every span, as the semantic conventions recommend them.
    Full,
    /// No `code.*` attributes.
    Off,
}

/// `sampling:` — which traces are kept.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SamplingConfig {
    /// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`
    /// or `parentbased_traceidratio` (the default); `OTEL_TRACES_SAMPLER` overrides it.
    #[serde(deserialize_with = "de_sampler_name")]
    pub sampler: SamplerName,
    /// The ratio for the `*traceidratio` samplers, 0.0–1.0; `OTEL_TRACES_SAMPLER_ARG` overrides it.
    #[serde(deserialize_with = "de_ratio")]
    pub ratio: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig { sampler: SamplerName::ParentBasedTraceIdRatio, ratio: 1.0 }
    }
}

/// The samplers OpenTelemetry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SamplerName {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio,
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio,
}

const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

impl std::str::FromStr for SamplerName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "always_on" => SamplerName::AlwaysOn,
            "always_off" => SamplerName::AlwaysOff,
            "traceidratio" => SamplerName::TraceIdRatio,
            "parentbased_always_on" => SamplerName::ParentBasedAlwaysOn,
            "parentbased_always_off" => SamplerName::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => SamplerName::ParentBasedTraceIdRatio,
            other => return Err(format!("unknown sampler `{other}`, expected one of {}", list(SAMPLERS))),
        })
    }
}

impl SamplingConfig {
    pub(crate) fn sampler(&self) -> SamplerConfig {
        let (root, parent_based) = match self.sampler {
            SamplerName::AlwaysOn => (Sampler::AlwaysOn, false),
            SamplerName::AlwaysOff => (Sampler::AlwaysOff, false),
            SamplerName::TraceIdRatio => (Sampler::TraceIdRatio(self.ratio), false),
            SamplerName::ParentBasedAlwaysOn => (Sampler::AlwaysOn, true),
            SamplerName::ParentBasedAlwaysOff => (Sampler::AlwaysOff, true),
            SamplerName::ParentBasedTraceIdRatio => (Sampler::TraceIdRatio(self.ratio), true),
        };
        SamplerConfig { root, parent_based }
    }
}

/// `propagators:` — the formats `propagation::inject` writes and `propagation::extract` reads, in
/// order (`tracecontext`, `baggage`, `b3`, `b3multi`, or `none` alone); `OTEL_PROPAGATORS`
/// overrides it. The default is `[tracecontext, baggage]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagators(pub Vec<Propagator>);

impl Default for Propagators {
    fn default() -> Self {
        Propagators(vec![Propagator::TraceContext, Propagator::Baggage])
    }
}

impl<'de> Deserialize<'de> for Propagators {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// One name of the list, read where it is written (so an error names its line).
        struct One(Option<Propagator>);
        impl<'de> Deserialize<'de> for One {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::read::de_with(d, Propagator::parse_one).map(One)
            }
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Propagators;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of propagators ([tracecontext, baggage])")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Propagators, E> {
                Propagator::parse_list(v).map(Propagators).map_err(E::custom)
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Propagators, S::Error> {
                let mut out = Vec::new();
                let mut none = false;
                while let Some(One(p)) = seq.next_element()? {
                    match p {
                        Some(p) if !out.contains(&p) => out.push(p),
                        Some(_) => {}
                        None => none = true,
                    }
                }
                if none && !out.is_empty() {
                    return Err(serde::de::Error::custom("`none` cannot be combined with other propagators"));
                }
                Ok(Propagators(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `logging:` — which `tracing` events become log records.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LoggingConfig {
    /// Level directives for log records, `RUST_LOG` syntax.
    #[serde(deserialize_with = "de_directives")]
    pub level: Directives,
    /// Install telemark as the global `tracing` subscriber (default true). Set false to compose
    /// `telemark::tracing_layer()` with your own subscriber. When on and the program already set
    /// a global subscriber without that layer, `init` fails with `Error::SubscriberAlreadySet`.
    pub install_subscriber: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { level: Directives::default(), install_subscriber: true }
    }
}

/// `exporters:` — where spans and logs go.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ExportersConfig {
    /// The console exporter.
    pub console: ConsoleConfig,
    /// The OTLP exporter.
    pub otlp: OtlpConfig,
}

/// `exporters.console:`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ConsoleConfig {
    /// `auto` (on when no OTLP endpoint is set, the default), `true` or `false`.
    #[serde(deserialize_with = "de_switch")]
    pub enabled: Switch,
    /// `human` (span trees and readable lines) or `json` (one object per line).
    #[serde(deserialize_with = "de_format")]
    pub format: ConsoleFormat,
    /// `stdout` (default) or `stderr`.
    #[serde(deserialize_with = "de_output")]
    pub output: ConsoleOutput,
    /// Colors: `auto` (when the output is a terminal and `NO_COLOR` is unset or empty), `true` or
    /// `false`.
    #[serde(deserialize_with = "de_switch")]
    pub color: Switch,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: Switch::Auto,
            format: ConsoleFormat::Human,
            output: ConsoleOutput::Stdout,
            color: Switch::Auto,
        }
    }
}

/// `auto`, `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Switch {
    Auto,
    On,
    Off,
}

/// Where the console writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ConsoleOutput {
    Stdout,
    Stderr,
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (port 4317 by convention).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318 by convention).
    HttpProtobuf,
}

/// Compression of OTLP request bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// None (the default, as in the OpenTelemetry SDKs).
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip` over HTTP, `grpc-encoding: gzip` over gRPC).
    Gzip,
}

/// `exporters.otlp:`. Each of `traces:`, `logs:` and `metrics:` may override any key for its
/// signal (as the `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_*` variables do). `Debug` shows the
/// endpoint redacted and the headers' names only.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// Collector endpoint (`http://localhost:4317` for gRPC, `http://localhost:4318` for HTTP,
    /// `https://…` for TLS); empty means no OTLP export. Without a scheme (`collector:4317`) it is
    /// `https` unless `insecure` is true. `OTEL_EXPORTER_OTLP_ENDPOINT` overrides it.
    #[serde(deserialize_with = "de_endpoint")]
    pub endpoint: String,
    /// `grpc` or `http/protobuf`; `OTEL_EXPORTER_OTLP_PROTOCOL` overrides it.
    #[serde(deserialize_with = "de_protocol")]
    pub protocol: Protocol,
    /// Extra headers (API keys); `OTEL_EXPORTER_OTLP_HEADERS` adds to them. Never printed: `Debug`
    /// and errors show the names only.
    #[serde(deserialize_with = "de_headers")]
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout (`10s`, 1ms..=10m); `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds)
    /// overrides it.
    #[serde(deserialize_with = "de_otlp_timeout")]
    pub timeout: Duration,
    /// `none` or `gzip`; `OTEL_EXPORTER_OTLP_COMPRESSION` overrides it.
    #[serde(deserialize_with = "de_compression")]
    pub compression: Compression,
    /// An endpoint written without a scheme is plaintext (`http://`) rather than TLS;
    /// `OTEL_EXPORTER_OTLP_INSECURE`. An `https://` endpoint is always TLS.
    pub insecure: bool,
    /// A PEM file of the CA certificate(s) to trust instead of the platform's roots
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub certificate: Option<std::path::PathBuf>,
    /// For mutual TLS: a PEM file of the client's certificate chain
    /// (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub client_certificate: Option<std::path::PathBuf>,
    /// For mutual TLS: a PEM file of the client's private key (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub client_key: Option<std::path::PathBuf>,
    /// Overrides for spans (`OTEL_EXPORTER_OTLP_TRACES_*`).
    pub traces: OtlpSignalConfig,
    /// Overrides for log records (`OTEL_EXPORTER_OTLP_LOGS_*`).
    pub logs: OtlpSignalConfig,
    /// Overrides for the metrics push (`OTEL_EXPORTER_OTLP_METRICS_*`).
    pub metrics: OtlpSignalConfig,
}

/// `exporters.otlp.traces:`, `.logs:`, `.metrics:` — what differs for one signal; a key left
/// out is taken from `exporters.otlp`. An endpoint given here is used as written (for HTTP, the
/// whole URL, as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is); with no path, the signal's default
/// one (`/v1/traces`) is added.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct OtlpSignalConfig {
    /// The signal's endpoint.
    #[serde(deserialize_with = "de_opt_endpoint")]
    pub endpoint: Option<String>,
    /// Its protocol.
    #[serde(deserialize_with = "de_opt_protocol")]
    pub protocol: Option<Protocol>,
    /// Its headers (replacing `exporters.otlp.headers`).
    #[serde(deserialize_with = "de_opt_headers")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Its per-request timeout.
    #[serde(deserialize_with = "de_opt_otlp_timeout")]
    pub timeout: Option<Duration>,
    /// Its compression.
    #[serde(deserialize_with = "de_opt_compression")]
    pub compression: Option<Compression>,
    /// Whether its schemeless endpoint is plaintext.
    pub insecure: Option<bool>,
    /// Its CA certificate file.
    pub certificate: Option<std::path::PathBuf>,
    /// Its client certificate file.
    pub client_certificate: Option<std::path::PathBuf>,
    /// Its client key file.
    pub client_key: Option<std::path::PathBuf>,
}

impl fmt::Debug for OtlpSignalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSignalConfig")
            .field("endpoint", &self.endpoint.as_deref().map(|e| check::redact_url(e, check::Path::Keep)))
            .field("protocol", &self.protocol)
            .field("headers", &self.headers.as_ref().map(RedactedHeaders))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("insecure", &self.insecure)
            .field("certificate", &self.certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &check::redact_url(&self.endpoint, check::Path::Keep))
            .field("protocol", &self.protocol)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("insecure", &self.insecure)
            .field("certificate", &self.certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .field("traces", &self.traces)
            .field("logs", &self.logs)
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: String::new(),
            protocol: Protocol::Grpc,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            compression: Compression::None,
            insecure: false,
            certificate: None,
            client_certificate: None,
            client_key: None,
            traces: OtlpSignalConfig::default(),
            logs: OtlpSignalConfig::default(),
            metrics: OtlpSignalConfig::default(),
        }
    }
}

/// One signal's OTLP destination, with the overrides applied and the endpoint made whole.
#[derive(Clone, PartialEq)]
pub(crate) struct Destination {
    /// `http://…` or `https://…`, with the signal's path for HTTP.
    pub url: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub compression: Compression,
    pub tls: crate::tls::TlsFiles,
    /// The config key (and variable) the TLS files came from, for messages.
    pub tls_key: String,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("url", &check::redact_url(&self.url, check::Path::Keep))
            .field("protocol", &self.protocol)
            .field("headers", &check::RedactedPairs(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The signals' names in keys (`exporters.otlp.traces`) and variables (`…_TRACES_…`).
pub(crate) const SIGNALS: [(&str, &str); 3] =
    [("traces", "TRACES"), ("logs", "LOGS"), ("metrics", "METRICS")];

/// The HTTP paths of the three signals.
pub(crate) const HTTP_PATHS: [&str; 3] = ["/v1/traces", "/v1/logs", "/v1/metrics"];

impl OtlpConfig {
    /// The overrides of signal `i` (0 traces, 1 logs, 2 metrics).
    pub(crate) fn signal(&self, i: usize) -> &OtlpSignalConfig {
        [&self.traces, &self.logs, &self.metrics][i]
    }

    pub(crate) fn signal_mut(&mut self, i: usize) -> &mut OtlpSignalConfig {
        match i {
            0 => &mut self.traces,
            1 => &mut self.logs,
            _ => &mut self.metrics,
        }
    }

    /// Where signal `i` goes, or `None` when it has no endpoint. Fails when the endpoint and the
    /// TLS files disagree (a certificate for a plaintext endpoint).
    pub(crate) fn destination(&self, i: usize) -> Result<Option<Destination>, String> {
        let o = self.signal(i);
        let (own, endpoint) = match &o.endpoint {
            Some(e) if !e.trim().is_empty() => (true, e.trim()),
            _ => (false, self.endpoint.trim()),
        };
        if endpoint.is_empty() {
            return Ok(None);
        }
        let protocol = o.protocol.unwrap_or(self.protocol);
        let insecure = o.insecure.unwrap_or(self.insecure);
        let mut url = match endpoint.split_once("://") {
            Some(_) => endpoint.to_string(),
            None if insecure => format!("http://{endpoint}"),
            None => format!("https://{endpoint}"),
        };
        if protocol == Protocol::HttpProtobuf {
            url = if own { with_default_path(&url, HTTP_PATHS[i]) } else { signal_url(&url, HTTP_PATHS[i]) };
        }
        let pick =
            |own: &Option<std::path::PathBuf>, all: &Option<std::path::PathBuf>| own.clone().or(all.clone());
        let tls = crate::tls::TlsFiles {
            ca: pick(&o.certificate, &self.certificate),
            client_certificate: pick(&o.client_certificate, &self.client_certificate),
            client_key: pick(&o.client_key, &self.client_key),
        };
        let own_tls = o.certificate.is_some() || o.client_certificate.is_some() || o.client_key.is_some();
        let (key, var) = SIGNALS[i];
        let tls_key = if own_tls {
            format!("exporters.otlp.{key} (OTEL_EXPORTER_OTLP_{var}_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY)")
        } else {
            "exporters.otlp (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY)".to_string()
        };
        let is_https = url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if tls.is_set() && !is_https {
            return Err(format!(
                "{tls_key}: TLS files are set but the endpoint `{}` is plaintext; use an https:// endpoint \
                 (telemark never sends in clear what was meant to be encrypted)",
                check::redact_url(&url, check::Path::Keep)
            ));
        }
        let headers = o.headers.as_ref().unwrap_or(&self.headers);
        Ok(Some(Destination {
            url,
            protocol,
            headers: headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            timeout: o.timeout.unwrap_or(self.timeout),
            compression: o.compression.unwrap_or(self.compression),
            tls,
            tls_key,
        }))
    }
}

/// `http://collector:4318` + `/v1/logs` (a base that already names a signal's path loses it).
pub(crate) fn signal_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = HTTP_PATHS.iter().find_map(|s| base.strip_suffix(s)).unwrap_or(base);
    format!("{base}{path}")
}

/// A signal's own endpoint as written, or with `path` when it has none.
fn with_default_path(url: &str, path: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) if after_scheme.len() > i + 1 => url.to_string(),
        _ => format!("{}{path}", url.trim_end_matches('/')),
    }
}

/// `export:` — the pipeline's buffers and timing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ExportConfig {
    /// Records each thread can hand over before telemark's thread drains them; past it they are
    /// dropped and counted (16..=1048576).
    #[serde(deserialize_with = "de_buffer_per_thread")]
    pub buffer_per_thread: usize,
    /// Spans and logs queued for the OTLP exporter (or being sent) at most (`1048576`;
    /// 1..=16777216); past it the oldest batches are dropped and counted (`queue_full`).
    #[serde(deserialize_with = "de_max_queue")]
    pub max_queue: usize,
    /// Bytes of encoded spans and logs queued for the OTLP exporter (or being sent) at most
    /// (`64MiB`; 64KiB..=4GiB): while the backend is down, telemetry is kept up to this and
    /// delivered in order when it returns; past it the oldest batches are dropped and counted
    /// (`queue_full`). With `max_queue`, it bounds the exporter's memory.
    #[serde(deserialize_with = "de_max_queue_bytes")]
    pub max_queue_bytes: usize,
    /// Most spans (or logs) per OTLP request (`8192`; 1..=65536); a request is also cut by size
    /// (`max_request_bytes`).
    #[serde(deserialize_with = "de_max_batch")]
    pub max_batch: usize,
    /// The largest OTLP request body (`2MiB`; 64KiB..=64MiB; gRPC servers take 4 MiB by
    /// default): a batch is sent before it would grow past it, so no span or log record makes
    /// others wait or drop; one that alone is larger is dropped and counted (`too_large`).
    #[serde(deserialize_with = "de_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Longest wait before a partial batch is sent (`1s`; 1ms..=10m).
    #[serde(deserialize_with = "de_delay")]
    pub delay: Duration,
    /// How often telemark's thread drains the per-thread buffers when nothing wakes it (`100ms`;
    /// 1ms..=1m).
    #[serde(deserialize_with = "de_drain_interval")]
    pub drain_interval: Duration,
    /// Longest time dropping the guard waits for the last export (`5s`; 1ms..=10m).
    #[serde(deserialize_with = "de_shutdown_timeout")]
    pub shutdown_timeout: Duration,
    /// How long a batch is retried before it is dropped and counted (`retries_exhausted`):
    /// the age, since it was sealed, past which it is given up (`5m`; 1s..=1d), like the
    /// Collector's `retry_on_failure.max_elapsed_time`.
    #[serde(deserialize_with = "de_max_retry_time")]
    pub max_retry_time: Duration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            buffer_per_thread: 4096,
            max_queue: 1 << 20,
            max_queue_bytes: 64 << 20,
            max_batch: 8192,
            max_request_bytes: 2 << 20,
            delay: Duration::from_secs(1),
            drain_interval: Duration::from_millis(100),
            shutdown_timeout: Duration::from_secs(5),
            max_retry_time: Duration::from_secs(5 * 60),
        }
    }
}

/// `exceptions:` — grouping of recorded errors.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ExceptionsConfig {
    /// Capture a backtrace with each exception (unresolved on the caller's thread, symbolised on
    /// telemark's own); `#[capture_exceptions(backtrace = ..)]` overrides it per function.
    pub capture_backtrace: bool,
    /// Patterns of errors to count but never export: a type path (`io::ErrorKind::WouldBlock`)
    /// matches the end of the type, anything else is looked for in the type and the message.
    #[serde(deserialize_with = "de_patterns")]
    pub ignore: Vec<String>,
    /// Most groups kept (1..=1000000); the least recently seen is evicted (and counted) first.
    #[serde(deserialize_with = "de_max_groups")]
    pub max_groups: usize,
    /// Occurrences of one group exported per `rate_window` (1..=1000000); the rest are only
    /// counted.
    #[serde(deserialize_with = "de_rate_limit")]
    pub rate_limit: u32,
    /// The rate-limit window (`1m`; 1ms..=1d).
    #[serde(deserialize_with = "de_rate_window")]
    pub rate_window: Duration,
}

impl Default for ExceptionsConfig {
    fn default() -> Self {
        ExceptionsConfig {
            capture_backtrace: true,
            ignore: Vec::new(),
            max_groups: 1000,
            rate_limit: 10,
            rate_window: Duration::from_secs(60),
        }
    }
}

/// `metrics:` — per-function call counts and latency histograms.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Count every call of a `#[traced]` function by outcome and time it (on by default). Off,
    /// a call whose span is not recorded costs no clock read.
    pub enabled: bool,
    /// How often the metrics are pushed over OTLP (when an OTLP endpoint is configured);
    /// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds) overrides it; 10ms..=1d.
    #[serde(deserialize_with = "de_metric_export_interval")]
    pub export_interval: Duration,
    /// `prometheus:` — a scrape endpoint.
    pub prometheus: PrometheusConfig,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            export_interval: Duration::from_secs(10),
            prometheus: PrometheusConfig::default(),
        }
    }
}

/// `metrics.prometheus:` — a Prometheus scrape endpoint served by telemark's own thread.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PrometheusConfig {
    /// The address to listen on (`127.0.0.1:9464`; port 0 picks a free one, see
    /// `Guard::prometheus_address`). Unset: no endpoint.
    pub listen: Option<String>,
}

/// `scrub:` — masking secrets (and, if asked, personal data) in every string telemark exports:
/// span, event and log attributes, log bodies, exception messages and stack traces, status
/// messages, span names — on telemark's thread, before any exporter (the console included) sees
/// them. On by default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ScrubConfig {
    /// Mask secrets (`true`). Off, everything is exported as recorded.
    pub enabled: bool,
    /// Also mask e-mail addresses and IPv4/IPv6 addresses (`false`).
    pub personal_data: bool,
    /// More keys whose values are secrets: regular expressions matched (case-insensitively)
    /// against attribute keys and the keys found in text (`password: "…"`, `token=…`), besides
    /// the built-in list (Sentry's: `password`, `secret`, `token`, `auth`, `cookie`, `session`, …).
    #[serde(deserialize_with = "de_regexes")]
    pub keys: Vec<String>,
    /// More values to mask wherever they appear: regular expressions (the `regex-lite` syntax).
    #[serde(deserialize_with = "de_regexes")]
    pub values: Vec<String>,
    /// Keys never scrubbed (compared case-insensitively, whole): their values are exported as
    /// recorded.
    pub allow: Vec<String>,
    /// What a masked value becomes (`[REDACTED]`).
    pub replacement: String,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            enabled: true,
            personal_data: false,
            keys: Vec::new(),
            values: Vec::new(),
            allow: Vec::new(),
            replacement: "[REDACTED]".to_string(),
        }
    }
}

/// `limits:` — the OpenTelemetry SDK's attribute limits: how long a string value and how many
/// attributes and events one span or log record may carry; what is over is cut or dropped and
/// counted (`dropped_attributes_count`, `dropped_events_count`). The `OTEL_*_LIMIT` variables
/// override them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Longest string value, in bytes of UTF-8 (`4096`; `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`): a
    /// longer one is cut on a character boundary and ends with `…`, within the limit. It applies
    /// to exception messages and stack traces, log bodies, status messages and span names too.
    /// 16..=1MiB.
    #[serde(deserialize_with = "de_value_length")]
    pub attribute_value_length: usize,
    /// Most attributes on one span or log record (`128`; `OTEL_ATTRIBUTE_COUNT_LIMIT`). 0..=65535.
    #[serde(deserialize_with = "de_item_count")]
    pub attribute_count: usize,
    /// For spans only, over `attribute_value_length` (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    #[serde(deserialize_with = "de_opt_value_length")]
    pub span_attribute_value_length: Option<usize>,
    /// For spans only, over `attribute_count` (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`).
    #[serde(deserialize_with = "de_opt_item_count")]
    pub span_attribute_count: Option<usize>,
    /// Most events on one span (`128`; `OTEL_SPAN_EVENT_COUNT_LIMIT`). 0..=65535.
    #[serde(deserialize_with = "de_item_count")]
    pub span_event_count: usize,
    /// For log records only, over `attribute_value_length`
    /// (`OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    #[serde(deserialize_with = "de_opt_value_length")]
    pub log_attribute_value_length: Option<usize>,
    /// For log records only, over `attribute_count` (`OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT`).
    #[serde(deserialize_with = "de_opt_item_count")]
    pub log_attribute_count: Option<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            attribute_value_length: crate::caller::value::MAX_VALUE_LEN,
            attribute_count: 128,
            span_attribute_value_length: None,
            span_attribute_count: None,
            span_event_count: 128,
            log_attribute_value_length: None,
            log_attribute_count: None,
        }
    }
}

impl LimitsConfig {
    /// The variables that set each limit, and where it goes.
    pub(crate) const VARIABLES: [&'static str; 7] = [
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_SPAN_EVENT_COUNT_LIMIT",
        "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
    ];

    /// The range of the limit `VARIABLES[i]` names.
    pub(crate) fn range(i: usize) -> &'static super::check::Count {
        if matches!(i, 0 | 2 | 5) {
            &super::check::VALUE_LENGTH
        } else {
            &super::check::ITEM_COUNT
        }
    }

    /// Every limit with its key, for validation.
    pub(crate) fn each(&self) -> [(&'static str, Option<usize>); 7] {
        [
            ("limits.attribute_value_length", Some(self.attribute_value_length)),
            ("limits.attribute_count", Some(self.attribute_count)),
            ("limits.span_attribute_value_length", self.span_attribute_value_length),
            ("limits.span_attribute_count", self.span_attribute_count),
            ("limits.span_event_count", Some(self.span_event_count)),
            ("limits.log_attribute_value_length", self.log_attribute_value_length),
            ("limits.log_attribute_count", self.log_attribute_count),
        ]
    }

    /// Sets the limit `VARIABLES[i]` names.
    pub(crate) fn set(&mut self, i: usize, n: usize) {
        match i {
            0 => self.attribute_value_length = n,
            1 => self.attribute_count = n,
            2 => self.span_attribute_value_length = Some(n),
            3 => self.span_attribute_count = Some(n),
            4 => self.span_event_count = n,
            5 => self.log_attribute_value_length = Some(n),
            _ => self.log_attribute_count = Some(n),
        }
    }
}

/// A deserializer for each ranged key, checking its range from [`check`] as the value is read (so
/// the error names the key's line).
macro_rules! ranged {
    ($($name:ident: $kind:ident $limit:ident $(as $t:ty)?;)*) => {$(
        ranged!(@one $name $kind $limit $($t)?);
    )*};
    (@one $name:ident count $limit:ident $t:ty) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
            de_count(d, &check::$limit)
        }
    };
    (@one $name:ident bytes $limit:ident) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
            de_bytes_in(d, &check::$limit)
        }
    };
    (@one $name:ident span $limit:ident) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            de_span(d, &check::$limit)
        }
    };
}

fn de_compression<'de, D: Deserializer<'de>>(d: D) -> Result<Compression, D::Error> {
    super::read::de_with(d, super::read::parse_compression)
}

/// An optional value read by `f` (`null`: unset).
fn de_opt<'de, D: Deserializer<'de>, T>(
    d: D,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => f(&s).map(Some).map_err(serde::de::Error::custom),
    }
}
fn de_opt_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    de_opt(d, |s| super::read::check_endpoint(s).map(|()| s.trim().to_string()))
}
fn de_opt_protocol<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Protocol>, D::Error> {
    de_opt(d, super::read::parse_protocol)
}
fn de_opt_compression<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Compression>, D::Error> {
    de_opt(d, super::read::parse_compression)
}
fn de_opt_otlp_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_opt(d, |s| check::OTLP_TIMEOUT.check(telemark_grammar::grammar::parse_duration(s)?))
}
fn de_opt_headers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    de_headers(d).map(Some)
}

ranged! {
    de_otlp_timeout: span OTLP_TIMEOUT;
    de_buffer_per_thread: count BUFFER_PER_THREAD as usize;
    de_max_queue: count MAX_QUEUE as usize;
    de_max_queue_bytes: bytes MAX_QUEUE_BYTES;
    de_max_batch: count MAX_BATCH as usize;
    de_delay: span DELAY;
    de_drain_interval: span DRAIN_INTERVAL;
    de_shutdown_timeout: span SHUTDOWN_TIMEOUT;
    de_max_retry_time: span MAX_RETRY_TIME;
    de_max_groups: count MAX_GROUPS as usize;
    de_rate_limit: count RATE_LIMIT as u32;
    de_rate_window: span RATE_WINDOW;
    de_metric_export_interval: span METRIC_EXPORT_INTERVAL;
    de_value_length: count VALUE_LENGTH as usize;
    de_item_count: count ITEM_COUNT as usize;
    de_max_request_bytes: bytes MAX_REQUEST_BYTES;
}

/// An optional whole number in `range` (`null`: unset).
fn de_opt_in<'de, D: Deserializer<'de>>(
    d: D,
    range: &super::check::Count,
) -> Result<Option<usize>, D::Error> {
    match Option::<u64>::deserialize(d)? {
        None => Ok(None),
        Some(n) => range.check(n).map(|n| Some(n as usize)).map_err(serde::de::Error::custom),
    }
}
fn de_opt_value_length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    de_opt_in(d, &check::VALUE_LENGTH)
}
fn de_opt_item_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    de_opt_in(d, &check::ITEM_COUNT)
}
