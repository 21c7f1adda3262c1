//! Alert rules: what `#[alert_on(...)]` and `alerts.rules` in the config declare, in one model.
//!
//! A rule watches one function's metrics (see [`crate::metrics`]) over a sliding `window`:
//! `<metric> <op> <threshold>`. Thresholds are kept in canonical units: a fraction for
//! `error_rate`, seconds for latencies, per second for `rate`, a count otherwise.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// What a rule measures over its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Failed calls (`error` or `panic`) as a fraction of all calls.
    ErrorRate,
    /// Failed calls.
    Errors,
    /// All calls.
    Calls,
    /// Calls per second.
    Rate,
    /// A latency quantile (0.5, 0.9, 0.95, 0.99) or the maximum (1.0), in seconds.
    Latency(Quantile),
    /// Exceptions captured in the function (`#[capture_exceptions]`, panics, `exceptions::record`).
    Exceptions,
}

/// The latency quantiles a rule can watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quantile {
    /// The median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// The largest (the upper bound of the highest bucket with a call).
    Max,
}

impl Quantile {
    /// As a number in 0..=1.
    pub fn value(self) -> f64 {
        match self {
            Quantile::P50 => 0.5,
            Quantile::P90 => 0.9,
            Quantile::P95 => 0.95,
            Quantile::P99 => 0.99,
            Quantile::Max => 1.0,
        }
    }
}

/// Every metric name the grammar accepts, for error messages.
pub const METRIC_NAMES: &[&str] = &[
    "error_rate",
    "errors",
    "calls",
    "rate",
    "p50_latency",
    "p90_latency",
    "p95_latency",
    "p99_latency",
    "max_latency",
    "exceptions",
];

impl Metric {
    /// Parses a metric name (`p99_latency`; `p99` is accepted too).
    pub fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "error_rate" => Metric::ErrorRate,
            "errors" => Metric::Errors,
            "calls" => Metric::Calls,
            "rate" => Metric::Rate,
            "p50_latency" | "p50" => Metric::Latency(Quantile::P50),
            "p90_latency" | "p90" => Metric::Latency(Quantile::P90),
            "p95_latency" | "p95" => Metric::Latency(Quantile::P95),
            "p99_latency" | "p99" => Metric::Latency(Quantile::P99),
            "max_latency" | "max" => Metric::Latency(Quantile::Max),
            "exceptions" => Metric::Exceptions,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::Errors => "errors",
            Metric::Calls => "calls",
            Metric::Rate => "rate",
            Metric::Latency(Quantile::P50) => "p50_latency",
            Metric::Latency(Quantile::P90) => "p90_latency",
            Metric::Latency(Quantile::P95) => "p95_latency",
            Metric::Latency(Quantile::P99) => "p99_latency",
            Metric::Latency(Quantile::Max) => "max_latency",
            Metric::Exceptions => "exceptions",
        }
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Op {
    /// Whether `value <op> threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }

    /// `>`, `>=`, `<` or `<=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// For information.
    Info,
    /// Someone should look.
    Warning,
    /// Someone must act now.
    Critical,
}

impl Severity {
    /// Parses `info`, `warning` or `critical`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where a rule was declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `#[alert_on]` on a function, at this file and line.
    Macro {
        /// The source file.
        file: &'static str,
        /// The line of the attribute.
        line: u32,
    },
    /// `alerts.rules` in a config file (or a config built in code: no file).
    Config {
        /// The config file.
        file: Option<String>,
        /// The line of the rule.
        line: Option<usize>,
    },
}

/// One alert rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The alert's name (`alertname`), unique per function.
    pub name: Cow<'static, str>,
    /// The watched function, `module::function` (as in `code.function.name`).
    pub function: Cow<'static, str>,
    /// What is measured.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The threshold, in canonical units (fraction, seconds, per second, count).
    pub threshold: f64,
    /// The sliding window the metric is measured over.
    pub window: Duration,
    /// How long the condition must hold before the alert fires (`for`).
    pub for_: Duration,
    /// How urgent.
    pub severity: Severity,
    /// The channels to notify (names from `alerts.channels` in the config; `console` is built in).
    pub notify: Vec<Cow<'static, str>>,
    /// A one-line summary, with `{function}`, `{value}` and `{threshold}` placeholders.
    pub summary: Option<Cow<'static, str>>,
    /// A longer description, with the same placeholders.
    pub description: Option<Cow<'static, str>>,
    /// Extra labels (`labels(team = "payments")`).
    pub labels: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// Where it was declared.
    pub origin: Origin,
    /// Turned off by a config override.
    pub disabled: bool,
}

/// The default window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

impl Rule {
    /// The default name: `<function name>_<metric>` (`checkout_p99_latency`).
    pub fn default_name(function: &str, metric: Metric) -> String {
        let f = function.rsplit("::").next().unwrap_or(function);
        format!("{f}_{}", metric.name())
    }

    /// The threshold as written in the grammar (`5%`, `200ms`, `10`).
    pub fn threshold_text(&self) -> String {
        format_threshold(self.metric, self.threshold)
    }

    /// A value of this rule's metric as a person reads it (`7.5%`, `312ms`).
    pub fn value_text(&self, value: f64) -> String {
        format_threshold(self.metric, value)
    }

    /// The condition as written in the grammar: `p99_latency > 200ms`.
    pub fn condition(&self) -> String {
        format!("{} {} {}", self.metric.name(), self.op.as_str(), self.threshold_text())
    }

    /// The summary template: the rule's own, or
    /// `{function}: <metric> is {value} (<op> {threshold} over <window>)`.
    pub fn summary_template(&self) -> Cow<'_, str> {
        match &self.summary {
            Some(s) => Cow::Borrowed(s.as_ref()),
            None => Cow::Owned(format!(
                "{{function}}: {} is {{value}} ({} {{threshold}} over {})",
                self.metric.name(),
                self.op.as_str(),
                format_duration(self.window)
            )),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}: {} over {}",
            self.name,
            self.function,
            self.condition(),
            format_duration(self.window)
        )?;
        if !self.for_.is_zero() {
            write!(f, " for {}", format_duration(self.for_))?;
        }
        Ok(())
    }
}

/// A value of `metric` as written in the grammar: `5%` for an error rate (a fraction), `200ms` for
/// a latency (seconds), the number otherwise.
pub fn format_threshold(metric: Metric, v: f64) -> String {
    match metric {
        Metric::ErrorRate => format!("{}%", trim(v * 100.0)),
        Metric::Latency(_) => {
            if v >= 1.0 {
                format!("{}s", trim(v))
            } else if v >= 0.001 {
                format!("{}ms", trim(v * 1e3))
            } else {
                format!("{}us", trim(v * 1e6))
            }
        }
        _ => trim(v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{:.3}", v);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `5m`, `90s`, `1h30m`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}
