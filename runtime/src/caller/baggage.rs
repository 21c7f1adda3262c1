//! W3C Baggage: key–value pairs that travel with the span context, inside the process (to child
//! spans, `#[traced]` async functions, `telemark::spawn`ed tasks, `with_current_context` threads)
//! and across services (the `baggage` header, written by `propagation::inject` and read by
//! `propagation::extract`).
//!
//! Baggage lives in the context, not in a global: [`set`] adds an entry to the current span's
//! context (it lasts until that span ends, and its children see it), [`scope`] makes a context with
//! more entries current until the guard drops (with or without a span current), and
//! [`FutureExt::with_baggage`](crate::FutureExt::with_baggage) does the same for a future.
//!
//! Baggage is **not** added to span attributes: it may carry secrets, and any service it passes
//! through can read it. Record an entry explicitly if you want it on a span.
//!
//! Limits (from the specification): 180 entries and 8192 bytes for the whole header; a [`set`]
//! that would pass them is refused, and an incoming header is cut at them. Keys are tokens (RFC 7230);
//! values are any text, percent-encoded on the wire. Properties (`;k=v` after a value) are kept and
//! sent on unchanged, but not interpreted.
//!
//! ```
//! let _scope = telemark_runtime::baggage::scope([("tenant", "acme")]);
//! assert_eq!(telemark_runtime::baggage::get("tenant").as_deref(), Some("acme"));
//! ```

use crate::caller::callsite::SpanContext;
use crate::caller::span::ContextScope;
use crate::caller::thread;
use std::fmt;
use std::sync::Arc;

/// Most entries in one baggage.
pub const MAX_ENTRIES: usize = 180;
/// Most bytes of one `baggage` header.
pub const MAX_BYTES: usize = 8192;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Entry {
    key: Box<str>,
    value: Box<str>,
    /// What followed the value after `;`, as received (kept, not interpreted).
    properties: Option<Box<str>>,
}

impl Entry {
    /// Bytes this entry takes in the header (without the separating comma).
    fn encoded_len(&self) -> usize {
        self.key.len()
            + 1
            + self.value.bytes().map(|b| if is_baggage_octet(b) { 1 } else { 3 }).sum::<usize>()
            + self.properties.as_ref().map_or(0, |p| p.len() + 1)
    }
}

/// A set of baggage entries: immutable and cheap to clone (one pointer).
///
/// Its `Debug` output shows the keys only, as values may be secrets.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Baggage(Arc<Vec<Entry>>);

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Baggage").field("keys", &self.0.iter().map(|e| &*e.key).collect::<Vec<_>>()).finish()
    }
}

impl Baggage {
    /// No entries.
    pub fn new() -> Baggage {
        Baggage::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|e| &*e.key == key).map(|e| &*e.value)
    }

    /// The entries, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|e| (&*e.key, &*e.value))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This baggage with `key` set to `value` (replacing an entry with the same key); `None` when
    /// `key` is not a token or the result would pass the limits.
    pub fn with(&self, key: &str, value: &str) -> Option<Baggage> {
        if !is_token(key) {
            return None;
        }
        let entry = Entry { key: key.into(), value: value.into(), properties: None };
        let mut entries: Vec<Entry> = self.0.iter().filter(|e| &*e.key != key).cloned().collect();
        entries.push(entry);
        let b = Baggage(Arc::new(entries));
        (b.len() <= MAX_ENTRIES && b.encoded_len() <= MAX_BYTES).then_some(b)
    }

    /// This baggage without `key`.
    pub fn without(&self, key: &str) -> Baggage {
        Baggage(Arc::new(self.0.iter().filter(|e| &*e.key != key).cloned().collect()))
    }

    fn encoded_len(&self) -> usize {
        self.0.iter().map(Entry::encoded_len).sum::<usize>() + self.0.len().saturating_sub(1)
    }

    /// The `baggage` header value (values percent-encoded, properties as received).
    pub fn header(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&e.key);
            out.push('=');
            for b in e.value.bytes() {
                if is_baggage_octet(b) {
                    out.push(b as char);
                } else {
                    out.push('%');
                    out.push(char::from(HEX[(b >> 4) as usize]));
                    out.push(char::from(HEX[(b & 15) as usize]));
                }
            }
            if let Some(p) = &e.properties {
                out.push(';');
                out.push_str(p);
            }
        }
        out
    }

    /// Parses a `baggage` header value. Malformed members are skipped; members past the limits
    /// (180 entries, 8192 bytes) are dropped. `None` when nothing valid is left.
    pub fn parse(header: &str) -> Option<Baggage> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        for member in header.split(',') {
            let Some(entry) = parse_member(member) else { continue };
            let len = entry.encoded_len() + usize::from(!entries.is_empty());
            if entries.len() >= MAX_ENTRIES {
                break;
            }
            if bytes + len > MAX_BYTES {
                continue;
            }
            bytes += len;
            // A key seen twice: the last one wins.
            entries.retain(|e| e.key != entry.key);
            entries.push(entry);
        }
        (!entries.is_empty()).then(|| Baggage(Arc::new(entries)))
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `baggage-octet` of the specification: what a value may hold unencoded.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E) && b != b'%'
}

