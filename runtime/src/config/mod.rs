//! Configuration: `configs/config.yaml` (every key documented there), the standard `OTEL_*`
//! environment variables on top, and builder methods for code.
//!
//! Unknown keys and bad values are errors that name the file, the line and the key.

pub use crate::caller::level::Directives;
use crate::caller::sampling::{Sampler, SamplerConfig};
use crate::export::console::ConsoleFormat;
use crate::export::Exporter;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use telemark_grammar::grammar::parse_duration;

/// A configuration error: where it is and what would be right.
///
/// `Debug` prints what `Display` does (`app.yaml:3:5: key `exporters.otlp.protocl`: ...`), so the
/// error reads the same when `main` returns it through `?` (which prints `Error: {:?}`).
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or the environment variable, the bad value came from.
    pub source: String,
    /// 1-based line in the file, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// The dotted key (`exporters.otlp.protocol`), when known.
    pub key: Option<String>,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if let Some(k) = &self.key {
            write!(f, ": key `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// As [`Display`](fmt::Display): what a `main` returning the error prints should read as a message,
/// not as a struct (the fields are public for code that wants them).
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}

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

/// `logging:` — which `tracing` events become log records.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LoggingConfig {
    /// Level directives for log records, `RUST_LOG` syntax.
    #[serde(deserialize_with = "de_directives")]
    pub level: Directives,
    /// Install telemark as the global `tracing` subscriber (default true). Set false to compose
    /// `telemark::tracing_layer()` with your own subscriber.
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
    /// Colors: `auto` (when the output is a terminal), `true` or `false`.
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

/// `exporters.otlp:`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// Collector endpoint (`http://localhost:4317` for gRPC, `http://localhost:4318` for HTTP);
    /// empty means no OTLP export. `OTEL_EXPORTER_OTLP_ENDPOINT` overrides it.
    pub endpoint: String,
    /// `grpc` or `http/protobuf`; `OTEL_EXPORTER_OTLP_PROTOCOL` overrides it.
    #[serde(deserialize_with = "de_protocol")]
    pub protocol: Protocol,
    /// Extra headers (API keys); `OTEL_EXPORTER_OTLP_HEADERS` adds to them.
    pub headers: BTreeMap<String, String>,
    /// Per-export timeout (`10s`); `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds) overrides it.
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: String::new(),
            protocol: Protocol::Grpc,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `export:` — the pipeline's buffers and timing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ExportConfig {
    /// Records each thread can hand over before telemark's thread drains them; past it they are
    /// dropped and counted.
    pub buffer_per_thread: usize,
    /// Spans and logs waiting for the OTLP exporter at most; past it they are dropped and counted.
    pub max_queue: usize,
    /// Most spans (or logs) per OTLP request.
    pub max_batch: usize,
    /// Longest wait before a partial batch is sent (`1s`).
    #[serde(deserialize_with = "de_duration")]
    pub delay: Duration,
    /// How often telemark's thread drains the per-thread buffers when nothing wakes it (`100ms`).
    #[serde(deserialize_with = "de_duration")]
    pub drain_interval: Duration,
    /// Longest time dropping the guard waits for the last export (`5s`).
    #[serde(deserialize_with = "de_duration")]
    pub shutdown_timeout: Duration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            buffer_per_thread: 4096,
            max_queue: 65_536,
            max_batch: 512,
            delay: Duration::from_secs(1),
            drain_interval: Duration::from_millis(100),
            shutdown_timeout: Duration::from_secs(5),
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
    /// Most groups kept; the least recently seen is evicted (and counted) first.
    pub max_groups: usize,
    /// Occurrences of one group exported per `rate_window`; the rest are only counted.
    pub rate_limit: u32,
    /// The rate-limit window (`1m`).
    #[serde(deserialize_with = "de_duration")]
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
    /// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds) overrides it.
    #[serde(deserialize_with = "de_duration")]
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

/// A section of the configuration that a crate built on the runtime reads and runs: `alerts:`,
/// which telemark-alerts owns (the facade's `telemark::Config` is `Config<its section>`). `init`
/// starts it once the runtime runs, and stops it, by the same deadline, before the runtime.
pub trait Extension: fmt::Debug + Default + Send + 'static {
    /// Starts what the section configures (`source`: the config file, for errors that name it);
    /// `None` when there is nothing to run.
    fn start(self, source: Option<&str>) -> Result<Option<Box<dyn Service>>, String>;
}

