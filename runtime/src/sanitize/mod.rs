//! What leaves the process is safe: the stage on telemark's thread between the rings and the
//! exporters that masks secrets (and, if asked, personal data) and applies the attribute limits,
//! in every string telemark exports — before any exporter, the console included, sees it.
//!
//! - `keys` — which keys name a secret;
//! - `values` — secrets found inside text (cards, JWTs, bearer tokens, AWS keys, PEM keys, URL
//!   passwords, `key: value` pairs with a secret key; e-mail and IP addresses);
//! - `record` — a span's or log record's data rewritten when something in it is masked, cut or
//!   over a count limit (most records are left as they are: one read of each string).
//!
//! The caller's thread pays nothing for it: it only cuts long values, as it always did.

pub(crate) mod keys;
mod record;
mod values;

use crate::caller::value;
use crate::config::{LimitsConfig, ScrubConfig};
use std::borrow::Cow;

pub(crate) use record::Signal;

/// Whether `key` (an attribute's key, a query parameter, a header name) names a secret: the
/// list the scrubber applies to attributes, for the integrations that redact before recording.
pub fn is_secret_key(key: &str) -> bool {
    keys::is_secret_bytes(key.as_bytes())
}

/// Why `pattern` is not a valid regular expression for `scrub.keys` / `scrub.values`, if it is not.
pub(crate) fn pattern_error(pattern: &str) -> Option<String> {
    regex_lite::Regex::new(pattern).err().map(|e| format!("invalid regular expression `{pattern}`: {e}"))
}

/// The limits of one signal, resolved from `limits:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub value_length: usize,
    pub attributes: usize,
    pub events: usize,
}

impl Limits {
    /// Spans' and log records' limits.
    pub(crate) fn of(c: &LimitsConfig) -> (Limits, Limits) {
        let span = Limits {
            value_length: c.span_attribute_value_length.unwrap_or(c.attribute_value_length),
            attributes: c.span_attribute_count.unwrap_or(c.attribute_count),
            events: c.span_event_count,
        };
        let log = Limits {
            value_length: c.log_attribute_value_length.unwrap_or(c.attribute_value_length),
            attributes: c.log_attribute_count.unwrap_or(c.attribute_count),
            events: 0,
        };
        (span, log)
    }
}

/// What masks secrets: the built-in rules and the config's.
struct Scrub {
    personal: bool,
    keys: Vec<regex_lite::Regex>,
    values: Vec<regex_lite::Regex>,
    /// Lowercased.
    allow: Vec<String>,
    replacement: String,
}

impl Scrub {
    fn allowed(&self, key: &str) -> bool {
        !self.allow.is_empty() && self.allow.iter().any(|a| a.eq_ignore_ascii_case(key))
    }

    /// Whether a key names a secret (and is not allowed).
    fn secret_key(&self, key: &str) -> bool {
        self.secret_key_bytes(key.as_bytes())
    }

    /// [`Scrub::secret_key`] of a key's bytes (found in text: ASCII).
    fn secret_key_bytes(&self, key: &[u8]) -> bool {
        let text = || std::str::from_utf8(key).unwrap_or_default();
        (keys::is_secret_bytes(key)
            || (!self.keys.is_empty() && self.keys.iter().any(|r| r.is_match(text()))))
            && (self.allow.is_empty() || !self.allowed(text()))
    }

    /// Appends the ranges of `s` to mask to `out`, sorted and merged.
    fn find(&self, s: &str, out: &mut Vec<(usize, usize)>) {
        out.clear();
        let secret_key = |k: &[u8]| self.secret_key_bytes(k);
        values::Finder { secret_key: &secret_key, personal: self.personal }.find(s, out);
        for r in &self.values {
            out.extend(r.find_iter(s).filter(|m| !m.is_empty()).map(|m| (m.start(), m.end())));
        }
        if out.len() > 1 {
            out.sort_unstable();
            let mut merged = 0;
            for i in 1..out.len() {
                if out[i].0 <= out[merged].1 {
                    out[merged].1 = out[merged].1.max(out[i].1);
                } else {
                    merged += 1;
                    out[merged] = out[i];
                }
            }
            out.truncate(merged + 1);
        }
    }
}

/// The stage: scrubbing (when on) and the limits, with buffers reused from record to record.
pub(crate) struct Sanitizer {
    scrub: Option<Scrub>,
    span: Limits,
    log: Limits,
    ranges: Vec<(usize, usize)>,
    /// A record's data being rewritten.
    out: Vec<u8>,
}

impl Default for Sanitizer {
    fn default() -> Self {
        Sanitizer::new(&ScrubConfig::default(), &LimitsConfig::default())
            .unwrap_or_else(|_| Sanitizer::unscrubbed(&LimitsConfig::default()))
    }
}

