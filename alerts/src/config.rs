//! `alerts:` in the config: how often rules are evaluated, rules on functions in addition to those
//! declared with `#[alert_on]`, overrides of any rule by name, the channels alerts are delivered
//! to, and how notifications are grouped — and [`merge`], which turns the declared rules and this
//! section into the rules in force.
//!
//! Durations (`5m`, `1.5s`, `1h30m`) are written in telemark's one duration grammar, as everywhere
//! in the config and in `#[alert_on]`; thresholds (`300ms`, `2%`, `10`) are strings in the grammar
//! of `#[alert_on]`. A mistake is reported with its line and key like any other config error.
//!
//! ```yaml
//! alerts:
//!   evaluation_interval: 15s
//!   rules:
//!     - function: shop::orders::checkout
//!       condition: p99_latency > 300ms
//!       window: 10m
//!       for: 2m
//!       severity: critical
//!       notify: [console, oncall]
//!       summary: "{function} is slow: p99 {value} > {threshold}"
//!       labels: { team: payments }
//!   min_calls: 10                 # calls in the window before an error rate or a quantile fires
//!   overrides:
//!     - name: checkout_error_rate
//!       threshold: 2%
//!       min_calls: 50
//!   channels:
//!     oncall:
//!       kind: webhook
//!       url: https://hooks.example.com/telemark
//! ```

use crate::parse::{
    check_channel_name, check_condition, check_label_name, check_min_calls_metric, check_rule_name,
    check_template, check_window, parse_condition, parse_min_calls, parse_severity, parse_threshold,
    split_threshold,
};
#[cfg(doc)]
use crate::rule::Metric;
use crate::rule::{Origin, Rule, Severity, DEFAULT_MIN_CALLS, DEFAULT_SEVERITY, DEFAULT_WINDOW};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use telemark_runtime::host::check::{self, Count};
use telemark_runtime::host::tls::{client_config, TlsFiles};
use telemark_runtime::host::{de_duration, de_span, scalar_text};

/// The channel every rule notifies unless it says otherwise; built in, always available.
pub const CONSOLE: &str = telemark_grammar::grammar::DEFAULT_CHANNEL;

/// `alerts:` — evaluation, rules, overrides, channels and grouping of notifications.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AlertsConfig {
    /// How often every rule is evaluated (`15s`; 10ms..=1d).
    #[serde(deserialize_with = "de_evaluation_interval")]
    pub evaluation_interval: Duration,
    /// Rules on functions, in addition to those declared with `#[alert_on]` (same grammar).
    #[serde(deserialize_with = "de_rules")]
    pub rules: Vec<RuleConfig>,
    /// Changes to rules declared anywhere (in code or above), by rule name.
    #[serde(deserialize_with = "de_overrides")]
    pub overrides: Vec<OverrideConfig>,
    /// Where alerts are delivered, by channel name (the names rules give in `notify`). `console`
    /// is built in and needs no entry. Each is checked as it is read, whether or not a rule
    /// notifies it.
    #[serde(deserialize_with = "de_channels")]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// How long to wait after a first alert fires before notifying, so that alerts firing
    /// together arrive in one notification (`30s`; 0s..=1d).
    #[serde(deserialize_with = "de_group_wait")]
    pub group_wait: Duration,
    /// How long to wait before notifying about alerts added to a group already notified (`5m`;
    /// 1ms..=7d).
    #[serde(deserialize_with = "de_group_interval")]
    pub group_interval: Duration,
    /// How long to wait before notifying again about an alert that is still firing (`4h`;
    /// 1ms..=30d).
    #[serde(deserialize_with = "de_repeat_interval")]
    pub repeat_interval: Duration,
    /// How many calls the window must hold before a rule on `error_rate` or a latency quantile
    /// (`p50_latency` to `p99_latency`) can fire, for rules that set no `min_calls` of their own
    /// (default [`DEFAULT_MIN_CALLS`]; at least 1). See [`Metric::takes_min_calls`].
    #[serde(deserialize_with = "de_min_calls")]
    pub min_calls: u64,
}

/// The `alerts:` section as telemark's configuration holds it (`telemark::Config` is
/// `Config<Alerts>`): the section read from the file — every key of [`AlertsConfig`], reached
/// through this value (`config.alerts.channels`) — and the channels given in code
/// (`Config::alert_handler`). `init` starts the alerts service from it.
#[derive(Default)]
pub struct Alerts {
    config: AlertsConfig,
    handlers: crate::service::Handlers,
}

impl std::ops::Deref for Alerts {
    type Target = AlertsConfig;
    fn deref(&self) -> &AlertsConfig {
        &self.config
    }
}

impl std::ops::DerefMut for Alerts {
    fn deref_mut(&mut self) -> &mut AlertsConfig {
        &mut self.config
    }
}

impl From<AlertsConfig> for Alerts {
    fn from(config: AlertsConfig) -> Self {
        Alerts { config, handlers: Vec::new() }
    }
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.handlers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Alerts").field("config", &self.config).field("handlers", &names).finish()
    }
}

/// The same section, with channels of the same names given in code.
impl PartialEq for Alerts {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.handlers.iter().map(|(n, _)| n).eq(other.handlers.iter().map(|(n, _)| n))
    }
}

impl<'de> Deserialize<'de> for Alerts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AlertsConfig::deserialize(d).map(Alerts::from)
    }
}

impl<H: crate::AlertHandler> telemark_runtime::config::AcceptsHandler<H> for Alerts {
    fn add_handler(&mut self, name: String, handler: H) {
        self.handlers.push((name, Box::new(handler)));
    }
}