/// What an [`Extension`] runs beside telemark's thread.
pub trait Service: Send {
    /// Finishes by `deadline` (delivering what is queued until then) and stops.
    fn stop(self: Box<Self>, deadline: std::time::Instant);
}

/// An [`Extension`] that takes handlers of type `H` under a name: the alerts section takes alert
/// channels of your own (see [`Config::alert_handler`]).
pub trait AcceptsHandler<H> {
    /// Adds `handler` as `name`.
    fn add_handler(&mut self, name: String, handler: H);
}

/// The `alerts:` section of telemark built without its `alerts` feature: absent, or an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoAlerts;

impl<'de> Deserialize<'de> for NoAlerts {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(
            "alerts need telemark's `alerts` feature (on by default), which this build turned off",
        ))
    }
}

impl Extension for NoAlerts {
    fn start(self, _: Option<&str>) -> Result<Option<Box<dyn Service>>, String> {
        Ok(None)
    }
}

/// The whole configuration: the runtime's sections and the `alerts:` section `A`.
/// `Config::default()` is the console with everything on.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, bound(deserialize = "A: Deserialize<'de> + Default"))]
pub struct Config<A = NoAlerts> {
    /// Turns telemark off entirely (`OTEL_SDK_DISABLED=true`).
    pub disabled: bool,
    /// `service:`.
    pub service: ServiceConfig,
    /// `tracing:`.
    pub tracing: TracingConfig,
    /// `sampling:`.
    pub sampling: SamplingConfig,
    /// `logging:`.
    pub logging: LoggingConfig,
    /// `exporters:`.
    pub exporters: ExportersConfig,
    /// `export:`.
    pub export: ExportConfig,
    /// `exceptions:`.
    pub exceptions: ExceptionsConfig,
    /// `metrics:`.
    pub metrics: MetricsConfig,
    /// `alerts:` — evaluation, rules, overrides, channels, grouping (telemark-alerts).
    pub alerts: A,
    #[serde(skip)]
    pub(crate) extra: Vec<Box<dyn Exporter>>,
    /// The file this configuration came from (for errors that name it).
    #[serde(skip)]
    pub(crate) source: Option<String>,
}

impl<A: fmt::Debug> fmt::Debug for Config<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("disabled", &self.disabled)
            .field("service", &self.service)
            .field("tracing", &self.tracing)
            .field("sampling", &self.sampling)
            .field("logging", &self.logging)
            .field("exporters", &self.exporters)
            .field("export", &self.export)
            .field("exceptions", &self.exceptions)
            .field("metrics", &self.metrics)
            .field("alerts", &self.alerts)
            .field("extra_exporters", &self.extra.len())
            .finish()
    }
}

impl<A: serde::de::DeserializeOwned + Default> Config<A> {
    /// Reads a YAML file, then applies the `OTEL_*` environment variables.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source: source.clone(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        let mut c = Config::from_yaml(&text, &source)?;
        c.apply_env(&|k| std::env::var(k).ok())?;
        Ok(c)
    }

    /// Parses YAML text; `source` names it in errors. Environment variables are not applied.
    pub fn from_yaml(text: &str, source: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut c: Self = from_yaml_text(text, source)?;
        c.source = Some(source.to_string());
        Ok(c)
    }

    /// The defaults, then the file named by `TELEMARK_CONFIG` if set, then the `OTEL_*`
    /// environment variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("TELEMARK_CONFIG") {
            Ok(path) if !path.is_empty() => Self::from_file(path),
            _ => {
                let mut c = Self::default();
                c.apply_env(&|k| std::env::var(k).ok())?;
                Ok(c)
            }
        }
    }
}

