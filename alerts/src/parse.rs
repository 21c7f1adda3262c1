//! The grammar of alert rules as text: conditions (`p99_latency > 200ms`), thresholds (`5%`,
//! `300ms`), durations (`5m`), templates (`{function} is slow`), label and rule names.
//!
//! `#[alert_on]` checks the same grammar at compile time: the checks and their messages live in
//! the `telemark-grammar` crate, which both use. The config (`alerts.rules`, `alerts.overrides`)
//! goes through the functions here, so a mistake reads the same in both places.

pub use grammar::{
    bad_op, check_channel_name, check_condition, check_label_name, check_min_calls_metric, check_rule_name,
    check_template, check_window, missing_threshold, parse_duration, parse_min_calls, parse_op,
    template_pieces, threshold_value, unknown_metric, unknown_severity, Piece, MAX_FOR_WINDOWS, PLACEHOLDERS,
    RESERVED_LABELS,
};

pub(crate) use grammar::closest;

use crate::rule::{Metric, Op, Severity};

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

use telemark_grammar::grammar;
