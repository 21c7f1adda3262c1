//! Attribute values and the compact byte encoding spans carry them in until telemark's thread decodes them.
//!
//! On the caller's thread a span's attributes, events, status message and name are appended to one
//! `Vec<u8>` (recycled, so steady state allocates nothing); the collector thread decodes it.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    Str(Cow<'static, str>),
    /// A signed integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::$variant(v as $as) }
        }
    )*};
}
value_from!(i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
    u8 => I64 as i64, u16 => I64 as i64, u32 => I64 as i64, isize => I64 as i64,
    f32 => F64 as f64, f64 => F64 as f64);

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        i64::try_from(v).map(Value::I64).unwrap_or_else(|_| Value::Str(v.to_string().into()))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::from(v as u64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<&'static str> for Value {
    fn from(v: &'static str) -> Value {
        Value::Str(Cow::Borrowed(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(Cow::Owned(v))
    }
}
impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Value {
        Value::Str(v)
    }
}

/// Longest string value kept by default, in bytes (`limits.attribute_value_length`); longer ones
/// are cut on a character boundary and end with `…`.
pub(crate) const MAX_VALUE_LEN: usize = 4096;

/// The longest string value, in bytes, the caller's side keeps (the longer of the configured
/// per-signal limits: telemark's thread cuts each signal's values to its own limit).
static VALUE_CAP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(MAX_VALUE_LEN);

/// What ends a value that was cut.
pub(crate) const CUT_MARK: &str = "…";

/// Where to cut `s` so that, with [`CUT_MARK`], it fits in `max` bytes — if it does not fit.
pub(crate) fn cut_at(s: &str, max: usize) -> Option<usize> {
    (s.len() > max).then(|| floor_boundary(s, max.saturating_sub(CUT_MARK.len())))
}

/// `s`, cut to fit in `max` bytes (see [`cut_at`]).
pub(crate) fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match cut_at(s, max) {
        None => Cow::Borrowed(s),
        Some(end) => Cow::Owned(format!("{}{CUT_MARK}", &s[..end])),
    }
}

/// Sets the caller's cut (from `init`).
pub(crate) fn set_value_cap(bytes: usize) {
    VALUE_CAP.store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// See [`set_value_cap`].
#[inline]
pub(crate) fn value_cap() -> usize {
    VALUE_CAP.load(std::sync::atomic::Ordering::Relaxed)
}
/// Most bytes one span may carry in attributes and events; past that they are dropped and counted.
pub(crate) const MAX_SPAN_DATA: usize = 64 * 1024;

const T_STR: u8 = 1;
const T_I64: u8 = 2;
const T_F64: u8 = 3;
const T_BOOL: u8 = 4;
const T_EVENT: u8 = 5;
const T_NAME: u8 = 6;
const T_STATUS: u8 = 7;

/// Appends entries to a span's data buffer.
pub struct Recorder<'a> {
    pub(crate) buf: &'a mut Vec<u8>,
    pub(crate) dropped: u32,
    /// Events dropped (the span's data was full).
    pub(crate) dropped_events: u32,
    /// Where to get a recycled buffer on the first write (so a span without attributes never
    /// touches the recycling ring).
    recycle: Option<&'a crate::caller::thread::Local>,
}

struct Capped<'a> {
    buf: &'a mut Vec<u8>,
    left: usize,
    cut: bool,
}

impl fmt::Write for Capped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.left {
            self.buf.extend_from_slice(s.as_bytes());
            self.left -= s.len();
            Ok(())
        } else {
            let mut end = self.left;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.buf.extend_from_slice(&s.as_bytes()[..end]);
            self.left = 0;
            self.cut = true;
            Err(fmt::Error)
        }
    }
}

