//! Configuration: `configs/config.yaml` (every key documented there), the standard `OTEL_*`
//! environment variables on top, and builder methods for code.
//!
//! Unknown keys and bad values are errors that name the file, the line and the key.

pub(crate) mod check;
mod read;
mod sections;

#[cfg(feature = "otlp")]
pub(crate) use read::percent_decode;
#[doc(hidden)] // for telemark-alerts (`telemark_runtime::host`)
pub use read::{de_duration, de_span, from_yaml_text, scalar_text};
pub use sections::*;

use crate::export::console::ConsoleFormat;
use crate::export::Exporter;
use check::{Count, Span};
use read::{
    check_endpoint, check_header, key_at_line, parse_compression, parse_pairs, parse_protocol, parse_ratio,
};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::fmt;
use std::path::Path;
use std::time::Duration;

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
    /// `propagators:` (`OTEL_PROPAGATORS`).
    pub propagators: Propagators,
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
    /// `scrub:`.
    pub scrub: ScrubConfig,
    /// `limits:`.
    pub limits: LimitsConfig,
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
            .field("propagators", &self.propagators)
            .field("logging", &self.logging)
            .field("exporters", &self.exporters)
            .field("export", &self.export)
            .field("exceptions", &self.exceptions)
            .field("metrics", &self.metrics)
            .field("scrub", &self.scrub)
            .field("limits", &self.limits)
            .field("alerts", &self.alerts)
            .field("extra_exporters", &self.extra.len())
            .finish()
    }
}

