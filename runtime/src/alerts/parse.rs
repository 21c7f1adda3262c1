//! The grammar of alert rules as text: conditions (`p99_latency > 200ms`), thresholds (`5%`,
//! `300ms`), durations (`5m`), templates (`{function} is slow`), label and rule names.
//!
//! `#[alert_on]` checks the same grammar at compile time: the checks and their messages live in
//! the `grammar` module below, between two marker lines, and `macros/src/alert.rs` holds a
//! byte-identical copy of that region (`tests/alert_rules.rs` compares them). The config
//! (`alerts.rules`, `alerts.overrides`) goes through the functions here, so a mistake reads the
//! same in both places.

pub use grammar::{
    bad_op, check_channel_name, check_condition, check_label_name, check_rule_name, check_template,
    check_window, missing_threshold, parse_duration, parse_op, template_pieces, threshold_value,
    unknown_metric, unknown_severity, Piece, MAX_FOR_WINDOWS, PLACEHOLDERS, RESERVED_LABELS,
};

pub(crate) use grammar::closest;

use super::rule::{Metric, Op, Severity};

/// Parses a condition: `<metric> <op> <threshold>`, like `p99_latency > 200ms`,
/// `error_rate >= 5%` or `rate < 0.5`. The threshold comes back in canonical units (a fraction for
/// `error_rate`, seconds for latencies, per second for `rate`, a count otherwise).
pub fn parse_condition(text: &str) -> Result<(Metric, Op, f64), String> {
    let s = text.trim();
    let name_end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    let (name, rest) = s.split_at(name_end);
    if name.is_empty() {
        return Err(format!(
            "expected a condition like `p99_latency > 200ms` or `error_rate > 5%`, got `{s}`"
        ));
    }
    let metric = Metric::parse(name).ok_or_else(|| unknown_metric(name))?;
    let rest = rest.trim_start();
    let op_end = rest.find(|c: char| !matches!(c, '<' | '>' | '=' | '!')).unwrap_or(rest.len());
    let (op_text, rest) = rest.split_at(op_end);
    let op = parse_op(op_text)?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(missing_threshold(metric, op_text));
    }
    let threshold = parse_threshold(metric, rest)?;
    check_condition(metric, op, threshold)?;
    Ok((metric, op, threshold))
}

/// Parses a threshold for `metric` (`300ms`, `2%`, `0.05`, `10`) into canonical units.
pub fn parse_threshold(metric: Metric, text: &str) -> Result<f64, String> {
    let raw = split_threshold(text)?;
    threshold_value(metric, raw.number, raw.unit, raw.percent, raw.negative)
}

/// A threshold split into its parts, before it is checked against a metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawThreshold<'a> {
    /// The number, without its sign.
    pub number: f64,
    /// A `-` in front of it.
    pub negative: bool,
    /// The unit after it (`ms`), if any.
    pub unit: Option<&'a str>,
    /// A `%` after it.
    pub percent: bool,
}

/// Splits `-5`, `200ms`, `1.5 s`, `5%` into number, unit and percent sign; whether they suit a
/// metric is [`parse_threshold`]'s business.
pub fn split_threshold(text: &str) -> Result<RawThreshold<'_>, String> {
    let s = text.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(b) => (true, b.trim_start()),
        None => (false, s),
    };
    let num_end = body.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(body.len());
    let (digits, tail) = body.split_at(num_end);
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let number: f64 = match clean.parse() {
        Ok(n) if !digits.starts_with('_') && !digits.starts_with('.') => n,
        _ => {
            return Err(format!("expected a number as the threshold, like `200ms`, `5%` or `10`, got `{s}`"))
        }
    };
    let tail = tail.trim();
    let (unit, percent) = match tail {
        "" => (None, false),
        "%" => (None, true),
        u if u.chars().all(|c| c.is_alphanumeric() || c == '_') => (Some(u), false),
        _ => {
            return Err(format!(
                "unexpected `{tail}` after the threshold `{digits}`: a threshold is a number with an \
                 optional unit or `%`, like `200ms`, `5%` or `10`"
            ))
        }
    };
    Ok(RawThreshold { number, negative, unit, percent })
}

/// Fills a template's placeholders (a template that does not parse is returned as it is).
pub fn render_template(text: &str, function: &str, value: &str, threshold: &str) -> String {
    match template_pieces(text) {
        Ok(pieces) => pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Function => function,
                Piece::Value => value,
                Piece::Threshold => threshold,
            })
            .collect(),
        Err(_) => text.to_string(),
    }
}