impl telemark_runtime::config::Extension for Alerts {
    fn start(
        self,
        source: Option<&str>,
    ) -> Result<Option<Box<dyn telemark_runtime::config::Service>>, String> {
        let service = crate::service::start(&self.config, source, self.handlers)?;
        Ok(service.map(|s| Box::new(s) as Box<dyn telemark_runtime::config::Service>))
    }
}

impl RuleConfig {
    /// A rule on `function` (`module::function`) with `condition` in the alert grammar
    /// (`error_rate > 5%`); set the other fields as needed.
    pub fn new(function: impl Into<String>, condition: impl Into<String>) -> RuleConfig {
        RuleConfig { function: function.into(), condition: condition.into(), ..RuleConfig::default() }
    }
}

impl OverrideConfig {
    /// An override of the rule named `name`; set what it changes.
    pub fn new(name: impl Into<String>) -> OverrideConfig {
        OverrideConfig { name: name.into(), ..OverrideConfig::default() }
    }
}

impl ChannelConfig {
    /// The console (stderr).
    pub fn console() -> ChannelConfig {
        ChannelConfig { kind: ChannelKind::Console, ..ChannelConfig::default() }
    }
    /// A webhook (Alertmanager's webhook v4 JSON) to `url`; set `secret` to sign it.
    pub fn webhook(url: impl Into<String>) -> ChannelConfig {
        ChannelConfig { kind: ChannelKind::Webhook, url: Some(url.into()), ..ChannelConfig::default() }
    }
    /// A Prometheus Alertmanager at `url`.
    pub fn alertmanager(url: impl Into<String>) -> ChannelConfig {
        ChannelConfig { kind: ChannelKind::Alertmanager, url: Some(url.into()), ..ChannelConfig::default() }
    }
    /// Email through the SMTP server `host`, from `from` to `to`, with STARTTLS on port 587; set
    /// `tls`, `port`, `username`, `password` and the certificate files as needed.
    pub fn email(host: impl Into<String>, from: impl Into<String>, to: Vec<String>) -> ChannelConfig {
        ChannelConfig {
            kind: ChannelKind::Email,
            host: Some(host.into()),
            from: Some(from.into()),
            to,
            ..ChannelConfig::default()
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            evaluation_interval: Duration::from_secs(15),
            rules: Vec::new(),
            overrides: Vec::new(),
            channels: BTreeMap::new(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            min_calls: DEFAULT_MIN_CALLS,
        }
    }
}

/// One entry of `alerts.rules`: a rule on a function, as `#[alert_on]` would declare it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RuleConfig {
    /// The watched function, as telemark records it in `code.function.name`:
    /// `<module path>::<function>` (`shop::orders::checkout`).
    pub function: String,
    /// `<metric> <op> <threshold>`: `p99_latency > 300ms`, `error_rate >= 5%`, `rate < 0.5`.
    #[serde(deserialize_with = "de_condition")]
    pub condition: String,
    /// The rule's name (the alert's `alertname`); default `<function name>_<metric>`.
    #[serde(default)]
    pub name: Option<String>,
    /// The window the metric is measured over (default `5m`).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub window: Option<Duration>,
    /// How long the condition must hold before the alert fires (default `0s`: at once); at most
    /// 10 × the window.
    #[serde(default, rename = "for", deserialize_with = "de_opt_duration")]
    pub for_: Option<Duration>,
    /// `info`, `warning` (the default) or `critical`.
    #[serde(default, deserialize_with = "de_opt_severity")]
    pub severity: Option<Severity>,
    /// Channel names (default `[console]`).
    #[serde(default)]
    pub notify: Option<Vec<String>>,
    /// A one-line summary with `{function}`, `{value}` and `{threshold}` placeholders.
    #[serde(default)]
    pub summary: Option<String>,
    /// A longer description, with the same placeholders.
    #[serde(default)]
    pub description: Option<String>,
    /// How many calls the window must hold before the rule can fire (`error_rate` and the latency
    /// quantiles only; default `alerts.min_calls`).
    #[serde(default, deserialize_with = "de_opt_min_calls")]
    pub min_calls: Option<u64>,
    /// Extra labels on the alert (`team: payments`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The line of the entry in the config file (set when read from YAML).
    #[serde(skip)]
    pub line: Option<usize>,
}

/// One entry of `alerts.overrides`: changes to a rule declared in code or in `alerts.rules`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OverrideConfig {
    /// The rule's name. An override that names no rule is an error.
    pub name: String,
    /// The rule's function (`shop::orders::checkout`), needed only when rules on several
    /// functions have this name.
    #[serde(default)]
    pub function: Option<String>,
    /// A new threshold, in the grammar of the rule's metric: `300ms`, `2%`, `10`.
    #[serde(default, deserialize_with = "de_opt_threshold")]
    pub threshold: Option<String>,
    /// A new severity: `info`, `warning` or `critical`.
    #[serde(default, deserialize_with = "de_opt_severity")]
    pub severity: Option<Severity>,
    /// New channels, replacing the rule's.
    #[serde(default)]
    pub notify: Option<Vec<String>>,
    /// A new `min_calls` (for a rule on `error_rate` or a latency quantile).
    #[serde(default, deserialize_with = "de_opt_min_calls")]
    pub min_calls: Option<u64>,
    /// Turns the rule off: never evaluated, left out of the Prometheus rule file.
    #[serde(default)]
    pub disabled: bool,
    /// The line of the entry in the config file (set when read from YAML).
    #[serde(skip)]
    pub line: Option<usize>,
}

/// How a channel delivers alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// telemark's console output (what the built-in `console` channel does).
    #[default]
    Console,
    /// An HTTP POST of the alert as JSON to `url`.
    Webhook,
    /// An email through an SMTP server.
    Email,
    /// An Alertmanager's v2 API at `url`.
    Alertmanager,
}