impl<A: serde::de::DeserializeOwned + Default> Config<A> {
    /// Reads a YAML file, then applies the `OTEL_*` environment variables.
    ///
    /// The file must be a regular file (not a directory, a device such as `/dev/zero`, or a FIFO)
    /// of at most 1 MiB, in UTF-8.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let text = read_file(path, &source)?;
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

/// The text of the config file at `path`: a regular file (checked before it is opened, and again
/// on the open file) of at most [`check::MAX_FILE_BYTES`], read through a bound of that size
/// (so a file that grows meanwhile cannot make it read more), in UTF-8.
fn read_file(path: &Path, source: &str) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let err = |message: String| ConfigError {
        source: source.to_string(),
        line: None,
        column: None,
        key: None,
        message,
    };
    let cap = check::MAX_FILE_BYTES;
    let regular = |m: &std::fs::Metadata| -> Result<(), ConfigError> {
        if !m.is_file() {
            let what =
                if m.is_dir() { "a directory" } else { "not a regular file (a device, a FIFO or a socket)" };
            return Err(err(format!(
                "cannot read the file: it is {what}; the config must be a regular file"
            )));
        }
        if m.len() > cap {
            return Err(err(format!(
                "the file is {} bytes, more than the 1 MiB a config file may have",
                m.len()
            )));
        }
        Ok(())
    };
    regular(&std::fs::metadata(path).map_err(|e| err(format!("cannot read the file: {e}")))?)?;
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read the file: {e}")))?;
    regular(&file.metadata().map_err(|e| err(format!("cannot read the file: {e}")))?)?;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(|e| err(format!("cannot read the file: {e}")))?;
    if bytes.len() as u64 > cap {
        return Err(err("the file grew past the 1 MiB a config file may have while it was read".into()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let prefix = String::from_utf8_lossy(good);
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError {
            source: source.to_string(),
            line: Some(line as u64),
            column: Some(column as u64),
            key: Some(key_at_line(&prefix, line)),
            message: "the file is not valid UTF-8 here".into(),
        }
    })
}

/// The `OTEL_EXPORTER_OTLP_*` variables under `prefix` (the generic ones, or one signal's), read
/// through `get`.
fn otlp_vars(
    prefix: &str,
    get: &dyn Fn(&str) -> Option<String>,
    env_err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<OtlpSignalConfig, ConfigError> {
    let mut o = OtlpSignalConfig::default();
    let var = |name: &str| format!("{prefix}{name}");
    let read = |name: &str| get(&var(name));
    if let Some(v) = read("ENDPOINT") {
        check_endpoint(&v).map_err(|m| env_err(&var("ENDPOINT"), m))?;
        o.endpoint = Some(v.trim().to_string());
    }
    if let Some(v) = read("PROTOCOL") {
        o.protocol = Some(parse_protocol(&v).map_err(|m| env_err(&var("PROTOCOL"), m))?);
    }
    if let Some(v) = read("HEADERS") {
        let pairs = parse_pairs(&v).map_err(|m| env_err(&var("HEADERS"), m))?;
        for (k, val) in &pairs {
            check_header(k, val).map_err(|m| env_err(&var("HEADERS"), m))?;
        }
        o.headers = Some(pairs.into_iter().collect());
    }
    if let Some(v) = read("TIMEOUT") {
        let ms: u64 = v.trim().parse().map_err(|_| {
            env_err(&var("TIMEOUT"), format!("expected milliseconds (a whole number), got `{}`", v.trim()))
        })?;
        o.timeout = Some(
            check::OTLP_TIMEOUT.check(Duration::from_millis(ms)).map_err(|m| env_err(&var("TIMEOUT"), m))?,
        );
    }
    if let Some(v) = read("COMPRESSION") {
        o.compression = Some(parse_compression(&v).map_err(|m| env_err(&var("COMPRESSION"), m))?);
    }
    if let Some(v) = read("INSECURE") {
        o.insecure = Some(match v.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(env_err(&var("INSECURE"), format!("expected `true` or `false`, got `{other}`")))
            }
        });
    }
    let path = |v: String| Some(std::path::PathBuf::from(v.trim()));
    o.certificate = read("CERTIFICATE").and_then(path);
    o.client_certificate = read("CLIENT_CERTIFICATE").and_then(path);
    o.client_key = read("CLIENT_KEY").and_then(path);
    Ok(o)
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
        let millis = |var: &str, v: &str, range: &Span| -> Result<Duration, ConfigError> {
            let ms: u64 = v.trim().parse().map_err(|_| {
                env_err(var, format!("expected milliseconds (a whole number), got `{}`", v.trim()))
            })?;
            range.check(Duration::from_millis(ms)).map_err(|m| env_err(var, m))
        };
        // The generic variables, then each signal's (which win for their signal).
        let general = otlp_vars("OTEL_EXPORTER_OTLP_", &get, &env_err)?;
        let otlp = &mut self.exporters.otlp;
        if let Some(e) = general.endpoint {
            otlp.endpoint = e;
        }
        otlp.protocol = general.protocol.unwrap_or(otlp.protocol);
        otlp.headers.extend(general.headers.into_iter().flatten());
        otlp.timeout = general.timeout.unwrap_or(otlp.timeout);
        otlp.compression = general.compression.unwrap_or(otlp.compression);
        otlp.insecure = general.insecure.unwrap_or(otlp.insecure);
        otlp.certificate = general.certificate.or(otlp.certificate.take());
        otlp.client_certificate = general.client_certificate.or(otlp.client_certificate.take());
        otlp.client_key = general.client_key.or(otlp.client_key.take());
        for (i, (_, signal)) in SIGNALS.iter().enumerate() {
            let own = otlp_vars(&format!("OTEL_EXPORTER_OTLP_{signal}_"), &get, &env_err)?;
            let o = otlp.signal_mut(i);
            o.endpoint = own.endpoint.or(o.endpoint.take());
            o.protocol = own.protocol.or(o.protocol);
            if let Some(h) = own.headers {
                o.headers.get_or_insert_with(Default::default).extend(h);
            }
            o.timeout = own.timeout.or(o.timeout);
            o.compression = own.compression.or(o.compression);
            o.insecure = own.insecure.or(o.insecure);
            o.certificate = own.certificate.or(o.certificate.take());
            o.client_certificate = own.client_certificate.or(o.client_certificate.take());
            o.client_key = own.client_key.or(o.client_key.take());
        }
        if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            self.metrics.export_interval =
                millis("OTEL_METRIC_EXPORT_INTERVAL", &v, &check::METRIC_EXPORT_INTERVAL)?;
        }
        if let Some(v) = get("OTEL_TRACES_SAMPLER") {
            self.sampling.sampler = v.parse().map_err(|m| env_err("OTEL_TRACES_SAMPLER", m))?;
        }
        if let Some(v) = get("OTEL_PROPAGATORS") {
            self.propagators =
                Propagators(Propagator::parse_list(&v).map_err(|m| env_err("OTEL_PROPAGATORS", m))?);
        }
        if let Some(v) = get("OTEL_TRACES_SAMPLER_ARG") {
            self.sampling.ratio = parse_ratio(&v).map_err(|m| env_err("OTEL_TRACES_SAMPLER_ARG", m))?;
        }
        for (i, var) in LimitsConfig::VARIABLES.iter().enumerate() {
            if let Some(v) = get(var) {
                let n = v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("expected a whole number, got `{}`", v.trim()))
                    .and_then(|n| LimitsConfig::range(i).check(n))
                    .map_err(|m| env_err(var, m))?;
                self.limits.set(i, n as usize);
            }
        }
        if let Some(v) = get("RUST_LOG") {
            let d: Directives = v.parse().map_err(|m| env_err("RUST_LOG", m))?;
            self.tracing.level = d.clone();
            self.logging.level = d;
        }
        Ok(())
    }

    /// Checks every value against the rules the file and the environment variables are held to
    /// (the ranges of numbers and durations, the endpoint, the headers, the sampling ratio), for a
    /// configuration built or changed in code; `init` runs it first. Values read from a file or a
    /// variable were checked as they were read, with the line or the variable in the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let source = self.source.clone().unwrap_or_else(|| "the Config built in code".to_string());
        let err = |key: &str, message: String| ConfigError {
            source: source.clone(),
            line: None,
            column: None,
            key: Some(key.to_string()),
            message,
        };
        let e = &self.export;
        let x = &self.exceptions;
        let counts: [(&str, &Count, u64); 6] = [
            ("export.buffer_per_thread", &check::BUFFER_PER_THREAD, e.buffer_per_thread as u64),
            ("export.max_queue", &check::MAX_QUEUE, e.max_queue as u64),
            ("export.max_queue_bytes", &check::MAX_QUEUE_BYTES, e.max_queue_bytes as u64),
            ("export.max_batch", &check::MAX_BATCH, e.max_batch as u64),
            ("exceptions.max_groups", &check::MAX_GROUPS, x.max_groups as u64),
            ("exceptions.rate_limit", &check::RATE_LIMIT, u64::from(x.rate_limit)),
        ];
        for (key, range, v) in counts {
            range.check(v).map_err(|m| err(key, m))?;
        }
        for (i, (key, v)) in self.limits.each().into_iter().enumerate() {
            if let Some(v) = v {
                LimitsConfig::range(i).check(v as u64).map_err(|m| err(key, m))?;
            }
        }
        for (i, p) in self.scrub.keys.iter().enumerate() {
            crate::sanitize::pattern_error(p).map_or(Ok(()), |m| Err(err(&format!("scrub.keys[{i}]"), m)))?;
        }
        for (i, p) in self.scrub.values.iter().enumerate() {
            crate::sanitize::pattern_error(p)
                .map_or(Ok(()), |m| Err(err(&format!("scrub.values[{i}]"), m)))?;
        }
        let spans: [(&str, &Span, Duration); 7] = [
            ("exporters.otlp.timeout", &check::OTLP_TIMEOUT, self.exporters.otlp.timeout),
            ("export.delay", &check::DELAY, e.delay),
            ("export.drain_interval", &check::DRAIN_INTERVAL, e.drain_interval),
            ("export.shutdown_timeout", &check::SHUTDOWN_TIMEOUT, e.shutdown_timeout),
            ("export.max_retry_time", &check::MAX_RETRY_TIME, e.max_retry_time),
            ("exceptions.rate_window", &check::RATE_WINDOW, x.rate_window),
            ("metrics.export_interval", &check::METRIC_EXPORT_INTERVAL, self.metrics.export_interval),
        ];
        for (key, range, v) in spans {
            range.check(v).map_err(|m| err(key, m))?;
        }
        let otlp = &self.exporters.otlp;
        check_endpoint(&otlp.endpoint).map_err(|m| err("exporters.otlp.endpoint", m))?;
        for (k, v) in &otlp.headers {
            check_header(k, v).map_err(|m| err(&format!("exporters.otlp.headers.{k}"), m))?;
        }
        for (i, (signal, _)) in SIGNALS.iter().enumerate() {
            let o = otlp.signal(i);
            let key = |k: &str| format!("exporters.otlp.{signal}.{k}");
            if let Some(e) = &o.endpoint {
                check_endpoint(e).map_err(|m| err(&key("endpoint"), m))?;
            }
            for (k, v) in o.headers.iter().flatten() {
                check_header(k, v).map_err(|m| err(&key(&format!("headers.{k}")), m))?;
            }
            if let Some(t) = o.timeout {
                check::OTLP_TIMEOUT.check(t).map_err(|m| err(&key("timeout"), m))?;
            }
            // The TLS files are read now, so a wrong path is an error of `init`, not of every
            // export.
            if let Some(d) = otlp.destination(i).map_err(|m| err(&format!("exporters.otlp.{signal}"), m))? {
                if d.tls.is_set() {
                    crate::tls::client_config(&d.tls).map_err(|m| err(&d.tls_key, m))?;
                }
            }
        }
        parse_ratio(&self.sampling.ratio.to_string()).map_err(|m| err("sampling.ratio", m))?;
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
