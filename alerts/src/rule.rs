//! Alert rules: what `#[alert_on(...)]` and `alerts.rules` in the config declare, in one model.
//!
//! A rule watches one function's metrics (see [`telemark_runtime::metrics`]) over a sliding `window`:
//! `<metric> <op> <threshold>`. Thresholds are kept in canonical units: a fraction for
//! `error_rate`, seconds for latencies, per second for `rate`, a count otherwise.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

pub use telemark_grammar::grammar::{DEFAULT_MIN_CALLS, DEFAULT_SEVERITY, DEFAULT_WINDOW};
pub use telemark_grammar::{Metric, Op, Quantile, Severity, METRIC_NAMES};

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
    /// How many calls the window must hold before the rule can fire, for the metrics that
    /// [take it](Metric::takes_min_calls) (`error_rate`, `p50_latency` to `p99_latency`): the
    /// rule's own (`min_calls`), an override's, or — filled in by [`merge`](crate::config::merge) —
    /// `alerts.min_calls`. `None` on other metrics, and on a rule nothing set it for yet
    /// ([`DEFAULT_MIN_CALLS`] then). See [`Rule::min_calls_in_force`].
    pub min_calls: Option<u64>,
    /// Extra labels (`labels(team = "payments")`).
    pub labels: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// Where it was declared.
    pub origin: Origin,
    /// Turned off by a config override.
    pub disabled: bool,
}

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

    /// The least number of calls in the window for the condition to hold: `None` for a metric that
    /// takes no `min_calls`, else the rule's [`min_calls`](Rule::min_calls) or
    /// [`DEFAULT_MIN_CALLS`].
    pub fn min_calls_in_force(&self) -> Option<u64> {
        self.metric.takes_min_calls().then(|| self.min_calls.unwrap_or(DEFAULT_MIN_CALLS))
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
        if let Some(n) = self.min_calls_in_force() {
            write!(f, ", min_calls {n}")?;
        }
        Ok(())
    }
}

pub use telemark_grammar::{format_duration, format_threshold};