impl ChannelKind {
    /// `a webhook`, `an email`…
    fn with_article(self) -> String {
        match self {
            ChannelKind::Email | ChannelKind::Alertmanager => format!("an {}", self.as_str()),
            _ => format!("a {}", self.as_str()),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Console => "console",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Email => "email",
            ChannelKind::Alertmanager => "alertmanager",
        }
    }
}

/// The error for `username`/`password` with `tls: none`, saying why.
const INSECURE_AUTH: &str = "`username`/`password` with `tls: none` would send the password in clear \
                             text (AUTH PLAIN is base64, not encryption) to anyone on the path to the \
                             server; use `tls: starttls` or `tls: implicit`, or, for a relay on \
                             localhost, set `allow_insecure_auth: true`";

/// How the `email` channel uses TLS (`tls:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text first, then `STARTTLS` before anything else is sent (port 587). A server that
    /// does not offer it gets nothing: the delivery fails.
    #[default]
    StartTls,
    /// TLS from the first byte, SMTPS (port 465).
    Implicit,
    /// No TLS (port 25): for a relay on localhost. AUTH needs `allow_insecure_auth: true`.
    None,
}

impl SmtpTls {
    /// The port of the mode: 587, 465 or 25.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Implicit => "implicit",
            SmtpTls::None => "none",
        }
    }
}

/// One entry of `alerts.channels`: `kind` and the settings of that kind.
#[derive(Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// `console`, `webhook`, `email` or `alertmanager`.
    pub kind: ChannelKind,
    /// webhook, alertmanager: where to send (`https://hooks.example.com/x`,
    /// `http://alertmanager:9093`).
    #[serde(default)]
    pub url: Option<String>,
    /// webhook: the shared secret each request is signed with (Standard Webhooks), so the
    /// receiver can check it: `whsec_<base64>` (the key is the decoded bytes) or text (its UTF-8
    /// bytes), a key of at least 24 bytes. Leave it out to send unsigned requests.
    #[serde(default, deserialize_with = "de_opt_secret")]
    pub secret: Option<String>,
    /// webhook, email, alertmanager: how long one delivery attempt may take (default `10s`;
    /// 1ms..=10m).
    #[serde(default, deserialize_with = "de_channel_timeout")]
    pub timeout: Option<Duration>,
    /// webhook, email, alertmanager: attempts after a failed one (default 3; 0..=100).
    #[serde(default, deserialize_with = "de_max_retries")]
    pub max_retries: Option<u32>,
    /// email: the SMTP server's host name.
    #[serde(default)]
    pub host: Option<String>,
    /// email: the SMTP server's port (1..=65535; default by `tls`: 587 for `starttls`, 465 for
    /// `implicit`, 25 for `none`).
    #[serde(default, deserialize_with = "de_port")]
    pub port: Option<u16>,
    /// email: the sender address.
    #[serde(default)]
    pub from: Option<String>,
    /// email: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// email: the SMTP user name (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// email: the SMTP password (with `username`).
    #[serde(default)]
    pub password: Option<String>,
    /// email: `starttls` (the default: STARTTLS required before anything else is sent),
    /// `implicit` (TLS from the first byte, SMTPS) or `none` (plain text, for a local relay).
    #[serde(default)]
    pub tls: Option<SmtpTls>,
    /// email: with `tls: none`, allows `username`/`password`, which then cross the network in
    /// clear (AUTH PLAIN is base64, not encryption); for a relay on localhost. Default `false`.
    #[serde(default)]
    pub allow_insecure_auth: bool,
    /// webhook, alertmanager, email: a PEM file of the CA certificate(s) to trust instead of the
    /// platform's roots (a private CA). A path relative to the working directory; read and
    /// checked when the config is.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// webhook, alertmanager, email: a PEM file of the client certificate chain presented for
    /// mutual TLS (with `client_key`).
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    /// webhook, alertmanager, email: the PEM file of the client certificate's private key
    /// (PKCS#8, PKCS#1 or SEC1; with `client_certificate`).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| check::REDACTED);
        f.debug_struct("ChannelConfig")
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("secret", &redacted(&self.secret))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("tls", &self.tls)
            .field("allow_insecure_auth", &self.allow_insecure_auth)
            .field("certificate", &self.certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl ChannelConfig {
    /// The default delivery timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default number of retries.
    pub const DEFAULT_MAX_RETRIES: u32 = 3;
    /// The default SMTP port (that of the default `tls`, `starttls`).
    pub const DEFAULT_SMTP_PORT: u16 = 587;

    /// How long one delivery attempt may take.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Self::DEFAULT_TIMEOUT)
    }

    /// Attempts after a failed one.
    pub fn max_retries(&self) -> u32 {
        self.max_retries.unwrap_or(Self::DEFAULT_MAX_RETRIES)
    }

    /// The SMTP port: `port`, else the port of the TLS mode (587, 465 or 25).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.smtp_tls().default_port())
    }

    /// How the email channel uses TLS (`starttls` unless set).
    pub fn smtp_tls(&self) -> SmtpTls {
        self.tls.unwrap_or_default()
    }

    /// The TLS files: `certificate`, `client_certificate`, `client_key`.
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.certificate.clone(),
            client_certificate: self.client_certificate.clone(),
            client_key: self.client_key.clone(),
        }
    }

    /// Checks that the settings suit the kind: the required ones are there, and none belongs to
    /// another kind.
    pub fn check(&self) -> Result<(), String> {
        let set: [(&str, bool, &[ChannelKind]); 15] = {
            use ChannelKind::*;
            [
                ("url", self.url.is_some(), &[Webhook, Alertmanager]),
                ("secret", self.secret.is_some(), &[Webhook]),
                ("timeout", self.timeout.is_some(), &[Webhook, Email, Alertmanager]),
                ("max_retries", self.max_retries.is_some(), &[Webhook, Email, Alertmanager]),
                ("host", self.host.is_some(), &[Email]),
                ("port", self.port.is_some(), &[Email]),
                ("from", self.from.is_some(), &[Email]),
                ("to", !self.to.is_empty(), &[Email]),
                ("username", self.username.is_some(), &[Email]),
                ("password", self.password.is_some(), &[Email]),
                ("tls", self.tls.is_some(), &[Email]),
                ("allow_insecure_auth", self.allow_insecure_auth, &[Email]),
                ("certificate", self.certificate.is_some(), &[Webhook, Email, Alertmanager]),
                ("client_certificate", self.client_certificate.is_some(), &[Webhook, Email, Alertmanager]),
                ("client_key", self.client_key.is_some(), &[Webhook, Email, Alertmanager]),
            ]
        };
        for (key, present, kinds) in set {
            if present && !kinds.contains(&self.kind) {
                let of = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" and ");
                return Err(format!(
                    "`{key}` is a setting of {of} channels, not of {} channel",
                    self.kind.with_article()
                ));
            }
        }
        let required: &[(&str, bool)] = match self.kind {
            ChannelKind::Console => &[],
            ChannelKind::Webhook | ChannelKind::Alertmanager => &[("url", self.url.is_some())],
            ChannelKind::Email => {
                &[("host", self.host.is_some()), ("from", self.from.is_some()), ("to", !self.to.is_empty())]
            }
        };
        if let Some((key, _)) = required.iter().find(|(_, present)| !present) {
            return Err(format!("{} channel needs `{key}`", self.kind.with_article()));
        }
        if let Some(url) = &self.url {
            crate::http::Url::parse(url).map_err(|e| format!("url: {e}"))?;
            check::check_url(url, check::Path::FirstSegment).map_err(|e| format!("url: {e}"))?;
        }
        if let Some(secret) = &self.secret {
            crate::channels::webhook::signing_key(secret)?;
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("`username` and `password` go together".to_string());
        }
        self.check_tls()?;
        if let Some(t) = self.timeout {
            check::CHANNEL_TIMEOUT.check(t).map_err(|e| format!("timeout: {e}"))?;
        }
        if let Some(n) = self.max_retries {
            check::CHANNEL_RETRIES.check(u64::from(n)).map_err(|e| format!("max_retries: {e}"))?;
        }
        if let Some(p) = self.port {
            check::PORT.check(u64::from(p)).map_err(|e| format!("port: {e}"))?;
        }
        Ok(())
    }
}

