//! Reading the configuration: YAML (errors with file, line, column and the dotted key from the
//! deserializer, and a did-you-mean), the values with a grammar of their own, and the `OTEL_*`
//! variables' formats.

use super::check::{self, Count, Span};
use super::sections::{CodeAttributes, ConsoleOutput, Protocol, SamplerName, Switch};
use super::ConfigError;
use crate::caller::level::Directives;
use crate::export::console::ConsoleFormat;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use telemark_grammar::grammar::parse_duration;

pub(super) fn list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

pub(super) fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s.trim() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" | "http" => Ok(Protocol::HttpProtobuf),
        "http/json" => Err("`http/json` is not supported; use `grpc` or `http/protobuf`".into()),
        other => Err(format!("unknown protocol `{other}`, expected `grpc` or `http/protobuf`")),
    }
}

pub(super) fn parse_compression(s: &str) -> Result<super::Compression, String> {
    match s.trim() {
        "none" | "" => Ok(super::Compression::None),
        "gzip" => Ok(super::Compression::Gzip),
        other => Err(format!("unknown compression `{other}`, expected `gzip` or `none`")),
    }
}

pub(super) fn parse_ratio(s: &str) -> Result<f64, String> {
    let r: f64 = s.trim().parse().map_err(|_| format!("expected a number between 0 and 1, got `{s}`"))?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!("the ratio must be between 0 and 1, got {r}"));
    }
    Ok(r)
}

/// `k=v,k2=v2` with percent-encoded values (W3C baggage style, as the OTel spec says). A mistake
/// names the entry by its position, never by its text: the values are API keys and tokens.
pub(super) fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, part) in s.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("entry {} has no `=`: expected `key=value,key2=value2`", i + 1))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("entry {} has an empty key: expected `key=value,key2=value2`", i + 1));
        }
        out.push((k.to_string(), percent_decode(v.trim())));
    }
    Ok(out)
}