impl Sanitizer {
    /// From the config; an error names the pattern that does not compile (`scrub.values[1]`).
    pub(crate) fn new(scrub: &ScrubConfig, limits: &LimitsConfig) -> Result<Sanitizer, (String, String)> {
        let compile = |section: &str, list: &[String]| {
            list.iter()
                .enumerate()
                .map(|(i, p)| {
                    let p = if section == "keys" { format!("(?i){p}") } else { p.clone() };
                    regex_lite::Regex::new(&p).map_err(|e| {
                        (format!("scrub.{section}[{i}]"), format!("invalid regular expression `{p}`: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mut s = Sanitizer::unscrubbed(limits);
        if scrub.enabled {
            s.scrub = Some(Scrub {
                personal: scrub.personal_data,
                keys: compile("keys", &scrub.keys)?,
                values: compile("values", &scrub.values)?,
                allow: scrub.allow.iter().map(|a| a.to_ascii_lowercase()).collect(),
                replacement: scrub.replacement.clone(),
            });
        }
        Ok(s)
    }

    fn unscrubbed(limits: &LimitsConfig) -> Sanitizer {
        let (span, log) = Limits::of(limits);
        Sanitizer { scrub: None, span, log, ranges: Vec::new(), out: Vec::new() }
    }

    /// The longest value the caller's side needs to keep, in bytes: the longer of the two
    /// signals' limits.
    pub(crate) fn caller_cap(&self) -> usize {
        self.span.value_length.max(self.log.value_length)
    }

    /// `s` as it may leave: masked where it holds a secret (all of it when `key` names one), and
    /// cut to fit in `max` bytes (ending with `…`).
    pub(crate) fn clean<'s>(&mut self, key: Option<&str>, s: &'s str, max: usize) -> Cow<'s, str> {
        let mut out = Cow::Borrowed(s);
        if let Some(scrub) = &self.scrub {
            let allowed = key.is_some_and(|k| scrub.allowed(k));
            if key.is_some_and(|k| scrub.secret_key(k)) {
                return Cow::Owned(scrub.replacement.clone());
            }
            if !allowed {
                scrub.find(s, &mut self.ranges);
                if !self.ranges.is_empty() {
                    let mut m = String::with_capacity(s.len());
                    let mut at = 0;
                    for &(a, b) in &self.ranges {
                        m.push_str(&s[at..a]);
                        m.push_str(&scrub.replacement);
                        at = b;
                    }
                    m.push_str(&s[at..]);
                    out = Cow::Owned(m);
                }
            }
        }
        match value::cut_at(&out, max) {
            None => out,
            Some(end) => Cow::Owned(format!("{}{}", &out[..end], value::CUT_MARK)),
        }
    }

    /// Whether [`Sanitizer::clean`] would change `s`.
    fn changes(&mut self, key: Option<&str>, s: &str, max: usize) -> bool {
        if value::cut_at(s, max).is_some() {
            return true;
        }
        let Some(scrub) = &self.scrub else { return false };
        if key.is_some_and(|k| scrub.allowed(k)) {
            return false;
        }
        if key.is_some_and(|k| scrub.secret_key(k)) {
            return true;
        }
        scrub.find(s, &mut self.ranges);
        !self.ranges.is_empty()
    }

    /// Whether a key's non-string value (a number, a boolean) is masked: never — a number or a
    /// boolean cannot hold a token, a key or a cookie, and counts named `*_tokens` stay counts.
    /// A card number recorded as an integer is the exception.
    fn number_is_secret(&self, v: i64) -> bool {
        self.scrub.is_some() && v.unsigned_abs() >= 1_000_000_000_000 && {
            let mut digits = [0u8; 20];
            let text = v.unsigned_abs().to_string();
            let n = text.len();
            text.bytes().enumerate().for_each(|(i, b)| digits[i] = b - b'0');
            values::is_card(&digits[..n])
        }
    }

    /// What a masked value becomes.
    fn replacement(&self) -> &str {
        self.scrub.as_ref().map_or("", |s| &s.replacement)
    }

    /// A string of an exception, a stack trace or a span name, cleaned in place.
    pub(crate) fn text(&mut self, key: Option<&str>, s: &mut String, max: usize) {
        if let Cow::Owned(c) = self.clean(key, s, max) {
            *s = c;
        }
    }

    /// The span limits' value length (for exception texts that become span events).
    pub(crate) fn value_length(&self, signal: Signal) -> usize {
        match signal {
            Signal::Span => self.span.value_length,
            Signal::Log => self.log.value_length,
        }
    }

    /// Masks an exception's message, chain and type (on telemark's thread, before it is grouped,
    /// exported, or shown by `exceptions::groups()`).
    pub(crate) fn exception(&mut self, e: &mut crate::exception::model::Exception) {
        let max = self.log.value_length;
        self.text(None, &mut e.message, max);
        self.text(None, &mut e.type_name, max);
        for link in &mut e.chain {
            self.text(None, link, max);
        }
    }
}

/// The stage alone, for telemark's benches (`benches/scrub.rs`).
pub mod bench {
    use super::{Sanitizer, Signal};
    use crate::caller::value::Recorder;
    use crate::config::{LimitsConfig, ScrubConfig};

    /// A sanitizer as `init` makes it.
    pub struct Sanitize(Sanitizer);

    impl Sanitize {
        /// Scrubbing on or off, personal data or not, default limits.
        pub fn new(scrub: bool, personal_data: bool) -> Sanitize {
            let config = ScrubConfig { enabled: scrub, personal_data, ..ScrubConfig::default() };
            Sanitize(Sanitizer::new(&config, &LimitsConfig::default()).unwrap_or_default())
        }

        /// A span's data holding these string attributes, as the caller's side writes it.
        pub fn record(attributes: &[(&str, &str)]) -> Vec<u8> {
            let mut data = Vec::new();
            let mut r = Recorder::new(&mut data);
            for (k, v) in attributes {
                r.str(k, v);
            }
            data
        }

        /// What telemark's thread does to a span's data; returns its length after.
        pub fn span(&mut self, data: &mut Vec<u8>) -> usize {
            self.0.data(data, Signal::Span);
            data.len()
        }
    }
}

#[cfg(test)]
mod corpus;