impl ChannelConfig {
    /// The TLS keys: `tls: none` with credentials only when allowed, certificate files only where
    /// TLS is used, and each file read and parsed now, so that a missing or wrong one is a config
    /// error rather than a failed delivery later.
    /// The first TLS file key set, if any.
    fn first_tls_file_key(&self) -> Option<&'static str> {
        [
            ("certificate", self.certificate.is_some()),
            ("client_certificate", self.client_certificate.is_some()),
            ("client_key", self.client_key.is_some()),
        ]
        .into_iter()
        .find_map(|(k, set)| set.then_some(k))
    }

    fn check_tls(&self) -> Result<(), String> {
        let files = self.tls_files();
        if self.kind == ChannelKind::Email && self.smtp_tls() == SmtpTls::None {
            if self.username.is_some() && !self.allow_insecure_auth {
                return Err(INSECURE_AUTH.to_string());
            }
            if let Some(key) = self.first_tls_file_key() {
                return Err(format!("`{key}` is for TLS, and this email channel has `tls: none`"));
            }
        }
        if self.allow_insecure_auth && self.smtp_tls() != SmtpTls::None {
            return Err(format!(
                "`allow_insecure_auth` is for `tls: none`; with `tls: {}` AUTH is always over TLS",
                self.smtp_tls().as_str()
            ));
        }
        match (&files.client_certificate, &files.client_key) {
            (Some(_), None) => return Err("`client_certificate` needs `client_key`".to_string()),
            (None, Some(_)) => return Err("`client_key` needs `client_certificate`".to_string()),
            _ => {}
        }
        let plain_url = self
            .url
            .as_deref()
            .is_some_and(|u| u.trim().get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://")));
        if plain_url {
            if let Some(key) = self.first_tls_file_key() {
                return Err(format!(
                    "`{key}` is for TLS, and `url` is `http://`: nothing would be encrypted; use an \
                     `https://` URL"
                ));
            }
        }
        if files.is_set() {
            client_config(&files).map_err(|e| {
                let key = if e.starts_with("CA certificate") {
                    "certificate"
                } else if e.starts_with("client key") {
                    "client_key"
                } else {
                    "client_certificate"
                };
                format!("{key}: {e}")
            })?;
        }
        Ok(())
    }
}

impl AlertsConfig {
    /// Parses the content of an `alerts:` section (its keys at the top level); `source` names it
    /// in errors.
    pub fn from_yaml(text: &str, source: &str) -> Result<AlertsConfig, String> {
        if text.trim().is_empty() {
            return Ok(AlertsConfig::default());
        }
        telemark_runtime::host::from_yaml_text(text, source).map_err(|e| e.to_string())
    }

