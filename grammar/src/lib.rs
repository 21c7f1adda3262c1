//! The grammar of telemark's alert rules, shared by `#[alert_on]` (checked at compile time, in
//! telemark-macros) and the config (`alerts.rules`, `alerts.overrides`, in telemark-runtime): the
//! metrics, comparisons, thresholds, durations, templates, label and rule names, and the messages
//! that explain a mistake — so a mistake reads the same in code and in the config. Use it through
//! the `telemark` crate.
//!
//! It is also the one grammar of every duration telemark reads, alert or not (`export.delay`,
//! `alerts.group_wait`, `#[alert_on(window = "..")]`): [`grammar::parse_duration`] and
//! [`format_duration`], documented in full on [`grammar::parse_duration`].

mod duration;

pub use duration::{format_duration, MAX_DURATION};

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

    /// Whether a rule on this metric waits for [`grammar::DEFAULT_MIN_CALLS`] (or its own
    /// `min_calls`) calls in the window before it can fire: `error_rate` and the latency quantiles
    /// `p50_latency` to `p99_latency`, which are statistics of the calls and say little over a few
    /// of them. Not the counts (`errors`, `calls`, `rate`, `exceptions`: they are the evidence
    /// themselves, and `calls < 1` must fire with no call at all), nor `max_latency` (one slow
    /// call is what it is there to catch).
    pub fn takes_min_calls(self) -> bool {
        match self {
            Metric::ErrorRate => true,
            Metric::Latency(q) => q != Quantile::Max,
            Metric::Errors | Metric::Calls | Metric::Rate | Metric::Exceptions => false,
        }
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

/// Every severity name the grammar accepts, least urgent first.
pub const SEVERITY_NAMES: &[&str] = &["info", "warning", "critical"];

impl Severity {
    /// Parses `info`, `warning` or `critical` (see [`grammar::unknown_severity`] for the message
    /// when it is none of them).
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

/// A value of `metric` as written in the grammar: `5%` for an error rate (a fraction), `200ms` for
/// a latency (seconds), the number otherwise, to three decimals. The one format of a metric's
/// thresholds and values wherever a person reads them; `n/a` for no value (NaN: a ratio or a
/// quantile over no call).
pub fn format_threshold(metric: Metric, v: f64) -> String {
    if v.is_nan() {
        return "n/a".to_string();
    }
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

/// The checks and their messages.
pub mod grammar {
    use super::{
        format_duration, format_threshold, Metric, Op, Quantile, Severity, METRIC_NAMES, SEVERITY_NAMES,
    };
    use std::time::Duration;

    pub use crate::duration::{check_rule_duration, parse_duration};

    /// `for` may be at most this many windows long.
    ///
    /// The condition is measured over a sliding window and must hold at every evaluation for the
    /// whole `for` duration; a `for` of more than ten windows asks the condition to stay true across
    /// ten completely different windows in a row, which is almost always a mistake for a longer
    /// `window` (and makes an alert that takes hours to fire).
    pub const MAX_FOR_WINDOWS: u32 = 10;

    /// How many calls the window must hold before a rule on a metric that
    /// [takes it](super::Metric::takes_min_calls) (`error_rate`, `p50_latency` to `p99_latency`)
    /// can fire, unless the rule (`min_calls`) or the config (`alerts.min_calls`) says otherwise.
    ///
    /// Why 10: below 10 calls a single failed call is already an error rate of more than 10%,
    /// above almost any error-rate threshold, and a single slow call is the p90 to p99 — so one
    /// unlucky call in a quiet window would page someone. Ten calls is still few enough that a
    /// function called twice a minute is watched within the default 5-minute window, so an outage
    /// of a low-traffic function is not silenced. Raise it where one call in ten is not a
    /// signal yet: 20 for a 5% threshold to mean more than one failure, about 100 for `p99_latency`
    /// to be a 99th percentile rather than the slowest call; `min_calls = 1` turns the wait off.
    pub const DEFAULT_MIN_CALLS: u64 = 10;

    /// The window a rule's metric is measured over, unless the rule says otherwise (`window`):
    /// five minutes, long enough for a function called twice a minute to reach
    /// [`DEFAULT_MIN_CALLS`] calls, short enough to notice an outage within minutes.
    ///
    /// The one default of `#[alert_on]` and of `alerts.rules` in the config.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

    /// A rule's severity, unless it says otherwise (`severity`): someone should look.
    pub const DEFAULT_SEVERITY: Severity = Severity::Warning;

    /// The channel a rule notifies, unless it names its own (`notify`): the built-in `console`.
    pub const DEFAULT_CHANNEL: &str = "console";

    /// The placeholders of `summary` and `description`.
    pub const PLACEHOLDERS: &[&str] = &["function", "value", "threshold"];

    /// Labels a rule may not set: telemark sets them (`function`, `severity`), Prometheus does
    /// (`alertname`), or Prometheus reserves them (`__*`).
    pub const RESERVED_LABELS: &[&str] = &["alertname", "function", "severity"];

    /// A threshold's value in canonical units, or why it does not suit the metric. The same rules,
    /// in the same order and with the same messages, as `#[alert_on]`.
    pub fn threshold_value(
        metric: Metric,
        number: f64,
        unit: Option<&str>,
        percent: bool,
        negative: bool,
    ) -> Result<f64, String> {
        let name = metric.name();
        if negative {
            return Err(format!("a threshold cannot be negative: `{name}` is never below 0"));
        }
        if !number.is_finite() {
            return Err(format!("the threshold `{number}` is not a finite number"));
        }
        match metric {
            Metric::Latency(_) => {
                if percent {
                    return Err(format!(
                        "`{name}` is a duration, not a percentage: write a unit, like `{}ms`",
                        trim_number(number)
                    ));
                }
                let Some(u) = unit else {
                    return Err(format!(
                        "a latency threshold needs a unit: write `{n}ms` or `{n}s` (the units are `us`, `ms` and `s`)",
                        n = trim_number(number)
                    ));
                };
                let scale = match u {
                    "us" | "µs" => 1e-6,
                    "ms" => 1e-3,
                    "s" => 1.0,
                    other => return Err(unknown_unit(other, number)),
                };
                Ok(number * scale)
            }
            Metric::ErrorRate => {
                if let Some(u) = unit {
                    return Err(format!(
                        "`error_rate` takes a percentage (`5%`) or a fraction (`0.05`), not a unit like `{u}`"
                    ));
                }
                if percent {
                    if number > 100.0 {
                        return Err(format!("an error rate is at most 100%, got {}%", trim_number(number)));
                    }
                    Ok(number / 100.0)
                } else {
                    if number > 1.0 {
                        return Err(format!(
                            "an error rate without `%` is a fraction between 0 and 1, got {n}; did you mean `{n}%`?",
                            n = trim_number(number)
                        ));
                    }
                    Ok(number)
                }
            }
            Metric::Errors | Metric::Calls | Metric::Rate | Metric::Exceptions => {
                let what = if metric == Metric::Rate { "calls per second" } else { "a count" };
                if percent {
                    return Err(format!(
                        "only `error_rate` takes a percentage; `{name}` is {what}: write `{}`",
                        trim_number(number)
                    ));
                }
                if let Some(u) = unit {
                    return Err(format!(
                        "`{name}` is {what} and takes no unit: write `{n}` instead of `{n}{u}` (units are for \
                         latencies)",
                        n = trim_number(number)
                    ));
                }
                Ok(number)
            }
        }
    }

    /// Conditions that can never or that always hold.
    pub fn check_condition(metric: Metric, op: Op, threshold: f64) -> Result<(), String> {
        let name = metric.name();
        let t = format_threshold(metric, threshold);
        if threshold == 0.0 && op == Op::Lt {
            return Err(format!(
                "`{name} < {t}` can never hold (`{name}` is never below 0), so this alert would never fire"
            ));
        }
        if threshold == 0.0 && op == Op::Ge {
            return Err(format!(
                "`{name} >= {t}` always holds, so this alert would always fire; did you mean `{name} > {t}`?"
            ));
        }
        if metric == Metric::ErrorRate && threshold >= 1.0 {
            if op == Op::Gt {
                return Err(format!(
                    "`error_rate > {t}` can never hold (an error rate is at most 100%), so this alert would never fire"
                ));
            }
            if op == Op::Le {
                return Err(format!(
                    "`error_rate <= {t}` always holds (an error rate is at most 100%), so this alert would always fire"
                ));
            }
        }
        Ok(())
    }

    /// Parses a `min_calls` value as written (`20`, `1_000`): a whole number of calls, at least 1.
    /// A negative, fractional or zero value is an error saying what would be right.
    pub fn parse_min_calls(text: &str) -> Result<u64, String> {
        let s = text.trim();
        let like = format!("a whole number of at least 1, like `20` (the default is {DEFAULT_MIN_CALLS})");
        let (negative, body) = match s.strip_prefix('-') {
            Some(b) => (true, b.trim_start()),
            None => (false, s),
        };
        let digits: String = body.chars().filter(|c| *c != '_').collect();
        let number: Option<f64> = digits.parse().ok().filter(|n: &f64| n.is_finite() && !digits.is_empty());
        let Some(n) = number else {
            return Err(format!("`min_calls` is a number of calls: write {like}, not `{s}`"));
        };
        if negative && n != 0.0 {
            return Err(format!(
                "`min_calls` is a number of calls and cannot be negative, got `{s}`: write {like}"
            ));
        }
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            let whole = if n.fract() == 0.0 {
                format!("write `{n}`")
            } else {
                let low = n.floor().max(1.0);
                let high = n.ceil().max(1.0);
                if low == high {
                    format!("write `{low}`")
                } else {
                    format!("write `{low}` or `{high}`")
                }
            };
            return Err(format!("`min_calls` is a whole number of calls, not `{s}`: {whole}"));
        }
        match digits.parse::<u64>() {
            Ok(0) => Err(format!(
                "`min_calls` is at least 1: it is how many calls the window must hold before the rule can \
                 fire; write `1` to let any call count (the default is {DEFAULT_MIN_CALLS})"
            )),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("`min_calls` `{s}` is too large: write {like}")),
        }
    }

    /// Checks that `min_calls` suits the metric (see [`Metric::takes_min_calls`]).
    pub fn check_min_calls_metric(metric: Metric) -> Result<(), String> {
        if metric.takes_min_calls() {
            return Ok(());
        }
        let name = metric.name();
        let why = match metric {
            Metric::Latency(_) => "which is about single calls (one slow call is what it catches)",
            Metric::Rate => "which counts calls itself (the least rate that matters is its threshold)",
            _ => "which is a count itself (the least count that matters is its threshold)",
        };
        Err(format!(
            "`min_calls` applies to `error_rate` and the latency quantiles `p50_latency` to `p99_latency`, \
             not to `{name}`, {why}"
        ))
    }

    /// `>`, `>=`, `<` or `<=`.
    pub fn parse_op(text: &str) -> Result<Op, String> {
        Ok(match text {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            "" => return Err("expected a comparison after the metric: `>`, `>=`, `<` or `<=`".to_string()),
            other => return Err(bad_op(other)),
        })
    }

    /// The message for a comparison that is not one of the four.
    pub fn bad_op(op: &str) -> String {
        let hint = match op {
            "=>" => "; did you mean `>=`?",
            "=<" => "; did you mean `<=`?",
            "=" | "==" | "!=" => "; a rule fires on a bound, so equality is not supported",
            _ => "",
        };
        format!("unknown comparison `{op}`, expected `>`, `>=`, `<` or `<=`{hint}")
    }

    /// The message for a metric name that is not one of [`METRIC_NAMES`].
    pub fn unknown_metric(name: &str) -> String {
        let list = join(METRIC_NAMES);
        let hint = match name {
            "latency" | "duration" | "p999" | "p999_latency" | "p75" | "p75_latency" | "avg_latency"
            | "mean_latency" | "min_latency" => Some(
                "the latencies are `p50_latency`, `p90_latency`, `p95_latency`, `p99_latency` and `max_latency`"
                    .to_string(),
            ),
            "throughput" | "qps" | "rps" | "requests_per_second" | "calls_per_second" => {
                Some("did you mean `rate` (calls per second)?".to_string())
            }
            "requests" | "count" | "invocations" => Some("did you mean `calls`?".to_string()),
            "failures" | "error_count" | "failed" => Some("did you mean `errors`?".to_string()),
            "failure_rate" | "error_ratio" | "errors_rate" => Some("did you mean `error_rate`?".to_string()),
            "panics" | "exception_count" => Some("did you mean `exceptions`?".to_string()),
            _ => closest(name, METRIC_NAMES).map(|c| format!("did you mean `{c}`?")),
        };
        match hint {
            Some(h) => format!("unknown metric `{name}`: {h} (the metrics are {list})"),
            None => format!("unknown metric `{name}`, expected one of {list}"),
        }
    }

    fn unknown_unit(unit: &str, number: f64) -> String {
        let n = trim_number(number);
        let hint = match unit {
            "sec" | "secs" | "second" | "seconds" => format!("; did you mean `{n}s`?"),
            "msec" | "msecs" | "millis" | "milliseconds" | "millisecond" => {
                format!("; did you mean `{n}ms`?")
            }
            "usec" | "usecs" | "micros" | "microseconds" | "microsecond" => {
                format!("; did you mean `{n}us`?")
            }
            "m" | "min" | "mins" | "minute" | "minutes" | "h" | "hour" | "hours" => {
                "; a latency above a few seconds is written in seconds, like `90s`".to_string()
            }
            "ns" | "nanos" => "; latencies are measured with a resolution of 1us".to_string(),
            _ => String::new(),
        };
        format!("unknown unit `{unit}` in a latency threshold, expected `us`, `ms` or `s`{hint}")
    }

    /// The message for a condition without a threshold.
    pub fn missing_threshold(metric: Metric, op: &str) -> String {
        format!("`{} {op}` needs a threshold: {}", metric.name(), example(metric))
    }

    /// An example condition for a metric, for messages.
    fn example(metric: Metric) -> String {
        let t = match metric {
            Metric::ErrorRate => "5%",
            Metric::Latency(Quantile::Max) => "1s",
            Metric::Latency(_) => "200ms",
            Metric::Rate => "100",
            _ => "10",
        };
        format!("`{} > {t}`", metric.name())
    }

    /// Checks a rule's window and `for` together: the window is not zero, both are whole
    /// milliseconds ([`check_rule_duration`]) and `for` is at most [`MAX_FOR_WINDOWS`] windows.
    pub fn check_window(window: Duration, for_: Duration) -> Result<(), String> {
        if window.is_zero() {
            return Err(format!(
                "the window cannot be zero: the metric is measured over it; the default is `{}`",
                format_duration(DEFAULT_WINDOW)
            ));
        }
        check_rule_duration("window", window)?;
        check_rule_duration("for", for_)?;
        if for_ > window * MAX_FOR_WINDOWS {
            return Err(format!(
                "`for` ({}) is longer than {MAX_FOR_WINDOWS} × the window ({}): the condition would have to \
                 hold over more than {MAX_FOR_WINDOWS} successive windows; make `window` longer or `for` shorter",
                format_duration(for_),
                format_duration(window)
            ));
        }
        Ok(())
    }

    /// One piece of a `summary` or `description` template.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Piece {
        /// Text as it is (`{{` and `}}` already turned into `{` and `}`).
        Text(String),
        /// `{function}`: the watched function.
        Function,
        /// `{value}`: the metric's value when the alert fired.
        Value,
        /// `{threshold}`: the threshold, as written in the grammar.
        Threshold,
    }

    /// Splits a template into text and placeholders; `{{` and `}}` are literal braces. An unknown
    /// placeholder or a lone brace is an error.
    pub fn template_pieces(text: &str) -> Result<Vec<Piece>, String> {
        let mut out = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(
                            "unclosed `{` in the template: placeholders are `{function}`, `{value}` and `{threshold}`; \
                             write `{{` for a literal brace"
                                .to_string(),
                        );
                    };
                    let name = &rest[..end];
                    let piece = match name {
                        "function" => Piece::Function,
                        "value" => Piece::Value,
                        "threshold" => Piece::Threshold,
                        other => return Err(unknown_placeholder(other)),
                    };
                    if !lit.is_empty() {
                        out.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    out.push(piece);
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                }
                '}' => {
                    return Err("unmatched `}` in the template: write `}}` for a literal brace".to_string());
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            out.push(Piece::Text(lit));
        }
        Ok(out)
    }

    /// Checks a template (see [`template_pieces`]).
    pub fn check_template(text: &str) -> Result<(), String> {
        template_pieces(text).map(|_| ())
    }

    fn unknown_placeholder(name: &str) -> String {
        let hint = match name {
            "fn" | "func" | "function_name" | "name" | "fn_name" => Some("function"),
            "limit" | "bound" | "max" => Some("threshold"),
            "current" | "val" | "actual" => Some("value"),
            _ => closest(name, PLACEHOLDERS),
        };
        let hint = hint.map(|h| format!("; did you mean `{{{h}}}`?")).unwrap_or_default();
        format!(
            "unknown placeholder `{{{name}}}`, expected `{{function}}`, `{{value}}` or `{{threshold}}`{hint} \
             (write `{{{{` for a literal brace)"
        )
    }

    /// Checks a label name: a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`) that telemark or
    /// Prometheus does not reserve.
    pub fn check_label_name(name: &str) -> Result<(), String> {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let fixed: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
            let fixed =
                if fixed.starts_with(|c: char| c.is_ascii_digit()) { format!("_{fixed}") } else { fixed };
            return Err(format!(
                "`{name}` is not a valid Prometheus label name: letters, digits and `_`, not starting with a \
                 digit; did you mean `{fixed}`?"
            ));
        }
        if name.starts_with("__") {
            return Err(format!("label `{name}`: names starting with `__` are reserved by Prometheus"));
        }
        if RESERVED_LABELS.contains(&name) {
            let why = match name {
                "alertname" => "it is the rule's name (set it with `name = \"...\"`)",
                "severity" => "it is the rule's severity (set it with `severity = \"...\"`)",
                _ => "it is the watched function, set by telemark",
            };
            return Err(format!("label `{name}` is reserved: {why}"));
        }
        Ok(())
    }

    /// Checks a rule name: it becomes the Prometheus `alertname` and the key of config overrides, so
    /// it starts with a letter or `_` and has only letters, digits, `_`, `-`, `.` and `:`.
    pub fn check_rule_name(name: &str) -> Result<(), String> {
        if name.trim().is_empty() {
            return Err("a rule name cannot be empty; leave `name` out for `<function>_<metric>`".to_string());
        }
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !valid {
            return Err(format!(
                "invalid rule name `{name}`: it becomes the alert's `alertname`; use letters, digits, `_`, `-`, \
                 `.` and `:`, starting with a letter, like `checkout_slow`"
            ));
        }
        Ok(())
    }

    /// Checks a channel name in `notify`.
    pub fn check_channel_name(name: &str) -> Result<(), String> {
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(format!(
                "invalid channel name `{name}`: a channel is named in `alerts.channels` of the config with letters, \
                 digits, `_`, `-` and `.` (`console` is built in)"
            ));
        }
        Ok(())
    }

    /// The message for an unknown severity.
    pub fn unknown_severity(text: &str) -> String {
        let hint = match text.to_ascii_lowercase().as_str() {
            "warn" => Some("warning"),
            "error" | "fatal" | "page" | "high" | "crit" => Some("critical"),
            "debug" | "notice" | "low" | "information" => Some("info"),
            l => SEVERITY_NAMES.iter().copied().find(|s| *s == l).or_else(|| closest(l, SEVERITY_NAMES)),
        };
        let hint = hint.map(|h| format!("; did you mean `{h}`?")).unwrap_or_default();
        format!("unknown severity `{text}`, expected `info`, `warning` or `critical`{hint}")
    }

    /// `1.5`, `200`: a number as written, without trailing zeros.
    fn trim_number(v: f64) -> String {
        format!("{v}")
    }

    /// `` `a`, `b`, `c` ``: names for a message.
    pub fn join(items: &[&str]) -> String {
        items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    }

    /// The Levenshtein distance between `a` and `b`, in characters: how many insertions, deletions
    /// and substitutions turn one into the other. The one edit distance of telemark's messages
    /// (see [`closest`]).
    pub fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }

    /// The candidate closest to `word`, when it is close enough to be a typo.
    pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
        candidates
            .iter()
            .map(|c| (distance(word, c), *c))
            .filter(|(d, c)| *d <= 2 && *d < c.len())
            .min_by_key(|(d, _)| *d)
            .map(|(_, c)| c)
    }
}