pub(crate) fn percent_decode(s: &str) -> String {
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

pub(super) fn de_with<'de, D: Deserializer<'de>, T>(
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

pub(super) fn de_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Pattern>::deserialize(d)?.into_iter().map(|p| p.0).collect())
}
pub(super) fn de_directives<'de, D: Deserializer<'de>>(d: D) -> Result<Directives, D::Error> {
    de_with(d, |s| s.parse())
}
pub(super) fn de_sampler_name<'de, D: Deserializer<'de>>(d: D) -> Result<SamplerName, D::Error> {
    de_with(d, |s| s.parse())
}
pub(super) fn de_ratio<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    de_with(d, parse_ratio)
}
pub(super) fn de_protocol<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
    de_with(d, parse_protocol)
}
/// A size in bytes: a whole number (`1048576`) or one with a unit — `B`, `KiB`, `MiB`, `GiB`
/// (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000): `8MiB`, `512 KiB`.
pub(super) fn parse_size(text: &str) -> Result<usize, String> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 =
        digits.parse().map_err(|_| format!("expected a size like `8MiB` or a number of bytes, got `{s}`"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{s}`, expected one of B, KiB, MiB, GiB, KB, MB, GB"
            ))
        }
    };
    n.checked_mul(scale)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("size `{s}` is too large"))
}
/// A size in bytes ([`parse_size`]) within `range`.
pub(super) fn de_bytes_in<'de, D: Deserializer<'de>>(d: D, range: &Count) -> Result<usize, D::Error> {
    de_with(d, |s| {
        let n = parse_size(s)?;
        range.check(n as u64)?;
        Ok(n)
    })
}

/// A whole number within `range`.
pub(super) fn de_count<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
    d: D,
    range: &Count,
) -> Result<T, D::Error> {
    let n = range.check(u64::deserialize(d)?).map_err(de::Error::custom)?;
    T::try_from(n).map_err(|_| de::Error::custom(format!("{n} is too large")))
}

/// A duration ([`de_duration`]) within `range`.
#[doc(hidden)] // for telemark-alerts (`telemark_runtime::host`)
pub fn de_span<'de, D: Deserializer<'de>>(d: D, range: &Span) -> Result<Duration, D::Error> {
    de_with(d, |s| range.check(parse_duration(s)?))
}

/// An OTLP endpoint: empty (no OTLP export) or an http(s) URL ([`check::check_url`]).
pub(super) fn de_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_endpoint(&s).map_err(de::Error::custom)?;
    Ok(s)
}

/// OTLP headers: each name and value as HTTP allows them ([`check_header`]).
pub(super) fn de_headers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let h = BTreeMap::<String, String>::deserialize(d)?;
    for (k, v) in &h {
        check_header(k, v).map_err(de::Error::custom)?;
    }
    Ok(h)
}

/// One OTLP header as HTTP allows it: a name of token characters, a value of visible ASCII,
/// spaces and tabs. The message never shows the value (an API key, a bearer token).
pub(super) fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!(
            "`{}` is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)",
            name.escape_debug()
        ));
    }
    if value.chars().any(|c| c != '\t' && !(' '..='~').contains(&c)) {
        return Err(format!(
            "the value of header `{name}` has a character HTTP does not allow in a header (a control \
             character or a non-ASCII one); the value is not shown, as it may be a secret"
        ));
    }
    Ok(())
}

/// What an error outside every key names as its key (a comment, the document itself).
pub(crate) const TOP_LEVEL: &str = "(top level)";

/// The dotted key a block-style line of `text` sits under (1-based `line`), for an error the
/// deserializer could not place under a key (a syntax error, bytes that are not UTF-8): each
/// earlier `key:` line nests under the closest less indented one before it; [`TOP_LEVEL`] before
/// the first key.
pub(crate) fn key_at_line(text: &str, line: usize) -> String {
    let mut stack: Vec<(usize, String)> = Vec::new();
    for l in text.lines().take(line) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = l.len() - trimmed.len();
        let mut body = trimmed;
        while let Some(rest) = body.strip_prefix('-') {
            let after = rest.trim_start();
            indent += body.len() - after.len();
            body = after;
        }
        let Some((k, _)) = body.split_once(':') else {
            continue;
        };
        let k = k.trim().trim_matches(['"', '\'']);
        if k.is_empty() || k.contains([' ', '{', '[', ',', '}', ']', '#', '&', '*', '!']) {
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, k.to_string()));
    }
    let key: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
    if key.is_empty() {
        TOP_LEVEL.to_string()
    } else {
        key.join(".")
    }
}

/// What every way of setting the OTLP endpoint checks.
pub(super) fn check_endpoint(s: &str) -> Result<(), String> {
    match s.trim() {
        "" => Ok(()),
        // `collector:4317`: the specification's schemeless form (https unless `insecure`).
        url if !url.contains("://") => check::check_url(&format!("https://{url}"), check::Path::Keep)
            .map_err(|m| m.replacen("https://", "", 1)),
        url => check::check_url(url, check::Path::Keep),
    }
}
/// A duration in telemark's one duration grammar (`500ms`, `1.5s`, `1h30m`; see
/// [`telemark_grammar::grammar::parse_duration`]), for every duration key of the config. A YAML
/// number (`30`) gets the grammar's "needs a unit" message.
#[doc(hidden)] // for telemark-alerts (`telemark_runtime::host`)
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_with(d, parse_duration)
}
pub(super) fn de_switch<'de, D: Deserializer<'de>>(d: D) -> Result<Switch, D::Error> {
    de_with(d, |s| match s.trim() {
        "auto" => Ok(Switch::Auto),
        "true" | "on" => Ok(Switch::On),
        "false" | "off" => Ok(Switch::Off),
        other => Err(format!("expected `auto`, `true` or `false`, got `{other}`")),
    })
}
pub(super) fn de_format<'de, D: Deserializer<'de>>(d: D) -> Result<ConsoleFormat, D::Error> {
    de_with(d, |s| match s.trim() {
        "human" => Ok(ConsoleFormat::Human),
        "json" => Ok(ConsoleFormat::Json),
        other => Err(format!("unknown format `{other}`, expected `human` or `json`")),
    })
}
pub(super) fn de_code_attributes<'de, D: Deserializer<'de>>(d: D) -> Result<CodeAttributes, D::Error> {
    de_with(d, |s| match s.trim() {
        "short" => Ok(CodeAttributes::Short),
        "full" => Ok(CodeAttributes::Full),
        "off" | "false" => Ok(CodeAttributes::Off),
        other => Err(format!("unknown value `{other}`, expected `short`, `full` or `off`")),
    })
}
pub(super) fn de_output<'de, D: Deserializer<'de>>(d: D) -> Result<ConsoleOutput, D::Error> {
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
    serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().clone());
            e.into_inner()
        })
    })
    .map_err(|e| yaml_error(&e, path.as_ref(), source, text))
}

/// serde-saphyr's limits, tightened for a config file (a few hundred nodes, a few levels deep):
/// an alias bomb ("billion laughs") or a deeply nested document stops early with an error.
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000;
    budget.max_nodes = 100_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 32;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = check::MAX_FILE_BYTES as usize;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_recorded_anchor_bytes = check::MAX_FILE_BYTES as usize;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_replay_stack_depth = 32;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options
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
    text: &str,
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
    let key = path.and_then(dotted_key).unwrap_or_else(|| key_at_line(text, line.unwrap_or(1) as usize));
    let key = Some(key);
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

/// The candidate closest to a misspelt key, if it is close enough.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (telemark_grammar::grammar::distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// One regular expression of `scrub.keys` / `scrub.values`, compiled as it is read, so a mistake
/// names its entry (`scrub.values[1]`) and line.
struct Regex(String);

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = String::deserialize(d)?;
        match crate::sanitize::pattern_error(&p) {
            Some(why) => Err(de::Error::custom(why)),
            None => Ok(Regex(p)),
        }
    }
}

pub(super) fn de_regexes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Regex>::deserialize(d)?.into_iter().map(|p| p.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, NoAlerts};

    #[test]
    fn sizes_in_bytes_with_or_without_a_unit() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size(" 512 KiB "), Ok(512 << 10));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("8 mb").unwrap_err().contains("unknown size unit `mb`"));
        assert!(parse_size("lots").unwrap_err().contains("expected a size like `8MiB`"));
        assert!(parse_size("99999999999999999999GiB").is_err(), "no overflow, no panic");
    }

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