fn put_key(buf: &mut Vec<u8>, key: &str) {
    // Cut on a character boundary, so that every key decodes as UTF-8 without a copy.
    let k = &key.as_bytes()[..floor_boundary(key, 255)];
    buf.push(k.len() as u8);
    buf.extend_from_slice(k);
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        Recorder { buf, dropped: 0, dropped_events: 0, recycle: None }
    }

    pub(crate) fn recycling(buf: &'a mut Vec<u8>, local: &'a crate::caller::thread::Local) -> Self {
        Recorder { buf, dropped: 0, dropped_events: 0, recycle: Some(local) }
    }

    /// Takes a recycled buffer before the first write.
    fn ensure(&mut self) {
        if self.buf.capacity() == 0 {
            if let Some(l) = self.recycle.take() {
                *self.buf = l.buffer();
            }
        }
    }

    fn room(&mut self) -> bool {
        self.ensure();
        if self.buf.len() >= MAX_SPAN_DATA {
            self.dropped += 1;
            false
        } else {
            true
        }
    }

    /// Records `value` formatted with `Display`. A `Display` impl that panics or fails leaves the
    /// attribute out instead of unwinding into the caller.
    pub fn display(&mut self, key: &str, value: &dyn fmt::Display) {
        self.formatted(key, |w| write!(w, "{value}"));
    }

    /// Records `value` formatted with `Debug`.
    pub fn debug(&mut self, key: &str, value: &dyn fmt::Debug) {
        self.formatted(key, |w| write!(w, "{value:?}"));
    }

    fn formatted(&mut self, key: &str, f: impl FnOnce(&mut Capped<'_>) -> fmt::Result) {
        if !self.room() {
            return;
        }
        let start = self.buf.len();
        self.buf.push(T_STR);
        put_key(self.buf, key);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let body = self.buf.len();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut w =
                Capped { buf: &mut *self.buf, left: value_cap().saturating_sub(CUT_MARK.len()), cut: false };
            let r = f(&mut w);
            (r, w.cut)
        }));
        match outcome {
            Ok((Ok(()), _)) | Ok((Err(_), true)) => {
                if matches!(outcome, Ok((_, true))) {
                    self.buf.extend_from_slice(CUT_MARK.as_bytes());
                }
                let n = (self.buf.len() - body) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&n.to_le_bytes());
            }
            _ => {
                self.buf.truncate(start);
                self.dropped += 1;
            }
        }
    }

    /// Records a string value.
    pub fn str(&mut self, key: &str, value: &str) {
        self.formatted(key, |w| w.write_str(value));
    }

    /// Records a typed value.
    pub fn value(&mut self, key: &str, value: &Value) {
        match value {
            Value::Str(s) => self.str(key, s),
            Value::I64(v) => self.i64(key, *v),
            Value::F64(v) => self.f64(key, *v),
            Value::Bool(v) => self.bool(key, *v),
        }
    }

    /// Records an integer.
    pub fn i64(&mut self, key: &str, value: i64) {
        if self.room() {
            self.buf.push(T_I64);
            put_key(self.buf, key);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// Records a float.
    pub fn f64(&mut self, key: &str, value: f64) {
        if self.room() {
            self.buf.push(T_F64);
            put_key(self.buf, key);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// Records a boolean.
    pub fn bool(&mut self, key: &str, value: bool) {
        if self.room() {
            self.buf.push(T_BOOL);
            put_key(self.buf, key);
            self.buf.push(value as u8);
        }
    }

    /// Records an event with its attributes.
    pub(crate) fn event(&mut self, name: &str, unix_nanos: u64, attrs: &[(&str, Value)]) {
        self.ensure();
        if self.buf.len() >= MAX_SPAN_DATA {
            self.dropped_events += 1;
            return;
        }
        let n = attrs.len().min(u16::MAX as usize);
        Writer(self.buf).event(unix_nanos, name, n as u16);
        for (key, value) in &attrs[..n] {
            match value {
                Value::Str(s) => Writer(self.buf).attr(key, ValueRef::Str(&cut(s, value_cap()))),
                v => Writer(self.buf).attr(key, v.into()),
            }
        }
    }

    /// Overrides the span's name (the call site's, by default).
    pub fn name(&mut self, name: &str) {
        self.formatted_tag(T_NAME, name);
    }

    /// Sets the span's status message.
    pub(crate) fn status_message(&mut self, msg: &str) {
        self.formatted_tag(T_STATUS, msg);
    }

    fn formatted_tag(&mut self, tag: u8, s: &str) {
        self.ensure();
        Writer(self.buf).tagged(tag, &cut(s, value_cap()));
    }
}

/// Writes entries in the format [`entries`] reads: for the recorder, and for telemark's thread,
/// which rewrites a record's data when it masks or cuts something in it.
pub(crate) struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    /// An attribute.
    pub(crate) fn attr(&mut self, key: &str, value: ValueRef<'_>) {
        let b = &mut *self.0;
        match value {
            ValueRef::Str(s) => {
                b.push(T_STR);
                put_key(b, key);
                b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
            }
            ValueRef::I64(v) => {
                b.push(T_I64);
                put_key(b, key);
                b.extend_from_slice(&v.to_le_bytes());
            }
            ValueRef::F64(v) => {
                b.push(T_F64);
                put_key(b, key);
                b.extend_from_slice(&v.to_le_bytes());
            }
            ValueRef::Bool(v) => {
                b.push(T_BOOL);
                put_key(b, key);
                b.push(v as u8);
            }
        }
    }

    /// An event's head; its `attributes` attributes follow ([`Writer::attr`]).
    pub(crate) fn event(&mut self, time_unix_nanos: u64, name: &str, attributes: u16) {
        self.0.push(T_EVENT);
        self.0.extend_from_slice(&time_unix_nanos.to_le_bytes());
        put_key(self.0, name);
        self.0.extend_from_slice(&attributes.to_le_bytes());
    }

    /// The span's name, set while it ran.
    pub(crate) fn name(&mut self, name: &str) {
        self.tagged(T_NAME, name);
    }

    /// The span's status message.
    pub(crate) fn status(&mut self, message: &str) {
        self.tagged(T_STATUS, message);
    }

    fn tagged(&mut self, tag: u8, s: &str) {
        self.0.push(tag);
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
}

fn floor_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// An event recorded on a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Event name (`exception` for errors and panics).
    pub name: Cow<'static, str>,
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nanos: u64,
    /// Its attributes.
    pub attributes: Vec<(Cow<'static, str>, Value)>,
}

/// Keys known at compile time: decoding borrows them instead of allocating.
#[derive(Clone, Copy)]
pub(crate) enum Keys {
    None,
    Static(&'static [&'static str]),
    Fields(&'static tracing::field::FieldSet),
}

/// Keys telemark itself writes.
const KNOWN: &[&str] = &[
    "exception",
    "exception.type",
    "exception.message",
    "exception.escaped",
    "telemark.cancelled",
    "return.value",
    "message",
];

impl Keys {
    fn find(self, key: &[u8]) -> Option<&'static str> {
        let among = |keys: &'static [&'static str]| keys.iter().copied().find(|k| k.as_bytes() == key);
        match self {
            Keys::None => None,
            Keys::Static(keys) => among(keys),
            Keys::Fields(set) => set.iter().map(|f| f.name()).find(|k| k.as_bytes() == key),
        }
        .or_else(|| among(KNOWN))
    }
}

/// What a span's data buffer decodes to.
#[derive(Default, Debug)]
pub(crate) struct Decoded {
    pub attributes: Vec<(Cow<'static, str>, Value)>,
    pub events: Vec<Event>,
    pub name: Option<String>,
    pub status_message: Option<String>,
}

/// A value as a data buffer holds it, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ValueRef<'a> {
    Str(&'a str),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Str(s) => ValueRef::Str(s),
            Value::I64(v) => ValueRef::I64(*v),
            Value::F64(v) => ValueRef::F64(*v),
            Value::Bool(v) => ValueRef::Bool(*v),
        }
    }
}