impl<A> Config<A> {
    /// Applies the standard environment variables, read through `get`.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let env_err = |var: &str, message: String| ConfigError {
            source: format!("environment variable {var}"),
            line: None,
            column: None,
            key: None,
            message,
        };
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("OTEL_SDK_DISABLED") {
            self.disabled = match v.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(env_err(
                        "OTEL_SDK_DISABLED",
                        format!("expected `true` or `false`, got `{other}`"),
                    ))
                }
            };
        }
        if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
            for (k, val) in parse_pairs(&v).map_err(|m| env_err("OTEL_RESOURCE_ATTRIBUTES", m))? {
                self.service.attributes.insert(k, val);
            }
            if let Some(name) = self.service.attributes.remove("service.name") {
                self.service.name = name;
            }
        }
        if let Some(v) = get("OTEL_SERVICE_NAME") {
            self.service.name = v.trim().to_string();
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.exporters.otlp.endpoint = v.trim().to_string();
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            self.exporters.otlp.protocol =
                parse_protocol(&v).map_err(|m| env_err("OTEL_EXPORTER_OTLP_PROTOCOL", m))?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_HEADERS") {
            for (k, val) in parse_pairs(&v).map_err(|m| env_err("OTEL_EXPORTER_OTLP_HEADERS", m))? {
                self.exporters.otlp.headers.insert(k, val);
            }
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_TIMEOUT") {
            let ms: u64 = v.trim().parse().map_err(|_| {
                env_err(
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                    format!("expected milliseconds (an integer), got `{v}`"),
                )
            })?;
            self.exporters.otlp.timeout = Duration::from_millis(ms);
        }
        if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            let ms: u64 = v.trim().parse().map_err(|_| {
                env_err(
                    "OTEL_METRIC_EXPORT_INTERVAL",
                    format!("expected milliseconds (an integer), got `{v}`"),
                )
            })?;
            self.metrics.export_interval = Duration::from_millis(ms);
        }
        if let Some(v) = get("OTEL_TRACES_SAMPLER") {
            self.sampling.sampler = v.parse().map_err(|m| env_err("OTEL_TRACES_SAMPLER", m))?;
        }
        if let Some(v) = get("OTEL_TRACES_SAMPLER_ARG") {
            self.sampling.ratio = parse_ratio(&v).map_err(|m| env_err("OTEL_TRACES_SAMPLER_ARG", m))?;
        }
        if let Some(v) = get("RUST_LOG") {
            let d: Directives = v.parse().map_err(|m| env_err("RUST_LOG", m))?;
            self.tracing.level = d.clone();
            self.logging.level = d;
        }
        Ok(())
    }

    /// Sets `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service.name = name.into();
        self
    }
    /// Sends to an OTLP endpoint with `protocol`.
    pub fn otlp(mut self, endpoint: impl Into<String>, protocol: Protocol) -> Self {
        self.exporters.otlp.endpoint = endpoint.into();
        self.exporters.otlp.protocol = protocol;
        self
    }
    /// Adds an OTLP header.
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.exporters.otlp.headers.insert(key.into(), value.into());
        self
    }
    /// Sets the sampler.
    pub fn sampler(mut self, sampler: SamplerName, ratio: f64) -> Self {
        self.sampling = SamplingConfig { sampler, ratio: ratio.clamp(0.0, 1.0) };
        self
    }
    /// Sets the level directives for spans and for logs (`RUST_LOG` syntax).
    pub fn level(mut self, directives: &str) -> Result<Self, ConfigError> {
        let d: Directives = directives.parse().map_err(|message| ConfigError {
            source: "Config::level".into(),
            line: None,
            column: None,
            key: Some("tracing.level".into()),
            message,
        })?;
        self.tracing.level = d.clone();
        self.logging.level = d;
        Ok(self)
    }
    /// Turns the console exporter on or off (by default it is on when no OTLP endpoint is set).
    pub fn console(mut self, on: bool) -> Self {
        self.exporters.console.enabled = if on { Switch::On } else { Switch::Off };
        self
    }
    /// Chooses the console format.
    pub fn console_format(mut self, format: ConsoleFormat) -> Self {
        self.exporters.console.format = format;
        self
    }
    /// Adds an alert channel of your own under `name` (a `telemark::alerts::AlertHandler`, or a
    /// closure taking a `&Notification`), for rules that `notify` it; a panic inside it is caught
    /// and counted.
    pub fn alert_handler<H>(mut self, name: impl Into<String>, handler: H) -> Self
    where
        A: AcceptsHandler<H>,
    {
        self.alerts.add_handler(name.into(), handler);
        self
    }

    /// Adds an exporter of your own (an in-memory one for tests, say).
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.extra.push(Box::new(exporter));
        self
    }
    /// Whether to install telemark as the global `tracing` subscriber.
    pub fn install_subscriber(mut self, on: bool) -> Self {
        self.logging.install_subscriber = on;
        self
    }
}