    /// Checks the intervals and every channel.
    pub fn check(&self) -> Result<(), String> {
        for (key, range, d) in [
            ("evaluation_interval", &check::EVALUATION_INTERVAL, self.evaluation_interval),
            ("group_wait", &check::GROUP_WAIT, self.group_wait),
            ("group_interval", &check::GROUP_INTERVAL, self.group_interval),
            ("repeat_interval", &check::REPEAT_INTERVAL, self.repeat_interval),
        ] {
            range.check(d).map_err(|e| format!("alerts.{key}: {e}"))?;
        }
        parse_min_calls(&self.min_calls.to_string()).map_err(|e| format!("alerts.min_calls: {e}"))?;
        for (name, c) in &self.channels {
            check_channel_name(name).map_err(|e| format!("alerts.channels.{name}: {e}"))?;
            if name == CONSOLE && c.kind != ChannelKind::Console {
                return Err(format!(
                    "alerts.channels.{name}: `console` is the built-in console channel; give this {} channel \
                     another name",
                    c.kind.as_str()
                ));
            }
            c.check().map_err(|e| format!("alerts.channels.{name}: {e}"))?;
        }
        Ok(())
    }
}

impl RuleConfig {
    /// The rule this entry declares, with every check `#[alert_on]` makes; `file` is the config
    /// file it came from.
    pub fn to_rule(&self, file: Option<&str>) -> Result<Rule, String> {
        check_function(&self.function)?;
        let (metric, op, threshold) =
            parse_condition(&self.condition).map_err(|e| format!("condition: {e}"))?;
        let name = match &self.name {
            Some(n) => {
                check_rule_name(n).map_err(|e| format!("name: {e}"))?;
                n.clone()
            }
            None => Rule::default_name(&self.function, metric),
        };
        let window = self.window.unwrap_or(DEFAULT_WINDOW);
        let for_ = self.for_.unwrap_or(Duration::ZERO);
        check_window(window, for_)?;
        let notify = match &self.notify {
            Some(n) => check_notify(n).map_err(|e| format!("notify: {e}"))?,
            None => vec![Cow::Borrowed(CONSOLE)],
        };
        for (key, t) in [("summary", &self.summary), ("description", &self.description)] {
            if let Some(t) = t {
                check_template(t).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        if let Some(n) = self.min_calls {
            // (Read from YAML it is already checked; built in code it may be 0.)
            parse_min_calls(&n.to_string()).map_err(|e| format!("min_calls: {e}"))?;
            check_min_calls_metric(metric).map_err(|e| format!("min_calls: {e}"))?;
        }
        let mut labels = Vec::new();
        for (k, v) in &self.labels {
            check_label_name(k).map_err(|e| format!("labels: {e}"))?;
            if v.is_empty() {
                return Err(format!("labels: label `{k}` has an empty value (an empty label is no label)"));
            }
            labels.push((Cow::Owned(k.clone()), Cow::Owned(v.clone())));
        }
        Ok(Rule {
            name: Cow::Owned(name),
            function: Cow::Owned(self.function.clone()),
            metric,
            op,
            threshold,
            window,
            for_,
            severity: self.severity.unwrap_or(DEFAULT_SEVERITY),
            notify,
            summary: self.summary.clone().map(Cow::Owned),
            description: self.description.clone().map(Cow::Owned),
            min_calls: self.min_calls,
            labels,
            origin: Origin::Config { file: file.map(str::to_string), line: self.line },
            disabled: false,
        })
    }
}

/// `<module path>::<function>`.
fn check_function(f: &str) -> Result<(), String> {
    let ok = f.contains("::")
        && f.split("::").all(|seg| {
            let seg = seg.strip_prefix("r#").unwrap_or(seg);
            let mut c = seg.chars();
            c.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && c.all(|c| c.is_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "function: expected the path telemark records as `code.function.name`, \
             `<module path>::<function>` like `shop::orders::checkout`, got `{f}`"
        ))
    }
}

fn check_notify(names: &[String]) -> Result<Vec<Cow<'static, str>>, String> {
    if names.is_empty() {
        return Err("a rule needs at least one channel; leave `notify` out for `[console]`".to_string());
    }
    let mut out: Vec<Cow<'static, str>> = Vec::new();
    for n in names {
        check_channel_name(n)?;
        if out.iter().any(|o| o == n) {
            return Err(format!("channel `{n}` is listed twice"));
        }
        out.push(Cow::Owned(n.clone()));
    }
    Ok(out)
}

/// Where a rule was declared, for messages.
pub fn origin_text(o: &Origin) -> String {
    match o {
        Origin::Macro { file, line } => format!("#[alert_on] at {file}:{line}"),
        Origin::Config { file: Some(f), line: Some(l) } => format!("the config at {f}:{l}"),
        Origin::Config { file: Some(f), line: None } => format!("the config {f}"),
        Origin::Config { file: None, line: Some(l) } => format!("the config, line {l}"),
        Origin::Config { file: None, line: None } => "the config".to_string(),
    }
}

fn at(file: Option<&str>, line: Option<usize>, key: &str, message: &str) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!("{f}:{l}: {key}: {message}"),
        (Some(f), None) => format!("{f}: {key}: {message}"),
        (None, Some(l)) => format!("line {l}: {key}: {message}"),
        (None, None) => format!("{key}: {message}"),
    }
}

