//! A record's data (see `caller::value`) made safe to leave: read once; rewritten only when a
//! string in it is masked or cut, or it holds more attributes or events than the limits allow.

use super::{Limits, Sanitizer};
use crate::caller::value::{self, Entry, ValueRef, Writer};

/// Which signal a record is, for its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Span,
    Log,
}

/// What a rewrite left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub attributes: u32,
    pub events: u32,
}

impl Sanitizer {
    /// Masks and cuts what `data` holds and applies the count limits, in place; returns what was
    /// left out. A log record's first `message` is its body, not an attribute.
    pub(crate) fn data(&mut self, data: &mut Vec<u8>, signal: Signal) -> Dropped {
        if data.is_empty() {
            return Dropped::default();
        }
        let limits = match signal {
            Signal::Span => self.span,
            Signal::Log => self.log,
        };
        if !self.needs_rewrite(data, signal, limits) {
            return Dropped::default();
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let dropped = self.rewrite(data, &mut out, signal, limits);
        std::mem::swap(data, &mut out);
        self.out = out;
        dropped
    }

    fn needs_rewrite(&mut self, data: &[u8], signal: Signal, limits: Limits) -> bool {
        let (mut attributes, mut events, mut body) = (0usize, 0usize, signal == Signal::Log);
        let max = limits.value_length;
        for entry in value::entries(data) {
            let change = match entry {
                Entry::Attr(k, v) => {
                    if body && k == "message" {
                        body = false;
                    } else {
                        attributes += 1;
                    }
                    attributes > limits.attributes || self.value_changes(Some(k), v, max)
                }
                Entry::Event(_, name, attrs) => {
                    events += 1;
                    let mut attrs = attrs;
                    events > limits.events
                        || self.changes(None, name, max)
                        || attrs.any(|(k, v)| self.value_changes(Some(k), v, max))
                }
                Entry::Name(s) | Entry::Status(s) => self.changes(None, s, max),
            };
            if change {
                return true;
            }
        }
        false
    }

    fn value_changes(&mut self, key: Option<&str>, v: ValueRef<'_>, max: usize) -> bool {
        match v {
            ValueRef::Str(s) => self.changes(key, s, max),
            ValueRef::I64(n) => self.number_is_secret(n),
            _ => false,
        }
    }

    fn rewrite(&mut self, data: &[u8], out: &mut Vec<u8>, signal: Signal, limits: Limits) -> Dropped {
        let mut dropped = Dropped::default();
        let (mut attributes, mut events, mut body) = (0usize, 0usize, signal == Signal::Log);
        let max = limits.value_length;
        for entry in value::entries(data) {
            match entry {
                Entry::Attr(k, v) => {
                    if body && k == "message" {
                        body = false;
                    } else {
                        attributes += 1;
                        if attributes > limits.attributes {
                            dropped.attributes += 1;
                            continue;
                        }
                    }
                    self.write_attr(out, k, v, max);
                }
                Entry::Event(time, name, attrs) => {
                    events += 1;
                    if events > limits.events {
                        dropped.events += 1;
                        continue;
                    }
                    let name = self.clean(None, name, max).into_owned();
                    let n = attrs.clone().count();
                    Writer(out).event(time, &name, u16::try_from(n).unwrap_or(u16::MAX));
                    for (k, v) in attrs.take(usize::from(u16::MAX)) {
                        self.write_attr(out, k, v, max);
                    }
                }
                Entry::Name(s) => {
                    let s = self.clean(None, s, max);
                    Writer(out).name(&s);
                }
                Entry::Status(s) => {
                    let s = self.clean(None, s, max);
                    Writer(out).status(&s);
                }
            }
        }
        dropped
    }

    fn write_attr(&mut self, out: &mut Vec<u8>, k: &str, v: ValueRef<'_>, max: usize) {
        match v {
            ValueRef::Str(s) => {
                let s = self.clean(Some(k), s, max);
                Writer(out).attr(k, ValueRef::Str(&s));
            }
            ValueRef::I64(n) if self.number_is_secret(n) => {
                let r = self.replacement().to_owned();
                Writer(out).attr(k, ValueRef::Str(&r));
            }
            v => Writer(out).attr(k, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::value::{decode, Keys, Recorder, Value};
    use crate::config::{LimitsConfig, ScrubConfig};

    fn sanitized(
        record: impl FnOnce(&mut Recorder<'_>),
        limits: LimitsConfig,
        signal: Signal,
    ) -> (Vec<u8>, Dropped) {
        let mut data = Vec::new();
        record(&mut Recorder::new(&mut data));
        let mut s = Sanitizer::new(&ScrubConfig::default(), &limits).unwrap();
        let d = s.data(&mut data, signal);
        (data, d)
    }

    #[test]
    fn masks_by_key_and_by_value_and_leaves_the_rest() {
        let (data, dropped) = sanitized(
            |r| {
                r.str("user", "bob");
                r.str("password", "hunter2");
                r.str("note", "card 4111 1111 1111 1111");
                r.i64("card_number", 4_111_111_111_111_111);
                r.i64("input_tokens", 12);
                r.event(
                    "exception",
                    1,
                    &[("exception.message", "auth failed for Bearer abcdef123456".into())],
                );
                r.status_message("login https://bob:pw@db failed");
            },
            LimitsConfig::default(),
            Signal::Span,
        );
        assert_eq!(dropped, Dropped::default());
        let d = decode(&data, Keys::None, Vec::new());
        let got: Vec<(String, Value)> = d.attributes.into_iter().map(|(k, v)| (k.into_owned(), v)).collect();
        assert_eq!(
            got,
            vec![
                ("user".into(), Value::from("bob")),
                ("password".into(), Value::from("[REDACTED]")),
                ("note".into(), Value::from("card [REDACTED]")),
                ("card_number".into(), Value::from("[REDACTED]")),
                ("input_tokens".into(), Value::I64(12)),
            ]
        );
        assert_eq!(d.events[0].attributes[0].1, Value::from("auth failed for Bearer [REDACTED]"));
        assert_eq!(d.status_message.as_deref(), Some("login https://bob:[REDACTED]@db failed"));
    }

    #[test]
    fn count_and_length_limits_are_counted() {
        let limits = LimitsConfig {
            attribute_count: 2,
            span_event_count: 1,
            attribute_value_length: 16,
            ..LimitsConfig::default()
        };
        let (data, dropped) = sanitized(
            |r| {
                r.str("a", "0123456789abcdefghij");
                r.i64("b", 1);
                r.i64("c", 2);
                r.event("e1", 1, &[]);
                r.event("e2", 2, &[]);
            },
            limits,
            Signal::Span,
        );
        assert_eq!(dropped, Dropped { attributes: 1, events: 1 });
        let d = decode(&data, Keys::None, Vec::new());
        assert_eq!(d.attributes.len(), 2);
        assert_eq!(d.attributes[0].1, Value::from("0123456789abc…"));
        assert_eq!(d.events.len(), 1);
    }

    #[test]
    fn a_clean_record_is_not_rewritten() {
        let mut data = Vec::new();
        Recorder::new(&mut data).str("user", "bob");
        let before = data.as_ptr();
        let mut s = Sanitizer::default();
        assert_eq!(s.data(&mut data, Signal::Span), Dropped::default());
        assert_eq!(data.as_ptr(), before);
    }
}