fn list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s.trim() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" | "http" => Ok(Protocol::HttpProtobuf),
        "http/json" => Err("`http/json` is not supported; use `grpc` or `http/protobuf`".into()),
        other => Err(format!("unknown protocol `{other}`, expected `grpc` or `http/protobuf`")),
    }
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    let r: f64 = s.trim().parse().map_err(|_| format!("expected a number between 0 and 1, got `{s}`"))?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!("the ratio must be between 0 and 1, got {r}"));
    }
    Ok(r)
}

/// `k=v,k2=v2` with percent-encoded values (W3C baggage style, as the OTel spec says).
fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("expected `key=value`, got `{part}`"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("empty key in `{part}`"));
        }
        out.push((k.to_string(), percent_decode(v.trim())));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            // Bytes, not a str slice: what follows `%` may be part of a multi-byte character.
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn de_with<'de, D: Deserializer<'de>, T>(
    d: D,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    f(&scalar_text(d)?).map_err(de::Error::custom)
}

/// The text of a YAML scalar — a string, a number or a boolean — for values with a grammar of
/// their own (durations, thresholds, level directives): `10s` and `10` reach the grammar alike,
/// and a decimal stays one (`20.0`, not `20`).
#[doc(hidden)] // for telemark-alerts (`telemark_runtime::host`)
pub fn scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number or a boolean")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(format!("{v:?}"))
        }
    }
    d.deserialize_any(V)
}

/// One exception ignore pattern, checked as it is read, so a mistake names its entry
/// (`exceptions.ignore[1]`) and line.
struct Pattern(String);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = String::deserialize(d)?;
        match crate::exception::pattern_error(&p) {
            Some(why) => Err(de::Error::custom(format!("invalid ignore pattern `{p}`: {why}"))),
            None => Ok(Pattern(p)),
        }
    }
}

fn de_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Pattern>::deserialize(d)?.into_iter().map(|p| p.0).collect())
}
fn de_directives<'de, D: Deserializer<'de>>(d: D) -> Result<Directives, D::Error> {
    de_with(d, |s| s.parse())
}
fn de_sampler_name<'de, D: Deserializer<'de>>(d: D) -> Result<SamplerName, D::Error> {
    de_with(d, |s| s.parse())
}
fn de_ratio<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    de_with(d, parse_ratio)
}
fn de_protocol<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
    de_with(d, parse_protocol)
}
/// A duration in telemark's one duration grammar (`500ms`, `1.5s`, `1h30m`; see
/// [`telemark_grammar::grammar::parse_duration`]), for every duration key of the config. A YAML
/// number (`30`) gets the grammar's "needs a unit" message.
#[doc(hidden)] // for telemark-alerts (`telemark_runtime::host`)
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_with(d, parse_duration)
}
fn de_switch<'de, D: Deserializer<'de>>(d: D) -> Result<Switch, D::Error> {
    de_with(d, |s| match s.trim() {
        "auto" => Ok(Switch::Auto),
        "true" | "on" => Ok(Switch::On),
        "false" | "off" => Ok(Switch::Off),
        other => Err(format!("expected `auto`, `true` or `false`, got `{other}`")),
    })
}
fn de_format<'de, D: Deserializer<'de>>(d: D) -> Result<ConsoleFormat, D::Error> {
    de_with(d, |s| match s.trim() {
        "human" => Ok(ConsoleFormat::Human),
        "json" => Ok(ConsoleFormat::Json),
        other => Err(format!("unknown format `{other}`, expected `human` or `json`")),
    })
}
fn de_output<'de, D: Deserializer<'de>>(d: D) -> Result<ConsoleOutput, D::Error> {
    de_with(d, |s| match s.trim() {
        "stdout" => Ok(ConsoleOutput::Stdout),
        "stderr" => Ok(ConsoleOutput::Stderr),
        other => Err(format!("unknown output `{other}`, expected `stdout` or `stderr`")),
    })
}