/// Parses `info`, `warning` or `critical`, with a hint for near misses.
pub fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| unknown_severity(text))
}

/// The checks and messages shared with `#[alert_on]`.
mod grammar {
    use super::super::rule::{format_duration, format_threshold, Metric, Op, Quantile, METRIC_NAMES};
    use std::time::Duration;

    // ---- BEGIN SHARED GRAMMAR: keep byte-identical with telemark-macros' src/alert.rs ----
    /// `for` may be at most this many windows long.
    ///
    /// The condition is measured over a sliding window and must hold at every evaluation for the
    /// whole `for` duration; a `for` of more than ten windows asks the condition to stay true across
    /// ten completely different windows in a row, which is almost always a mistake for a longer
    /// `window` (and makes an alert that takes hours to fire).
    pub const MAX_FOR_WINDOWS: u32 = 10;

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

    /// Parses a duration: whole numbers with units `ms`, `s`, `m`, `h`, `d`, one or several
    /// (`500ms`, `30s`, `5m`, `1h`, `1h30m`).
    pub fn parse_duration(text: &str) -> Result<Duration, String> {
        let s = text.trim();
        let malformed = || {
            format!(
                "malformed duration `{s}`: expected whole numbers with units `ms`, `s`, `m`, `h` or `d`, \
                 like `30s`, `5m` or `1h30m`"
            )
        };
        if s.is_empty() {
            return Err(malformed());
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits_end == 0 {
                return Err(malformed());
            }
            let (digits, tail) = rest.split_at(digits_end);
            let n: u128 = digits.parse().map_err(|_| malformed())?;
            if tail.starts_with('.') {
                return Err(format!(
                    "malformed duration `{s}`: use whole numbers, like `90s` instead of `1.5m`"
                ));
            }
            let unit_end = tail.find(|c: char| !c.is_alphabetic()).unwrap_or(tail.len());
            let (unit, after) = tail.split_at(unit_end);
            let ms = match unit {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "" if !after.trim().is_empty() => {
                    let hint = match unit_hint(after.trim()) {
                        Some(u) => format!("; did you mean `{digits}{u}`?"),
                        None => String::new(),
                    };
                    return Err(format!(
                        "malformed duration `{s}`: write the unit right after the number, like `{digits}s` or \
                         `{digits}m` (the units are `ms`, `s`, `m`, `h` and `d`){hint}"
                    ));
                }
                "" => {
                    return Err(format!(
                        "malformed duration `{s}`: `{digits}` needs a unit, like `{digits}s` or `{digits}m` \
                         (the units are `ms`, `s`, `m`, `h` and `d`)"
                    ))
                }
                other => {
                    let hint = match (other, unit_hint(other)) {
                        ("w" | "week" | "weeks", _) => format!("; write weeks as days, like `{}d`", n * 7),
                        (_, Some(u)) => format!("; did you mean `{digits}{u}`?"),
                        (_, None) => String::new(),
                    };
                    return Err(format!(
                        "malformed duration `{s}`: unknown unit `{other}`, expected `ms`, `s`, `m`, `h` or `d`{hint}"
                    ));
                }
            };
            total = n.checked_mul(ms).and_then(|v| total.checked_add(v)).ok_or_else(malformed)?;
            rest = after;
        }
        u64::try_from(total).map(Duration::from_millis).map_err(|_| malformed())
    }