/// An RFC 7230 token.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_member(member: &str) -> Option<Entry> {
    let (pair, properties) = match member.split_once(';') {
        Some((pair, props)) => (pair, Some(props.trim()).filter(|p| !p.is_empty())),
        None => (member, None),
    };
    let (key, value) = pair.split_once('=')?;
    let (key, value) = (key.trim(), value.trim());
    if !is_token(key) || !value.bytes().all(|b| is_baggage_octet(b) || b == b'%') {
        return None;
    }
    if properties.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')) {
        return None;
    }
    Some(Entry {
        key: key.into(),
        value: percent_decode(value)?.into(),
        properties: properties.map(Into::into),
    })
}

/// Decodes `%XX` escapes; invalid UTF-8 becomes U+FFFD, a broken escape makes the member invalid.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The current baggage (the current span's context, or the innermost [`scope`]).
pub fn current() -> Option<Baggage> {
    thread::with(|l| l.stack.try_borrow().ok().and_then(|s| s.last().and_then(|f| f.baggage.clone())))
        .flatten()
}

/// The value of `key` in the current baggage.
pub fn get(key: &str) -> Option<String> {
    current().and_then(|b| b.get(key).map(str::to_string))
}

/// Every entry of the current baggage, in the order they were added.
pub fn all() -> Vec<(String, String)> {
    current().map(|b| b.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap_or_default()
}

/// Sets `key` to `value` in the current span's context: the span and the spans it starts from
/// now on see it, until the span ends (the caller's context is not changed).
///
/// In a future run with a context (`telemark::spawn`, `in_current_span`, `with_baggage`) and no
/// span of its own, the entry lasts until the future completes.
///
/// Returns false, changing nothing, when no span or [`scope`] is current, when `key` is not a
/// token, or when the entry would pass the limits. Without a span current, use [`scope`].
pub fn set(key: &str, value: &str) -> bool {
    thread::with(|l| {
        let Ok(mut s) = l.stack.try_borrow_mut() else { return false };
        let Some(top) = s.last_mut() else { return false };
        match top.baggage.as_ref().map_or_else(|| Baggage::new().with(key, value), |b| b.with(key, value)) {
            Some(b) => {
                top.baggage = Some(b);
                true
            }
            None => false,
        }
    })
    .unwrap_or(false)
}

/// Removes `key` from the current span's context (as [`set`] adds it); false when it was not there.
pub fn remove(key: &str) -> bool {
    thread::with(|l| {
        let Ok(mut s) = l.stack.try_borrow_mut() else { return false };
        let Some(top) = s.last_mut() else { return false };
        match top.baggage.as_ref().filter(|b| b.get(key).is_some()) {
            Some(b) => {
                let b = b.without(key);
                top.baggage = (!b.is_empty()).then_some(b);
                true
            }
            None => false,
        }
    })
    .unwrap_or(false)
}

/// Makes the current context plus `entries` current on this thread until the guard drops (sync
/// code; for a future use [`FutureExt::with_baggage`](crate::FutureExt::with_baggage), as a guard
/// must not be held across `.await`). Works with no span current: spans started inside begin a
/// new trace carrying the baggage. Entries whose key is not a token, or that would pass the
/// limits, are skipped.
pub fn scope<K: AsRef<str>, V: AsRef<str>>(entries: impl IntoIterator<Item = (K, V)>) -> ContextScope {
    ContextScope::enter(&context_with(entries))
}

/// The current context (or an empty one) with `entries` added to its baggage.
pub(crate) fn context_with<K: AsRef<str>, V: AsRef<str>>(
    entries: impl IntoIterator<Item = (K, V)>,
) -> SpanContext {
    let mut ctx = thread::with(|l| l.current()).flatten().unwrap_or_else(SpanContext::empty);
    let mut baggage = ctx.baggage.take().unwrap_or_default();
    for (k, v) in entries {
        if let Some(b) = baggage.with(k.as_ref(), v.as_ref()) {
            baggage = b;
        }
    }
    ctx.baggage = (!baggage.is_empty()).then_some(baggage);
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_encoding_and_properties() {
        let b = Baggage::parse("tenant=acme, user%20id = a%2Cb%3Bc%25 ;secret;ttl=3,k2=v%E2%82%AC").unwrap();
        assert_eq!(b.get("tenant"), Some("acme"));
        assert_eq!(b.get("user%20id"), Some("a,b;c%"));
        assert_eq!(b.get("k2"), Some("v€"));
        let h = b.header();
        assert_eq!(h, "tenant=acme,user%20id=a%2Cb%3Bc%25;secret;ttl=3,k2=v%E2%82%AC");
        assert_eq!(Baggage::parse(&h), Some(b));
        let b = Baggage::new().with("note", "a b\"c\\d").unwrap();
        assert_eq!(b.header(), "note=a%20b%22c%5Cd");
        assert_eq!(Baggage::parse(&b.header()).unwrap().get("note"), Some("a b\"c\\d"));
    }

    #[test]
    fn malformed_members_are_skipped() {
        assert_eq!(Baggage::parse(""), None);
        assert_eq!(Baggage::parse(",,="), None);
        let b = Baggage::parse("no-equals,=v,bad key=1,k=v v,ok=1,pct=%zz,pct2=%4,k\u{e9}=1,last=2").unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![("ok", "1"), ("last", "2")]);
        assert_eq!(Baggage::parse("a=1,a=2").unwrap().iter().collect::<Vec<_>>(), vec![("a", "2")]);
        assert_eq!(Baggage::parse("bad=%FF").unwrap().get("bad"), Some("\u{fffd}"));
    }

    #[test]
    fn limits() {
        let many: Vec<String> = (0..200).map(|i| format!("k{i}=v")).collect();
        assert_eq!(Baggage::parse(&many.join(",")).unwrap().len(), MAX_ENTRIES);
        let big = format!("a={},b={},c=1", "x".repeat(5000), "y".repeat(5000));
        let b = Baggage::parse(&big).unwrap();
        assert_eq!(b.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec!["a", "c"]);
        assert!(b.header().len() <= MAX_BYTES);
        let mut b = Baggage::new();
        for i in 0..MAX_ENTRIES {
            b = b.with(&format!("k{i}"), "v").unwrap();
        }
        assert!(b.with("one-more", "v").is_none());
        assert!(b.with("k0", "replaced").is_some(), "replacing does not add an entry");
        assert!(Baggage::new().with("big", &"z".repeat(MAX_BYTES)).is_none());
        assert!(Baggage::new().with("bad key", "v").is_none());
    }

    #[test]
    fn a_function_whose_span_is_not_recorded_still_makes_its_parents_baggage_current() {
        use crate::caller::callsite::{Callsite, SiteMeta, SpanKind};
        use crate::caller::span::{Parent, Pending, SpanGuard};
        static CS: Callsite = Callsite::new(SiteMeta {
            name: "handler",
            function: "tests::handler",
            target: "tests",
            file: file!(),
            line: line!(),
            level: crate::caller::level::Level::Trace,
            kind: SpanKind::Server,
            sample: 1.0,
            keys: &[],
            span: true,
        });
        let ctx = SpanContext { baggage: Baggage::new().with("k", "v"), ..SpanContext::empty() };
        {
            let _g = SpanGuard::enter(&CS, Parent::Explicit(Some(ctx.clone())), |_| {});
            assert_eq!(get("k").as_deref(), Some("v"));
        }
        assert_eq!(current(), None);
        let mut fut = std::pin::pin!(
            Pending::start(&CS, Parent::Explicit(Some(ctx)), |_| {}).instrument(async { get("k") })
        );
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(fut.as_mut(), &mut cx) {
            std::task::Poll::Ready((got, finish)) => {
                drop(finish);
                assert_eq!(got.as_deref(), Some("v"));
            }
            std::task::Poll::Pending => panic!("the future is ready at once"),
        }
        assert_eq!(current(), None);
    }

    #[test]
    fn debug_hides_values() {
        let b = Baggage::new().with("token", "s3cret").unwrap();
        let shown = format!("{b:?}");
        assert!(shown.contains("token") && !shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn scope_set_get_without_a_span() {
        assert_eq!(get("tenant"), None);
        assert!(!set("tenant", "none"), "nothing current to set on");
        {
            let _outer = scope([("tenant", "acme"), ("region", "eu")]);
            assert_eq!(get("tenant").as_deref(), Some("acme"));
            {
                let _inner = scope([("tenant", "globex")]);
                assert!(set("user", "7"));
                assert_eq!(
                    all(),
                    vec![
                        ("region".to_string(), "eu".to_string()),
                        ("tenant".to_string(), "globex".to_string()),
                        ("user".to_string(), "7".to_string())
                    ]
                );
                assert!(remove("user") && !remove("user"));
            }
            assert_eq!(get("tenant").as_deref(), Some("acme"));
            assert_eq!(get("user"), None);
            let moved = crate::with_current_context(|| get("region"));
            assert_eq!(std::thread::spawn(moved).join().ok().flatten().as_deref(), Some("eu"));
        }
        assert_eq!(current(), None);
    }
}