/// Deserializes YAML `text` (`source` names it in errors) into a `T`, or a [`ConfigError`] with the
/// file, line, column and dotted key of the mistake. The key comes from the deserializer itself
/// (`serde_path_to_error` around serde-saphyr's), so it is right in block and flow style alike:
/// map keys joined by dots, sequence entries by their 0-based index in brackets
/// (`alerts.rules[1].window`).
#[doc(hidden)] // for telemark-alerts (`telemark_runtime::host`)
pub fn from_yaml_text<T: serde::de::DeserializeOwned>(text: &str, source: &str) -> Result<T, ConfigError> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().clone());
            e.into_inner()
        })
    })
    .map_err(|e| yaml_error(&e, path.as_ref(), source))
}

/// The dotted key of a path: `exporters.otlp.protocol`, `alerts.rules[1].window`; `None` for the
/// document itself.
fn dotted_key(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let mut key = String::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: k } | Segment::Enum { variant: k } => {
                // `alerts.rules` and `alerts.overrides` entries are read as `Spanned<_>` (to keep
                // their line), which serde-saphyr presents as a map with the entry under `value`.
                let spanned = k == "value"
                    && i >= 2
                    && matches!(segments[i - 1], Segment::Seq { .. })
                    && matches!(segments[i - 2], Segment::Map { key } if key == "rules" || key == "overrides");
                if spanned {
                    continue;
                }
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            Segment::Unknown => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push('?');
            }
        }
    }
    (!key.is_empty()).then_some(key)
}

/// Turns a YAML error into one that names the line, the column and the dotted key (from `path`,
/// where the deserializer was), with a suggestion for a misspelt key.
fn yaml_error(
    e: &serde_saphyr::Error,
    path: Option<&serde_path_to_error::Path>,
    source: &str,
) -> ConfigError {
    let loc = e.location();
    let line = loc.as_ref().map(|l| l.line()).filter(|l| *l > 0);
    let column = loc.as_ref().map(|l| l.column()).filter(|c| *c > 0);
    let raw = e.to_string();
    // The first line of the library's message, without its own "error:" and location prefixes.
    let mut first = raw.lines().next().unwrap_or(&raw).trim();
    first = first.strip_prefix("error:").unwrap_or(first).trim();
    if first.starts_with("line ") {
        if let Some(i) = first.find(": ") {
            first = &first[i + 2..];
        }
    }
    let key = path.and_then(dotted_key);
    let mut message = first.to_string();
    if let Some(unknown) = between(first, "unknown field `", "`") {
        if let Some((_, list)) = first.split_once("expected one of ") {
            let expected: Vec<&str> = list.split(',').map(|c| c.trim().trim_matches('`')).collect();
            if let Some(best) = closest(unknown, &expected) {
                message.push_str(&format!("; did you mean `{best}`?"));
            }
        }
    }
    ConfigError { source: source.to_string(), line, column, key, message }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_percent_decoded() {
        assert_eq!(
            parse_pairs("a=b%20c, api-key=x%3Dy").unwrap(),
            vec![("a".into(), "b c".into()), ("api-key".into(), "x=y".into())]
        );
        assert!(parse_pairs("novalue").is_err());
        // Never panics on odd input: `%` before a multi-byte character, or at the end.
        assert_eq!(parse_pairs("k=%é,j=50%,x=%4").unwrap()[0].1, "%é");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn maps_with_a_value_key_keep_it_in_the_key_path() {
        // Entries read with their line (`Spanned`, in the alerts section) add a `value` segment that
        // `key_path` drops; other maps with a `value` key keep it.
        let e =
            Config::<NoAlerts>::from_yaml("service:\n  attributes:\n    value: [1]\n", "t.yaml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("service.attributes.value"), "{e}");
    }
}