    /// The unit a word for a duration means.
    fn unit_hint(word: &str) -> Option<&'static str> {
        Some(match word {
            "millis" | "msec" | "msecs" | "millisecond" | "milliseconds" => "ms",
            "sec" | "secs" | "second" | "seconds" => "s",
            "min" | "mins" | "minute" | "minutes" => "m",
            "hr" | "hrs" | "hour" | "hours" => "h",
            "day" | "days" => "d",
            _ => return None,
        })
    }

    /// Checks a rule's window and `for` together: the window is not zero and `for` is at most
    /// [`MAX_FOR_WINDOWS`] windows.
    pub fn check_window(window: Duration, for_: Duration) -> Result<(), String> {
        if window.is_zero() {
            return Err(
                "the window cannot be zero: the metric is measured over it; the default is `5m`".into()
            );
        }
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
        const SEVERITIES: &[&str] = &["info", "warning", "critical"];
        let hint = match text.to_ascii_lowercase().as_str() {
            "warn" => Some("warning"),
            "error" | "fatal" | "page" | "high" | "crit" => Some("critical"),
            "debug" | "notice" | "low" | "information" => Some("info"),
            l => SEVERITIES.iter().copied().find(|s| *s == l).or_else(|| closest(l, SEVERITIES)),
        };
        let hint = hint.map(|h| format!("; did you mean `{h}`?")).unwrap_or_default();
        format!("unknown severity `{text}`, expected `info`, `warning` or `critical`{hint}")
    }

    /// `1.5`, `200`: a number as written, without trailing zeros.
    fn trim_number(v: f64) -> String {
        format!("{v}")
    }

    fn join(items: &[&str]) -> String {
        items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    }

    fn distance(a: &str, b: &str) -> usize {
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
    // ---- END SHARED GRAMMAR ----
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rule::Quantile;
    use std::time::Duration;

    #[test]
    fn conditions() {
        assert_eq!(parse_condition("p99_latency > 200ms"), Ok((Metric::Latency(Quantile::P99), Op::Gt, 0.2)));
        assert_eq!(parse_condition("p99>1.5s"), Ok((Metric::Latency(Quantile::P99), Op::Gt, 1.5)));
        assert_eq!(parse_condition("error_rate >= 5%"), Ok((Metric::ErrorRate, Op::Ge, 0.05)));
        assert_eq!(parse_condition("error_rate > 0.05"), Ok((Metric::ErrorRate, Op::Gt, 0.05)));
        assert_eq!(parse_condition("rate < 0.5"), Ok((Metric::Rate, Op::Lt, 0.5)));
        assert_eq!(
            parse_condition("max_latency <= 500 us"),
            Ok((Metric::Latency(Quantile::Max), Op::Le, 0.0005))
        );
        assert_eq!(parse_condition("calls < 1_000"), Ok((Metric::Calls, Op::Lt, 1000.0)));
        let e = parse_condition("p99_latncy > 200ms").unwrap_err();
        assert!(e.contains("did you mean `p99_latency`?"), "{e}");
        let e = parse_condition("p99 > 200").unwrap_err();
        assert!(e.contains("needs a unit: write `200ms`"), "{e}");
        assert!(parse_condition("p99 > 2sec").unwrap_err().contains("did you mean `2s`?"));
        assert!(parse_condition("errors > 5ms").unwrap_err().contains("takes no unit"));
        assert!(parse_condition("error_rate > 150%").unwrap_err().contains("at most 100%"));
        assert!(parse_condition("error_rate > 5").unwrap_err().contains("did you mean `5%`?"));
        assert!(parse_condition("errors > -1").unwrap_err().contains("cannot be negative"));
        assert!(parse_condition("errors => 1").unwrap_err().contains("did you mean `>=`?"));
        assert!(parse_condition("errors < 0").unwrap_err().contains("never"));
        assert!(parse_condition("errors >= 0").unwrap_err().contains("always"));
        assert!(parse_condition("errors >").unwrap_err().contains("needs a threshold"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("5").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("1.5m").unwrap_err().contains("whole numbers"));
        assert!(parse_duration("5 minutes").unwrap_err().contains("malformed"));
        assert!(parse_duration("5mins").unwrap_err().contains("did you mean `5m`?"));
        assert!(parse_duration("").is_err());
        for d in ["5m", "1h30m", "1500ms", "45s", "2h"] {
            let parsed = parse_duration(d).unwrap();
            assert_eq!(parse_duration(&super::super::rule::format_duration(parsed)), Ok(parsed));
        }
    }

    #[test]
    fn templates() {
        assert_eq!(
            template_pieces("{function} p99 {value} > {threshold} {{x}}"),
            Ok(vec![
                Piece::Function,
                Piece::Text(" p99 ".into()),
                Piece::Value,
                Piece::Text(" > ".into()),
                Piece::Threshold,
                Piece::Text(" {x}".into()),
            ])
        );
        assert!(check_template("{fn} is slow").unwrap_err().contains("did you mean `{function}`?"));
        assert!(check_template("{function").is_err());
        assert!(check_template("a } b").is_err());
        assert_eq!(render_template("{function}: {value} > {threshold}", "m::f", "7%", "5%"), "m::f: 7% > 5%");
    }

    #[test]
    fn names() {
        assert!(check_label_name("team").is_ok());
        assert!(check_label_name("team-name").unwrap_err().contains("did you mean `team_name`?"));
        assert!(check_label_name("__name").is_err());
        assert!(check_label_name("severity").is_err());
        assert!(check_rule_name("checkout_slow").is_ok());
        assert!(check_rule_name("checkout slow").is_err());
        assert_eq!(parse_severity("critical"), Ok(super::super::rule::Severity::Critical));
        assert!(parse_severity("warn").unwrap_err().contains("did you mean `warning`?"));
    }
}