/// Why an exception ignore pattern (`#[capture_exceptions(ignore = [..])]`, `exceptions.ignore`)
/// is not valid, if it is not: it must not be empty, and a type path (`io::ErrorKind::WouldBlock`)
/// must be identifiers joined by `::` (anything without `::` is looked for in the type and the
/// message).
pub fn ignore_pattern_error(pattern: &str) -> Option<&'static str> {
    if pattern.trim().is_empty() {
        return Some("a pattern cannot be empty");
    }
    if pattern.contains("::") {
        let ok = pattern.split("::").all(|seg| {
            let mut c = seg.chars();
            c.next().is_some_and(|f| f.is_alphabetic() || f == '_')
                && c.all(|c| c.is_alphanumeric() || c == '_')
        });
        if !ok {
            return Some(
                "a type pattern must be identifiers joined by `::`, like `io::ErrorKind::WouldBlock` \
                 (anything without `::` is looked for in the type and the message)",
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::grammar::*;
    use super::{
        format_threshold, ignore_pattern_error, Metric, Op, Quantile, Severity, METRIC_NAMES, SEVERITY_NAMES,
    };

    /// Asserts that `result` is an error containing every one of `parts`.
    #[track_caller]
    fn assert_err<T: std::fmt::Debug>(result: Result<T, String>, parts: &[&str]) {
        let e = result.expect_err("should be an error");
        for p in parts {
            assert!(e.contains(p), "`{p}` not in: {e}");
        }
    }

    #[test]
    fn every_metric_name_parses_to_the_metric_of_that_name() {
        for name in METRIC_NAMES {
            let m = Metric::parse(name).unwrap();
            assert_eq!(m.name(), *name);
        }
        assert_eq!(Metric::parse("p99"), Some(Metric::Latency(Quantile::P99)));
        assert_eq!(Metric::parse("max"), Some(Metric::Latency(Quantile::Max)));
        assert_eq!(Metric::parse("latency"), None);
        assert_eq!(Metric::parse("P99_latency"), None);
    }

    #[test]
    fn quantiles_as_numbers() {
        let q = [Quantile::P50, Quantile::P90, Quantile::P95, Quantile::P99, Quantile::Max];
        assert_eq!(q.map(Quantile::value), [0.5, 0.9, 0.95, 0.99, 1.0]);
    }

    #[test]
    fn only_statistics_of_calls_wait_for_min_calls() {
        let takes: Vec<&str> =
            METRIC_NAMES.iter().copied().filter(|n| Metric::parse(n).unwrap().takes_min_calls()).collect();
        assert_eq!(takes, ["error_rate", "p50_latency", "p90_latency", "p95_latency", "p99_latency"]);
        assert_eq!(check_min_calls_metric(Metric::ErrorRate), Ok(()));
        assert_err(check_min_calls_metric(Metric::Errors), &["not to `errors`", "a count itself"]);
        assert_err(check_min_calls_metric(Metric::Rate), &["not to `rate`", "counts calls itself"]);
        assert_err(
            check_min_calls_metric(Metric::Latency(Quantile::Max)),
            &["not to `max_latency`", "about single calls"],
        );
    }

    #[test]
    fn comparisons() {
        for (text, op) in [(">", Op::Gt), (">=", Op::Ge), ("<", Op::Lt), ("<=", Op::Le)] {
            assert_eq!(parse_op(text), Ok(op));
            assert_eq!(op.as_str(), text);
        }
        assert!(Op::Gt.holds(2.0, 1.0) && !Op::Gt.holds(1.0, 1.0));
        assert!(Op::Ge.holds(1.0, 1.0) && !Op::Ge.holds(0.5, 1.0));
        assert!(Op::Lt.holds(0.5, 1.0) && !Op::Lt.holds(1.0, 1.0));
        assert!(Op::Le.holds(1.0, 1.0) && !Op::Le.holds(2.0, 1.0));
        // A ratio over no call (NaN) holds no comparison.
        assert!(![Op::Gt, Op::Ge, Op::Lt, Op::Le].iter().any(|op| op.holds(f64::NAN, 0.0)));
    }

    #[test]
    fn a_wrong_comparison_says_what_was_meant() {
        assert_err(parse_op(""), &["expected a comparison after the metric"]);
        assert_eq!(
            parse_op("=>"),
            Err("unknown comparison `=>`, expected `>`, `>=`, `<` or `<=`; did you mean `>=`?".to_string())
        );
        assert!(bad_op("=<").ends_with("did you mean `<=`?"));
        for eq in ["=", "==", "!="] {
            assert!(bad_op(eq).ends_with("equality is not supported"), "{eq}");
        }
        assert_eq!(bad_op("<>"), "unknown comparison `<>`, expected `>`, `>=`, `<` or `<=`");
    }

    #[test]
    fn thresholds_in_canonical_units() {
        let p99 = Metric::Latency(Quantile::P99);
        assert_eq!(threshold_value(p99, 200.0, Some("ms"), false, false), Ok(0.2));
        assert_eq!(threshold_value(p99, 1.5, Some("s"), false, false), Ok(1.5));
        assert_eq!(threshold_value(p99, 250.0, Some("us"), false, false), Ok(250e-6));
        assert_eq!(threshold_value(p99, 250.0, Some("µs"), false, false), Ok(250e-6));
        assert_eq!(threshold_value(Metric::ErrorRate, 5.0, None, true, false), Ok(0.05));
        assert_eq!(threshold_value(Metric::ErrorRate, 0.05, None, false, false), Ok(0.05));
        assert_eq!(threshold_value(Metric::ErrorRate, 100.0, None, true, false), Ok(1.0));
        assert_eq!(threshold_value(Metric::Errors, 10.0, None, false, false), Ok(10.0));
        assert_eq!(threshold_value(Metric::Rate, 0.5, None, false, false), Ok(0.5));
    }

    #[test]
    fn a_threshold_that_does_not_suit_its_metric_says_what_would() {
        let p99 = Metric::Latency(Quantile::P99);
        assert_err(threshold_value(Metric::Errors, 1.0, None, false, true), &["cannot be negative"]);
        assert_err(threshold_value(Metric::Errors, f64::INFINITY, None, false, false), &["not a finite"]);
        assert_err(threshold_value(p99, 200.0, None, false, false), &["needs a unit", "`200ms` or `200s`"]);
        assert_err(threshold_value(p99, 5.0, None, true, false), &["not a percentage", "`5ms`"]);
        assert_err(threshold_value(p99, 2.0, Some("sec"), false, false), &["unknown unit `sec`", "`2s`?"]);
        assert_err(threshold_value(p99, 2.0, Some("millis"), false, false), &["`2ms`?"]);
        assert_err(threshold_value(p99, 2.0, Some("micros"), false, false), &["`2us`?"]);
        assert_err(threshold_value(p99, 2.0, Some("m"), false, false), &["written in seconds"]);
        assert_err(threshold_value(p99, 2.0, Some("ns"), false, false), &["resolution of 1us"]);
        assert_err(threshold_value(p99, 2.0, Some("parsec"), false, false), &["expected `us`, `ms` or `s`"]);
        assert_err(
            threshold_value(Metric::ErrorRate, 5.0, Some("ms"), false, false),
            &["not a unit like `ms`"],
        );
        assert_err(threshold_value(Metric::ErrorRate, 150.0, None, true, false), &["at most 100%, got 150%"]);
        assert_err(threshold_value(Metric::ErrorRate, 5.0, None, false, false), &["did you mean `5%`?"]);
        assert_err(threshold_value(Metric::Calls, 5.0, None, true, false), &["only `error_rate`", "`5`"]);
        assert_err(
            threshold_value(Metric::Rate, 5.0, Some("s"), false, false),
            &["`rate` is calls per second", "`5` instead of `5s`"],
        );
    }

    #[test]
    fn conditions_that_always_or_never_hold() {
        let e = check_condition(Metric::Errors, Op::Lt, 0.0).unwrap_err();
        assert_eq!(
            e,
            "`errors < 0` can never hold (`errors` is never below 0), so this alert would never fire"
        );
        assert_err(check_condition(Metric::Calls, Op::Ge, 0.0), &["always holds", "`calls > 0`?"]);
        assert_err(check_condition(Metric::ErrorRate, Op::Gt, 1.0), &["`error_rate > 100%` can never hold"]);
        assert_err(check_condition(Metric::ErrorRate, Op::Le, 1.0), &["`error_rate <= 100%` always holds"]);
        assert_eq!(check_condition(Metric::Errors, Op::Gt, 0.0), Ok(()));
        assert_eq!(check_condition(Metric::ErrorRate, Op::Ge, 1.0), Ok(()));
        assert_eq!(check_condition(Metric::ErrorRate, Op::Lt, 1.0), Ok(()));
    }

    #[test]
    fn thresholds_are_written_as_the_grammar_reads_them() {
        let p99 = Metric::Latency(Quantile::P99);
        assert_eq!(format_threshold(Metric::ErrorRate, 0.05), "5%");
        assert_eq!(format_threshold(Metric::ErrorRate, 0.30357), "30.357%");
        assert_eq!(format_threshold(p99, 0.2), "200ms");
        assert_eq!(format_threshold(p99, 1.5), "1.5s");
        assert_eq!(format_threshold(p99, 0.00025), "250us");
        assert_eq!(format_threshold(Metric::Rate, 0.5), "0.5");
        assert_eq!(format_threshold(Metric::Errors, 10.0), "10");
        assert_eq!(format_threshold(Metric::Errors, f64::NAN), "n/a");
        // What it writes reads back as the same threshold.
        for (metric, v) in [(Metric::ErrorRate, 0.05), (p99, 0.2), (p99, 1.5), (Metric::Calls, 3.0)] {
            let text = format_threshold(metric, v);
            let (number, suffix) =
                text.split_at(text.find(|c: char| c.is_alphabetic() || c == '%').unwrap_or(text.len()));
            let (unit, percent) = match suffix {
                "%" => (None, true),
                "" => (None, false),
                u => (Some(u), false),
            };
            let back = threshold_value(metric, number.parse().unwrap(), unit, percent, false).unwrap();
            assert!((back - v).abs() < 1e-12, "{text}");
        }
    }

    #[test]
    fn min_calls_is_a_whole_number_of_at_least_one() {
        assert_eq!(parse_min_calls("20"), Ok(20));
        assert_eq!(parse_min_calls(" 1_000 "), Ok(1000));
        assert_eq!(parse_min_calls("1"), Ok(1));
        assert_err(parse_min_calls("0"), &["at least 1", &format!("the default is {DEFAULT_MIN_CALLS}")]);
        assert_err(parse_min_calls("-0"), &["at least 1"]);
        assert_err(parse_min_calls("-10"), &["cannot be negative, got `-10`"]);
        assert_err(parse_min_calls("2.5"), &["whole number of calls, not `2.5`: write `2` or `3`"]);
        assert_err(parse_min_calls("0.5"), &["write `1`"]);
        assert_err(parse_min_calls("20.0"), &["write `20`"]);
        assert_err(parse_min_calls("many"), &["is a number of calls", "not `many`"]);
        assert_err(parse_min_calls(""), &["is a number of calls"]);
        assert_err(parse_min_calls("99999999999999999999999"), &["too large"]);
    }

    #[test]
    fn unknown_metrics_list_the_metrics_and_guess_the_one_meant() {
        let e = unknown_metric("p99_latncy");
        assert!(
            e.starts_with(
                "unknown metric `p99_latncy`: did you mean `p99_latency`? (the metrics are `error_rate`,"
            ),
            "{e}"
        );
        assert!(unknown_metric("throughput").contains("did you mean `rate` (calls per second)?"));
        assert!(unknown_metric("latency").contains("the latencies are `p50_latency`"));
        assert!(unknown_metric("requests").contains("did you mean `calls`?"));
        assert!(unknown_metric("failures").contains("did you mean `errors`?"));
        assert!(unknown_metric("panics").contains("did you mean `exceptions`?"));
        let e = unknown_metric("zzzzzzzz");
        assert!(e.starts_with("unknown metric `zzzzzzzz`, expected one of `error_rate`, `errors`"), "{e}");
    }

    #[test]
    fn a_missing_threshold_gets_an_example_for_its_metric() {
        assert_eq!(
            missing_threshold(Metric::ErrorRate, ">"),
            "`error_rate >` needs a threshold: `error_rate > 5%`"
        );
        assert!(missing_threshold(Metric::Latency(Quantile::P90), ">=").ends_with("`p90_latency > 200ms`"));
        assert!(missing_threshold(Metric::Latency(Quantile::Max), ">").ends_with("`max_latency > 1s`"));
        assert!(missing_threshold(Metric::Rate, "<").ends_with("`rate > 100`"));
        assert!(missing_threshold(Metric::Errors, ">").ends_with("`errors > 10`"));
    }

    #[test]
    fn templates_split_into_text_and_placeholders() {
        assert_eq!(
            template_pieces("{function} is slow: {value} > {threshold}"),
            Ok(vec![
                Piece::Function,
                Piece::Text(" is slow: ".into()),
                Piece::Value,
                Piece::Text(" > ".into()),
                Piece::Threshold,
            ])
        );
        assert_eq!(template_pieces("{{literal}} é"), Ok(vec![Piece::Text("{literal} é".into())]));
        assert_eq!(template_pieces(""), Ok(vec![]));
        assert_eq!(check_template("no placeholders"), Ok(()));
        assert_err(
            check_template("{fn} failed"),
            &["unknown placeholder `{fn}`", "did you mean `{function}`?"],
        );
        assert_err(check_template("{valeu}"), &["did you mean `{value}`?"]);
        assert_err(check_template("{limit}"), &["did you mean `{threshold}`?"]);
        assert_err(check_template("{xyzzy}"), &["expected `{function}`, `{value}` or `{threshold}` (write"]);
        assert_err(check_template("open {value"), &["unclosed `{`"]);
        assert_err(check_template("close }"), &["unmatched `}`"]);
    }

    #[test]
    fn label_names() {
        assert_eq!(check_label_name("team"), Ok(()));
        assert_eq!(check_label_name("_team_2"), Ok(()));
        assert_err(check_label_name("team-name"), &["not a valid Prometheus label name", "`team_name`?"]);
        assert_err(check_label_name("2fa"), &["did you mean `_2fa`?"]);
        assert_err(check_label_name(""), &["not a valid Prometheus label name"]);
        assert_err(check_label_name("__name"), &["reserved by Prometheus"]);
        for reserved in RESERVED_LABELS {
            assert_err(check_label_name(reserved), &[&format!("label `{reserved}` is reserved")]);
        }
    }

    #[test]
    fn rule_names() {
        for ok in ["checkout_slow", "_x", "a-b.c:d", "A1"] {
            assert_eq!(check_rule_name(ok), Ok(()), "{ok}");
        }
        assert_err(check_rule_name(" "), &["cannot be empty", "`<function>_<metric>`"]);
        assert_err(check_rule_name("1st"), &["invalid rule name `1st`", "starting with a letter"]);
        assert_err(check_rule_name("a b"), &["invalid rule name `a b`"]);
    }

    #[test]
    fn channel_names() {
        for ok in ["console", "on-call.team_1"] {
            assert_eq!(check_channel_name(ok), Ok(()), "{ok}");
        }
        assert_err(check_channel_name(""), &["invalid channel name ``"]);
        assert_err(check_channel_name("on call"), &["invalid channel name `on call`", "`alerts.channels`"]);
    }

    #[test]
    fn severities() {
        for name in SEVERITY_NAMES {
            assert_eq!(Severity::parse(name).unwrap().as_str(), *name);
        }
        assert_eq!(Severity::parse("warn"), None);
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }

    #[test]
    fn the_defaults() {
        assert_eq!(crate::format_duration(DEFAULT_WINDOW), "5m");
        assert_eq!(DEFAULT_SEVERITY, Severity::Warning);
        assert_eq!(DEFAULT_CHANNEL, "console");
        assert_eq!(check_window(DEFAULT_WINDOW, std::time::Duration::ZERO), Ok(()));
        assert_err(
            check_window(std::time::Duration::ZERO, std::time::Duration::ZERO),
            &["the default is `5m`"],
        );
    }

    #[test]
    fn unknown_severities_guess_the_one_meant() {
        let hint =
            |text: &str| unknown_severity(text).rsplit_once("; did you mean ").map(|(_, h)| h.to_string());
        assert_eq!(hint("warn").as_deref(), Some("`warning`?"));
        assert_eq!(hint("error").as_deref(), Some("`critical`?"));
        assert_eq!(hint("debug").as_deref(), Some("`info`?"));
        assert_eq!(hint("Critical").as_deref(), Some("`critical`?"));
        assert_eq!(hint("critcal").as_deref(), Some("`critical`?"));
        assert_eq!(hint("zzzzzz"), None);
        assert_eq!(
            unknown_severity("zzzzzz"),
            "unknown severity `zzzzzz`, expected `info`, `warning` or `critical`"
        );
    }

    #[test]
    fn distance_counts_edits_in_characters() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("name", "name"), 0);
        assert_eq!(distance("nme", "name"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("µs", "us"), 1);
    }

    #[test]
    fn closest_finds_typos_only() {
        let options = ["name", "level", "kind"];
        assert_eq!(closest("nme", &options), Some("name"));
        assert_eq!(closest("levle", &options), Some("level"));
        assert_eq!(closest("kinds", &options), Some("kind"));
        assert_eq!(closest("zzzzzz", &options), None);
        // A distance as long as the candidate is no typo of it.
        assert_eq!(closest("ab", &["xy"]), None);
        assert_eq!(closest("x", &[]), None);
        // The nearest wins; on a tie, the first.
        assert_eq!(closest("cat", &["cart", "cat"]), Some("cat"));
        assert_eq!(closest("ab", &["abc", "abd"]), Some("abc"));
    }

    #[test]
    fn ignore_patterns() {
        for ok in ["NotFound", "io::ErrorKind::WouldBlock", "cache miss", "_a::b2"] {
            assert_eq!(ignore_pattern_error(ok), None, "{ok}");
        }
        assert_eq!(ignore_pattern_error(" "), Some("a pattern cannot be empty"));
        for bad in ["io::", "::io", "io:: ErrorKind", "io::1a"] {
            assert!(
                ignore_pattern_error(bad).unwrap().starts_with("a type pattern must be identifiers"),
                "{bad}"
            );
        }
    }
}
