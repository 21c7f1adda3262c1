//! Alerts (`telemark::alerts`, telemark's `alerts` feature): rules declared with `#[alert_on(...)]`
//! or in the config, evaluated in process over the per-function metrics, and delivered through
//! channels — and the same rules as a Prometheus rule file.
//!
//! Built on the runtime (`telemark-runtime`) through a small interface: its per-function metrics
//! (`telemark_runtime::metrics::snapshot`) and, in `telemark_runtime::host`, the query barrier,
//! the marking of telemark's own threads and a few config helpers. The runtime starts the service
//! through [`Alerts`], the `alerts:` section of its configuration.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

// The parts, each tested on its own (the integration tests drive the evaluator and the
// dispatcher directly on a controlled clock); what a program names is re-exported below.
#[doc(hidden)]
pub mod channels;
#[doc(hidden)]
pub mod config;
#[doc(hidden)]
pub mod eval;
mod http;
#[doc(hidden)]
pub mod notify;
#[doc(hidden)]
pub mod parse;
#[doc(hidden)]
pub mod prometheus;
#[doc(hidden)]
pub mod rule;
mod service;
mod smtp;
mod worker;

pub use config::{Alerts, AlertsConfig, ChannelConfig, ChannelKind, OverrideConfig, RuleConfig, SmtpTls};
pub use eval::{ActiveAlert, State};
pub use notify::{Alert, AlertHandler, AlertState, DeliveryStats, Notification};
pub use prometheus::prometheus_rules;
pub use rule::{Metric, Op, Origin, Quantile, Rule, Severity, DEFAULT_MIN_CALLS};
pub use service::{active, delivery};

use std::borrow::Cow;
use std::time::Duration;

/// A rule as `#[alert_on]` registers it at link time (generated code; see [`rules`]).
#[doc(hidden)]
#[derive(Debug)]
pub struct StaticRule {
    /// The alert's name.
    pub name: &'static str,
    /// `module::function`.
    pub function: &'static str,
    /// What is measured.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The threshold in canonical units.
    pub threshold: f64,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// `for`, in milliseconds.
    pub for_ms: u64,
    /// How urgent.
    pub severity: Severity,
    /// Channel names.
    pub notify: &'static [&'static str],
    /// The summary template.
    pub summary: Option<&'static str>,
    /// The description template.
    pub description: Option<&'static str>,
    /// `min_calls`, when the attribute sets it.
    pub min_calls: Option<u64>,
    /// Extra labels.
    pub labels: &'static [(&'static str, &'static str)],
    /// The source file of the attribute.
    pub file: &'static str,
    /// Its line.
    pub line: u32,
}

inventory::collect!(StaticRule);

impl StaticRule {
    #[doc(hidden)] // generated code
    /// A rule with what `#[alert_on]` always says (its own defaults filled in by the macro) and
    /// nothing else: no `for`, summary, description, `min_calls` or labels (the builder calls below
    /// add those it has). Const, for `inventory::submit!`.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        name: &'static str,
        function: &'static str,
        metric: Metric,
        op: Op,
        threshold: f64,
        window_ms: u64,
        severity: Severity,
        notify: &'static [&'static str],
        file: &'static str,
        line: u32,
    ) -> StaticRule {
        StaticRule {
            name,
            function,
            metric,
            op,
            threshold,
            window_ms,
            for_ms: 0,
            severity,
            notify,
            summary: None,
            description: None,
            min_calls: None,
            labels: &[],
            file,
            line,
        }
    }

    #[doc(hidden)] // generated code: `for = ..`
    /// How long the condition holds before the alert fires.
    pub const fn for_ms(mut self, ms: u64) -> StaticRule {
        self.for_ms = ms;
        self
    }

    #[doc(hidden)] // generated code: `summary = ..`
    /// The summary template.
    pub const fn summary(mut self, summary: &'static str) -> StaticRule {
        self.summary = Some(summary);
        self
    }

    #[doc(hidden)] // generated code: `description = ..`
    /// The description template.
    pub const fn description(mut self, description: &'static str) -> StaticRule {
        self.description = Some(description);
        self
    }

    #[doc(hidden)] // generated code: `min_calls = ..`
    /// The fewest calls in the window for the rule to be evaluated.
    pub const fn min_calls(mut self, n: u64) -> StaticRule {
        self.min_calls = Some(n);
        self
    }

    #[doc(hidden)] // generated code: `labels = {..}`
    /// Extra labels.
    pub const fn labels(mut self, labels: &'static [(&'static str, &'static str)]) -> StaticRule {
        self.labels = labels;
        self
    }

    /// The rule it declares.
    pub fn to_rule(&self) -> Rule {
        Rule {
            name: Cow::Borrowed(self.name),
            function: Cow::Borrowed(self.function),
            metric: self.metric,
            op: self.op,
            threshold: self.threshold,
            window: Duration::from_millis(self.window_ms),
            for_: Duration::from_millis(self.for_ms),
            severity: self.severity,
            notify: self.notify.iter().map(|n| Cow::Borrowed(*n)).collect(),
            summary: self.summary.map(Cow::Borrowed),
            description: self.description.map(Cow::Borrowed),
            min_calls: self.min_calls,
            labels: self.labels.iter().map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v))).collect(),
            origin: Origin::Macro { file: self.file, line: self.line },
            disabled: false,
        }
    }
}

/// Every rule declared with `#[alert_on]` in this binary, with its source location — known at link
/// time, before any function has run — sorted by function and name.
pub fn declared_rules() -> Vec<Rule> {
    let mut v: Vec<Rule> = inventory::iter::<StaticRule>.into_iter().map(StaticRule::to_rule).collect();
    v.sort_by(|a, b| (&a.function, &a.name).cmp(&(&b.function, &b.name)));
    v
}

/// Every alert rule of this binary, with where it was declared — available before any function has
/// run: the rules declared with `#[alert_on]` ([`declared_rules`]) and, once `init` has applied the
/// config, its `alerts.rules` and `alerts.overrides` (see [`config::merge`]).
pub fn rules() -> Vec<Rule> {
    service::effective().unwrap_or_else(declared_rules)
}