/// The rules in force: the `declared` ones (from [`crate::declared_rules`]) plus `alerts.rules`,
/// with `alerts.overrides` applied, sorted by function and name. `file` is the config file, for
/// messages and [`Origin::Config`].
///
/// Errors: a channel with wrong settings, a config rule that `#[alert_on]` would reject, two
/// rules with one name on one function, an override that names no rule (or rules on several
/// functions without saying which), an override's threshold that does not suit the rule's metric,
/// a `min_calls` of 0 or on a metric that takes none, two overrides of one rule, and a rule that
/// notifies a channel not in `alerts.channels`.
///
/// A rule on `error_rate` or a latency quantile without a `min_calls` of its own (or from an
/// override) gets `alerts.min_calls`.
pub fn merge(declared: Vec<Rule>, cfg: &AlertsConfig, file: Option<&str>) -> Result<Vec<Rule>, String> {
    cfg.check().map_err(|e| match file {
        Some(f) => format!("{f}: {e}"),
        None => e,
    })?;
    let mut rules = declared;
    for (i, rc) in cfg.rules.iter().enumerate() {
        let key = format!("alerts.rules[{i}]");
        let rule = rc.to_rule(file).map_err(|e| at(file, rc.line, &key, &e))?;
        if let Some(other) = rules.iter().find(|r| r.function == rule.function && r.name == rule.name) {
            let hint = if rc.name.is_none() { " (its default name); give it `name: ...`" } else { "" };
            return Err(at(
                file,
                rc.line,
                &key,
                &format!(
                    "duplicate rule `{}` on `{}`{hint}: also declared by {}",
                    rule.name,
                    rule.function,
                    origin_text(&other.origin)
                ),
            ));
        }
        rules.push(rule);
    }
    let mut overridden: Vec<(usize, usize)> = Vec::new(); // (rule index, override index)
    for (i, o) in cfg.overrides.iter().enumerate() {
        let key = format!("alerts.overrides[{i}]");
        let err = |m: String| at(file, o.line, &key, &m);
        let matches: Vec<usize> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.name == o.name && o.function.as_deref().is_none_or(|f| r.function == f))
            .map(|(j, _)| j)
            .collect();
        let j = match matches.as_slice() {
            [] => return Err(err(no_such_rule(&rules, o))),
            [j] => *j,
            several => {
                let fns: Vec<String> = several.iter().map(|j| format!("`{}`", rules[*j].function)).collect();
                return Err(err(format!(
                    "rules on several functions are named `{}` ({}); add `function: ...` to say which",
                    o.name,
                    fns.join(", ")
                )));
            }
        };
        if let Some((_, first)) = overridden.iter().find(|(r, _)| *r == j) {
            return Err(err(format!(
                "rule `{}` on `{}` is already overridden by alerts.overrides[{first}]; merge the two",
                o.name, rules[j].function
            )));
        }
        overridden.push((j, i));
        let rule = &mut rules[j];
        if let Some(t) = &o.threshold {
            let v = parse_threshold(rule.metric, t)
                .map_err(|e| err(format!("threshold for `{}` ({}): {e}", rule.name, rule.condition())))?;
            check_condition(rule.metric, rule.op, v).map_err(|e| err(format!("threshold: {e}")))?;
            rule.threshold = v;
        }
        if let Some(s) = o.severity {
            rule.severity = s;
        }
        if let Some(n) = &o.notify {
            rule.notify = check_notify(n).map_err(|e| err(format!("notify: {e}")))?;
        }
        if let Some(n) = o.min_calls {
            parse_min_calls(&n.to_string()).map_err(|e| err(format!("min_calls: {e}")))?;
            check_min_calls_metric(rule.metric)
                .map_err(|e| err(format!("min_calls for `{}` ({}): {e}", rule.name, rule.condition())))?;
            rule.min_calls = Some(n);
        }
        if o.disabled {
            rule.disabled = true;
        }
    }
    for r in &rules {
        for n in &r.notify {
            if n != CONSOLE && !cfg.channels.contains_key(n.as_ref()) {
                let known: Vec<String> = std::iter::once(CONSOLE)
                    .chain(cfg.channels.keys().map(String::as_str))
                    .map(|k| format!("`{k}`"))
                    .collect();
                let m = format!(
                    "rule `{}` on `{}` (declared by {}) notifies `{n}`, which is not a channel in alerts.channels \
                     (the channels are {})",
                    r.name,
                    r.function,
                    origin_text(&r.origin),
                    known.join(", ")
                );
                return Err(match file {
                    Some(f) => format!("{f}: {m}"),
                    None => m,
                });
            }
        }
    }
    // `alerts.min_calls` for the rules that did not set their own.
    for r in rules.iter_mut().filter(|r| r.metric.takes_min_calls() && r.min_calls.is_none()) {
        r.min_calls = Some(cfg.min_calls);
    }
    rules.sort_by(|a, b| (&a.function, &a.name).cmp(&(&b.function, &b.name)));
    Ok(rules)
}

fn no_such_rule(rules: &[Rule], o: &OverrideConfig) -> String {
    let on = o.function.as_ref().map(|f| format!(" on `{f}`")).unwrap_or_default();
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_ref()).collect();
    let elsewhere: Vec<String> =
        rules.iter().filter(|r| r.name == o.name).map(|r| format!("`{}`", r.function)).collect();
    let hint = if !elsewhere.is_empty() {
        format!("; rules named so are on {}", elsewhere.join(", "))
    } else {
        match crate::parse::closest(&o.name, &names) {
            Some(c) => format!("; did you mean `{c}`?"),
            None => String::new(),
        }
    };
    let list = if names.is_empty() {
        "there are no rules".to_string()
    } else {
        let mut all: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        all.dedup();
        format!("the rules are {}", all.join(", "))
    };
    format!("no rule named `{}`{on}{hint} ({list})", o.name)
}

// Deserialization: durations (in the one grammar of every duration, `telemark_runtime::host::de_duration`)
// and thresholds are strings in the grammar; rules and overrides keep their line.

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// A webhook `secret`, refused (with its line and key, never its value) when it is empty or its
/// key too short.
fn de_opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    crate::channels::webhook::signing_key(&s).map_err(de::Error::custom)?;
    Ok(Some(s))
}