impl ValueRef<'_> {
    fn to_value(self, owned: impl FnOnce(&str) -> Cow<'static, str>) -> Value {
        match self {
            ValueRef::Str(s) => Value::Str(owned(s)),
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::F64(v) => Value::F64(v),
            ValueRef::Bool(v) => Value::Bool(v),
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Str(s) => f.write_str(s),
            ValueRef::I64(v) => write!(f, "{v}"),
            ValueRef::F64(v) => write!(f, "{v}"),
            ValueRef::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// One entry of a data buffer, borrowed from it: what [`entries`] yields.
#[derive(Clone, Debug)]
pub(crate) enum Entry<'a> {
    /// An attribute.
    Attr(&'a str, ValueRef<'a>),
    /// An event: its time, its name and its attributes (read them with [`Attrs`]).
    Event(u64, &'a str, Attrs<'a>),
    /// The span's name, set while it ran.
    Name(&'a str),
    /// The span's status message.
    Status(&'a str),
}

/// The entries of a data buffer, in the order they were recorded: the one reader of the format,
/// for decoding into owned values ([`decode`]) and for encoding straight from the buffer. A
/// malformed tail (which the writer never produces) ends the iteration.
pub(crate) fn entries(buf: &[u8]) -> Entries<'_> {
    Entries(Reader { b: buf, at: 0 })
}

/// See [`entries`].
#[derive(Clone, Debug)]
pub(crate) struct Entries<'a>(Reader<'a>);

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        let r = &mut self.0;
        let entry = match r.u8()? {
            tag @ (T_STR | T_I64 | T_F64 | T_BOOL) => r.attr(tag).map(|(k, v)| Entry::Attr(k, v)),
            T_EVENT => (|| {
                let time = r.u64()?;
                let name = r.key()?;
                let n = r.u16()?;
                // The attributes are walked once here to find where the event ends.
                let start = r.at;
                let mut attrs = Attrs { r: Reader { b: r.b, at: start }, left: n };
                for _ in 0..n {
                    attrs.next()?;
                }
                r.at = attrs.r.at;
                Some(Entry::Event(time, name, Attrs { r: Reader { b: &r.b[..r.at], at: start }, left: n }))
            })(),
            T_NAME => r.long_str().map(Entry::Name),
            T_STATUS => r.long_str().map(Entry::Status),
            _ => None,
        };
        if entry.is_none() {
            r.at = r.b.len();
        }
        entry
    }
}