/// A webhook's or an Alertmanager's URL as telemark prints it: the userinfo, the query values and
/// every path segment after the first redacted (a webhook's token is often its path).
pub(crate) fn redact_url(url: &str) -> String {
    check::redact_url(url, check::Path::FirstSegment)
}

/// An Alertmanager's URL as telemark prints it: its path is the API's (`/api/v2/alerts`), kept;
/// the userinfo and the query values redacted.
pub(crate) fn redact_api_url(url: &str) -> String {
    check::redact_url(url, check::Path::Keep)
}

fn de_evaluation_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_span(d, &check::EVALUATION_INTERVAL)
}
fn de_group_wait<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_span(d, &check::GROUP_WAIT)
}
fn de_group_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_span(d, &check::GROUP_INTERVAL)
}
fn de_repeat_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_span(d, &check::REPEAT_INTERVAL)
}
fn de_channel_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_span(d, &check::CHANNEL_TIMEOUT).map(Some)
}
/// A whole number in `range`.
fn de_ranged<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D, range: &Count) -> Result<T, D::Error> {
    let n = range.check(u64::deserialize(d)?).map_err(de::Error::custom)?;
    T::try_from(n).map_err(|_| de::Error::custom(format!("{n} is too large")))
}
fn de_max_retries<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    de_ranged(d, &check::CHANNEL_RETRIES).map(Some)
}
fn de_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    de_ranged(d, &check::PORT).map(Some)
}

/// One channel, checked ([`ChannelConfig::check`]) as soon as it is read, so that a mistake names
/// its line and key whether or not a rule notifies it.
struct CheckedChannel(ChannelConfig);

impl<'de> Deserialize<'de> for CheckedChannel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = ChannelConfig::deserialize(d)?;
        c.check().map_err(de::Error::custom)?;
        Ok(CheckedChannel(c))
    }
}

fn de_channels<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, ChannelConfig>, D::Error> {
    let m = BTreeMap::<String, CheckedChannel>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
}

fn de_condition<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    parse_condition(&s).map_err(de::Error::custom)?;
    Ok(s)
}

/// `min_calls`: a YAML whole number of at least 1 (`20`); anything else is an error saying what
/// would be right, in the words `#[alert_on]` uses.
fn de_min_calls<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    parse_min_calls(&scalar_text(d)?).map_err(de::Error::custom)
}

fn de_opt_min_calls<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_min_calls(d).map(Some)
}

/// Thresholds may be written as YAML numbers (`10`, `0.05`) or strings (`300ms`, `2%`).
fn de_opt_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = scalar_text(d)?;
    split_threshold(&s).map_err(de::Error::custom)?;
    Ok(Some(s))
}

fn de_rules<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RuleConfig>, D::Error> {
    let v = Vec::<serde_saphyr::Spanned<RuleConfig>>::deserialize(d)?;
    Ok(v.into_iter().map(|s| RuleConfig { line: line(&s.referenced), ..s.value }).collect())
}

fn de_overrides<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OverrideConfig>, D::Error> {
    let v = Vec::<serde_saphyr::Spanned<OverrideConfig>>::deserialize(d)?;
    Ok(v.into_iter().map(|s| OverrideConfig { line: line(&s.referenced), ..s.value }).collect())
}

fn line(l: &serde_saphyr::Location) -> Option<usize> {
    usize::try_from(l.line()).ok().filter(|l| *l > 0)
}