/// The attributes of an event (see [`Entry::Event`]).
#[derive(Clone, Debug)]
pub(crate) struct Attrs<'a> {
    r: Reader<'a>,
    left: u16,
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (&'a str, ValueRef<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let tag = self.r.u8()?;
        self.r.attr(tag)
    }
}

#[derive(Clone, Debug)]
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let s = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }
    /// Keys and strings were written from `&str`s, cut on character boundaries: they are UTF-8.
    fn key(&mut self) -> Option<&'a str> {
        let n = self.u8()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn long_str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn attr(&mut self, tag: u8) -> Option<(&'a str, ValueRef<'a>)> {
        let key = self.key()?;
        let v = match tag {
            T_STR => ValueRef::Str(self.long_str()?),
            T_I64 => ValueRef::I64(self.u64()? as i64),
            T_F64 => ValueRef::F64(f64::from_bits(self.u64()?)),
            T_BOOL => ValueRef::Bool(self.u8()? != 0),
            _ => return None,
        };
        Some((key, v))
    }
}

/// Decodes a data buffer into owned values (into `attributes`, a reused list); keys known at
/// compile time are borrowed, not copied.
pub(crate) fn decode(buf: &[u8], keys: Keys, attributes: Vec<(Cow<'static, str>, Value)>) -> Decoded {
    let mut out = Decoded { attributes, ..Decoded::default() };
    let key = |k: &str| keys.find(k.as_bytes()).map_or_else(|| Cow::Owned(k.to_owned()), Cow::Borrowed);
    let owned = |s: &str| Cow::Owned(s.to_owned());
    for entry in entries(buf) {
        match entry {
            Entry::Attr(k, v) => out.attributes.push((key(k), v.to_value(owned))),
            Entry::Event(time, name, attrs) => out.events.push(Event {
                name: key(name),
                time_unix_nanos: time,
                attributes: attrs.map(|(k, v)| (key(k), v.to_value(owned))).collect(),
            }),
            Entry::Name(n) => out.name = Some(n.to_owned()),
            Entry::Status(s) => out.status_message = Some(s.to_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Boom;
    impl fmt::Display for Boom {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("display exploded")
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        let mut r = Recorder::new(&mut buf);
        r.display("user", &"alice");
        r.i64("n", -3);
        r.bool("ok", true);
        r.f64("x", 1.5);
        r.event("exception", 42, &[("exception.type", "E".into()), ("exception.message", "bad".into())]);
        r.display("boom", &Boom);
        r.debug("v", &vec![1, 2]);
        r.name("renamed");
        r.status_message("failed");
        let d = decode(&buf, Keys::None, Vec::new());
        assert_eq!(
            d.attributes,
            vec![
                ("user".into(), Value::Str("alice".into())),
                ("n".into(), Value::I64(-3)),
                ("ok".into(), Value::Bool(true)),
                ("x".into(), Value::F64(1.5)),
                ("v".into(), Value::Str("[1, 2]".into())),
            ]
        );
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.events[0].attributes.len(), 2);
        assert_eq!(d.name.as_deref(), Some("renamed"));
        assert_eq!(d.status_message.as_deref(), Some("failed"));
    }

    #[test]
    fn long_values_are_cut() {
        let mut buf = Vec::new();
        let long = "é".repeat(5000);
        Recorder::new(&mut buf).display("k", &long);
        let d = decode(&buf, Keys::None, Vec::new());
        let s = d.attributes[0].1.as_str().unwrap();
        assert!(s.len() <= MAX_VALUE_LEN && s.ends_with('…'));
    }
}