fn de_opt_severity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Severity>, D::Error> {
    let s = String::deserialize(d)?;
    parse_severity(s.trim()).map(Some).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_with_their_line_are_named_like_any_other() {
        // `alerts.rules` and `alerts.overrides` entries keep their line (`Spanned`), which the key
        // does not show.
        type Config = telemark_runtime::Config<AlertsConfig>;
        let yaml = "alerts:\n  rules:\n    - {function: a::f, condition: errors > 1, value: 1}\n";
        let e = Config::from_yaml(yaml, "t.yaml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("alerts.rules[0].value"), "{e}");
        let yaml = "alerts:\n  overrides:\n    - name: x\n    - {name: y, severity: loud}\n";
        let e = Config::from_yaml(yaml, "t.yaml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("alerts.overrides[1].severity"), "{e}");
        let c = Config::from_yaml("alerts:\n  overrides:\n    - name: x\n    - name: y\n", "t.yaml").unwrap();
        assert_eq!(c.alerts.overrides[1].line, Some(4));
    }

    #[test]
    fn tls_keys_of_channels() {
        let email = "channels:\n  mail:\n    kind: email\n    host: smtp.example.com\n    from: a@x.org\n    to: [b@y.org]\n";
        let c = AlertsConfig::from_yaml(email, "t.yaml").unwrap();
        assert_eq!((c.channels["mail"].smtp_tls(), c.channels["mail"].port()), (SmtpTls::StartTls, 587));
        let c = AlertsConfig::from_yaml(&format!("{email}    tls: implicit\n"), "t.yaml").unwrap();
        assert_eq!(c.channels["mail"].port(), 465);
        let c = AlertsConfig::from_yaml(&format!("{email}    tls: none\n"), "t.yaml").unwrap();
        assert_eq!(c.channels["mail"].port(), 25);
        let e = AlertsConfig::from_yaml(&format!("{email}    tls: ssl\n"), "t.yaml").unwrap_err();
        assert!(e.contains("t.yaml:") && e.contains("tls") && e.contains("starttls"), "{e}");
        // AUTH in clear: refused, saying why, unless allowed by name.
        let auth = format!("{email}    tls: none\n    username: u\n    password: hunter2\n");
        let e = AlertsConfig::from_yaml(&auth, "t.yaml").unwrap_err();
        assert!(
            e.starts_with("t.yaml:3:5: key `channels.mail`: `username`/`password` with `tls: none`"),
            "{e}"
        );
        assert!(e.contains("in clear text") && e.contains("allow_insecure_auth: true"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let c = AlertsConfig::from_yaml(&format!("{auth}    allow_insecure_auth: true\n"), "t.yaml").unwrap();
        assert!(c.channels["mail"].allow_insecure_auth);
        let e = AlertsConfig::from_yaml(&format!("{email}    allow_insecure_auth: true\n"), "t.yaml")
            .unwrap_err();
        assert!(e.contains("`allow_insecure_auth` is for `tls: none`"), "{e}");
        let e =
            AlertsConfig::from_yaml(&format!("{email}    tls: none\n    certificate: ca.pem\n"), "t.yaml")
                .unwrap_err();
        assert!(e.contains("`certificate` is for TLS"), "{e}");
        // Certificate files: read when the config is; a missing one names its key and path.
        let hook = "channels:\n  ops:\n    kind: webhook\n    url: https://hooks.example.com/x\n";
        let e = AlertsConfig::from_yaml(&format!("{hook}    certificate: /nonexistent/ca.pem\n"), "t.yaml")
            .unwrap_err();
        assert!(
            e.contains("t.yaml:") && e.contains("certificate: CA certificate `/nonexistent/ca.pem`"),
            "{e}"
        );
        let e =
            AlertsConfig::from_yaml(&format!("{hook}    client_certificate: /nonexistent/c.pem\n"), "t.yaml")
                .unwrap_err();
        assert!(e.contains("`client_certificate` needs `client_key`"), "{e}");
        let e = AlertsConfig::from_yaml(
            &format!(
                "{hook}    client_certificate: /nonexistent/c.pem\n    client_key: /nonexistent/k.pem\n"
            ),
            "t.yaml",
        )
        .unwrap_err();
        assert!(e.contains("client_certificate: client certificate `/nonexistent/c.pem`"), "{e}");
        let plain = "channels:\n  ops:\n    kind: webhook\n    url: http://hooks.example.com/x\n";
        let e = AlertsConfig::from_yaml(&format!("{plain}    certificate: /nonexistent/ca.pem\n"), "t.yaml")
            .unwrap_err();
        assert!(e.contains("`certificate` is for TLS, and `url` is `http://`"), "{e}");
        let e = AlertsConfig::from_yaml(&format!("{hook}    tls: starttls\n"), "t.yaml").unwrap_err();
        assert!(e.contains("`tls` is a setting of email channels"), "{e}");
        let e = AlertsConfig::from_yaml("channels:\n  c:\n    kind: console\n    certificate: ca.pem\n", "t")
            .unwrap_err();
        assert!(e.contains("`certificate` is a setting of webhook and email and alertmanager"), "{e}");
    }

    #[test]
    fn defaults() {
        let c = AlertsConfig::default();
        assert_eq!(c.evaluation_interval, Duration::from_secs(15));
        assert_eq!(c.group_wait, Duration::from_secs(30));
        assert_eq!(c.group_interval, Duration::from_secs(300));
        assert_eq!(c.repeat_interval, Duration::from_secs(14_400));
        assert_eq!(AlertsConfig::from_yaml("", "x").unwrap(), c);
    }

    #[test]
    fn min_calls_values() {
        assert_eq!(AlertsConfig::default().min_calls, DEFAULT_MIN_CALLS);
        assert_eq!(parse_min_calls("20"), Ok(20));
        assert_eq!(parse_min_calls("1_000"), Ok(1000));
        assert!(parse_min_calls("1e3").unwrap_err().contains("write `1000`"));
        assert!(parse_min_calls("0.5").unwrap_err().contains("write `1`"));
        assert!(parse_min_calls("-0").unwrap_err().contains("at least 1"));
        assert!(parse_min_calls("99999999999999999999999").unwrap_err().contains("too large"));
        let c = AlertsConfig::from_yaml(
            "min_calls: 20\nrules:\n  - { function: a::f, condition: p90 > 1s, min_calls: 5 }\n",
            "t",
        )
        .unwrap();
        assert_eq!((c.min_calls, c.rules[0].min_calls), (20, Some(5)));
        let e = AlertsConfig::from_yaml("min_calls: 20.0\n", "t").unwrap_err();
        assert!(e.contains("not `20.0`: write `20`"), "{e}");
    }

    #[test]
    fn lines_are_kept() {
        let c = AlertsConfig::from_yaml(
            "rules:\n  - function: a::f\n    condition: errors > 1\n  - function: a::g\n    condition: calls < 1\n\
             overrides:\n  - name: f_errors\n    threshold: 2\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c.rules[0].line, Some(2));
        assert_eq!(c.rules[1].line, Some(4));
        assert_eq!(c.overrides[0].line, Some(7));
        assert_eq!(c.overrides[0].threshold.as_deref(), Some("2"));
    }

    #[test]
    fn mistakes_are_config_errors() {
        let e = AlertsConfig::from_yaml("rules:\n  - function: a::f\n    condition: p99 > 200\n", "t.yaml")
            .unwrap_err();
        assert!(e.contains("needs a unit"), "{e}");
        let e = AlertsConfig::from_yaml(
            "rules:\n  - function: a::f\n    condition: errors > 1\n    windw: 5m\n",
            "t",
        )
        .unwrap_err();
        assert!(e.contains("windw"), "{e}");
        let e = AlertsConfig::from_yaml("group_wait: 30\n", "t").unwrap_err();
        assert!(e.contains("needs a unit"), "{e}");
        let e = AlertsConfig::from_yaml("channels:\n  x:\n    kind: pager\n", "t").unwrap_err();
        assert!(e.contains("pager"), "{e}");
    }
}
