//! Compile-time dispatch for generated code ("autoref specialization"): an argument is recorded
//! typed if it is a number or a bool, else by `Display`, else by `Debug`, else left out — with no
//! compile error for a type that has none of these. The same trick finds `Err` values.
//!
//! Generated code calls `(&&&&Arg(&value)).__telemark_record(key, rec)`: method lookup tries the
//! most-referenced receiver first, so the first impl whose bounds hold wins.

use crate::caller::span::End;
use crate::caller::value::Recorder;
use std::fmt::{Debug, Display};

/// Wraps an argument (or `fields` value, or return value) for recording.
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// Values recorded telemark's own way: numbers and booleans as typed attributes, header maps
/// without their sensitive headers.
pub trait Primitive {
    /// Records the value under `key`.
    fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>);
}

macro_rules! int_primitive {
    ($($t:ty),*) => {$(
        impl Primitive for $t {
            #[inline]
            fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>) {
                match i64::try_from(*self) {
                    Ok(v) => rec.i64(key, v),
                    Err(_) => rec.display(key, self),
                }
            }
        }
    )*};
}
int_primitive!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl Primitive for f32 {
    fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>) {
        rec.f64(key, f64::from(*self));
    }
}
impl Primitive for f64 {
    fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>) {
        rec.f64(key, *self);
    }
}
impl Primitive for bool {
    fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>) {
        rec.bool(key, *self);
    }
}
/// An `http::HeaderMap` (a handler's `headers` argument) is recorded without its sensitive
/// headers — `authorization`, `cookie`, `set-cookie`, `x-api-key`, any name with a secret key's
/// fragment in it — and without `baggage` (W3C Baggage may carry secrets), as
/// `{"accept": "*/*", …}`: their values never leave the caller's thread.
impl Primitive for http::HeaderMap {
    fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>) {
        struct Safe<'a>(&'a http::HeaderMap);
        impl Debug for Safe<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let safe = self.0.iter().filter(|(name, _)| {
                    *name != "baggage" && !crate::sanitize::keys::is_secret_bytes(name.as_ref())
                });
                f.debug_map().entries(safe).finish()
            }
        }
        rec.debug(key, &Safe(self));
    }
}

impl<T: Primitive + ?Sized> Primitive for &T {
    fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>) {
        (**self).record_primitive(key, rec);
    }
}
impl<T: Primitive + ?Sized> Primitive for &mut T {
    fn record_primitive(&self, key: &str, rec: &mut Recorder<'_>) {
        (**self).record_primitive(key, rec);
    }
}

/// Level 1: typed.
pub trait RecordPrimitive {
    /// Records the wrapped value.
    fn __telemark_record(&self, key: &str, rec: &mut Recorder<'_>);
}
impl<T: Primitive + ?Sized> RecordPrimitive for &&&Arg<'_, T> {
    #[inline]
    fn __telemark_record(&self, key: &str, rec: &mut Recorder<'_>) {
        self.0.record_primitive(key, rec);
    }
}

/// Level 2: `Display`.
pub trait RecordDisplay {
    /// Records the wrapped value.
    fn __telemark_record(&self, key: &str, rec: &mut Recorder<'_>);
}
impl<T: Display + ?Sized> RecordDisplay for &&Arg<'_, T> {
    #[inline]
    fn __telemark_record(&self, key: &str, rec: &mut Recorder<'_>) {
        rec.display(key, &self.0);
    }
}

/// Level 3: `Debug`.
pub trait RecordDebug {
    /// Records the wrapped value.
    fn __telemark_record(&self, key: &str, rec: &mut Recorder<'_>);
}
impl<T: Debug + ?Sized> RecordDebug for &Arg<'_, T> {
    #[inline]
    fn __telemark_record(&self, key: &str, rec: &mut Recorder<'_>) {
        rec.debug(key, &self.0);
    }
}

/// Level 4: neither; left out.
pub trait RecordNothing {
    /// Does nothing.
    fn __telemark_record(&self, key: &str, rec: &mut Recorder<'_>);
}
impl<T: ?Sized> RecordNothing for Arg<'_, T> {
    #[inline]
    fn __telemark_record(&self, _key: &str, _rec: &mut Recorder<'_>) {}
}

/// Wraps a return value to look for an `Err`.
pub struct Ret<'a, T: ?Sized>(pub &'a T);

/// `Err(e)` with `e: Display`.
pub trait ErrDisplay {
    /// Counts an `Err` as a failed call, and records it on the span when `record`.
    fn __telemark_err(&self, end: &mut dyn End, record: bool);
}
impl<T, E: Display> ErrDisplay for &&&Ret<'_, Result<T, E>> {
    #[inline]
    fn __telemark_err(&self, end: &mut dyn End, record: bool) {
        if let Err(e) = self.0 {
            failed(end, record, std::any::type_name::<E>(), e);
        }
    }
}

/// A call that returned an `Err`: counted, and recorded on the span when `record`.
fn failed(end: &mut dyn End, record: bool, type_name: &str, e: &dyn Display) {
    end.failed();
    if record {
        end.outcome_dyn(&mut |o| o.error(type_name, e));
    }
}

struct DebugAsDisplay<'a, E: Debug>(&'a E);
impl<E: Debug> Display for DebugAsDisplay<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// `Err(e)` with `e: Debug`.
pub trait ErrDebug {
    /// Counts an `Err` as a failed call, and records it on the span when `record`.
    fn __telemark_err(&self, end: &mut dyn End, record: bool);
}
impl<T, E: Debug> ErrDebug for &&Ret<'_, Result<T, E>> {
    #[inline]
    fn __telemark_err(&self, end: &mut dyn End, record: bool) {
        if let Err(e) = self.0 {
            failed(end, record, std::any::type_name::<E>(), &DebugAsDisplay(e));
        }
    }
}

/// `Err(e)` with an `e` that cannot be printed: the type name is the message.
pub trait ErrOpaque {
    /// Counts an `Err` as a failed call, and records it on the span when `record`.
    fn __telemark_err(&self, end: &mut dyn End, record: bool);
}
impl<T, E> ErrOpaque for &Ret<'_, Result<T, E>> {
    #[inline]
    fn __telemark_err(&self, end: &mut dyn End, record: bool) {
        if self.0.is_err() {
            failed(end, record, std::any::type_name::<E>(), &std::any::type_name::<E>());
        }
    }
}

/// Not a `Result`: nothing to record.
pub trait ErrNone {
    /// Does nothing.
    fn __telemark_err(&self, end: &mut dyn End, record: bool);
}
impl<T: ?Sized> ErrNone for Ret<'_, T> {
    #[inline(always)]
    fn __telemark_err(&self, _end: &mut dyn End, _record: bool) {}
}

/// Wraps the return value of a `#[capture_exceptions]` function to capture its `Err`.
pub struct Captured<'a, T: ?Sized>(pub &'a T);

use crate::exception::{capture_returned, CaptureSite, Subject};
use std::error::Error;

/// A readable name for a boxed `dyn Error` type.
fn container(type_name: &str) -> &str {
    if type_name.starts_with("alloc::boxed::Box<dyn ") {
        "Box<dyn Error>"
    } else {
        type_name
    }
}

/// Level 0: `anyhow::Error`, with its own backtrace when it has one (feature `anyhow`).
pub trait CaptureAnyhow {
    /// Captures an `Err`.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
#[cfg(feature = "anyhow")]
impl<T> CaptureAnyhow for &&&&&&&Captured<'_, Result<T, anyhow::Error>> {
    fn __telemark_capture(&self, site: &'static CaptureSite) {
        if let Err(e) = self.0 {
            // The error owns its backtrace (only lent here), so it is symbolised here, on the
            // caller's thread, and travels as text.
            let own = crate::exception::backtrace_text(e.backtrace()).map(crate::exception::Trace::Text);
            let error: &(dyn Error + Send + Sync + 'static) = e.as_ref();
            capture_returned(site, Subject::Dyn { error, container: "anyhow::Error" }, own);
        }
    }
}

/// Level 1: an `Error` type.
pub trait CaptureError {
    /// Captures an `Err`.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
impl<T, E: Error> CaptureError for &&&&&&Captured<'_, Result<T, E>> {
    fn __telemark_capture(&self, site: &'static CaptureSite) {
        if let Err(e) = self.0 {
            let subject = Subject::Error { error: e, type_name: std::any::type_name::<E>(), debug: Some(e) };
            capture_returned(site, subject, None);
        }
    }
}

/// Level 2: a `dyn Error + Send + Sync` behind a box or a wrapper (`anyhow::Error`).
pub trait CaptureDynSend {
    /// Captures an `Err`.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
impl<T, E: AsRef<dyn Error + Send + Sync + 'static>> CaptureDynSend for &&&&&Captured<'_, Result<T, E>> {
    fn __telemark_capture(&self, site: &'static CaptureSite) {
        if let Err(e) = self.0 {
            let error: &(dyn Error + Send + Sync + 'static) = e.as_ref();
            let subject = Subject::Dyn { error, container: container(std::any::type_name::<E>()) };
            capture_returned(site, subject, None);
        }
    }
}

/// Level 3: a `Box<dyn Error>`.
pub trait CaptureDyn {
    /// Captures an `Err`.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
impl<T, E: AsRef<dyn Error + 'static>> CaptureDyn for &&&&Captured<'_, Result<T, E>> {
    fn __telemark_capture(&self, site: &'static CaptureSite) {
        if let Err(e) = self.0 {
            let subject =
                Subject::Dyn { error: e.as_ref(), container: container(std::any::type_name::<E>()) };
            capture_returned(site, subject, None);
        }
    }
}

/// Level 4: any `Display`.
pub trait CaptureDisplay {
    /// Captures an `Err`.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
impl<T, E: Display> CaptureDisplay for &&&Captured<'_, Result<T, E>> {
    fn __telemark_capture(&self, site: &'static CaptureSite) {
        if let Err(e) = self.0 {
            let subject = Subject::Display { value: e, type_name: std::any::type_name::<E>(), debug: None };
            capture_returned(site, subject, None);
        }
    }
}

/// Level 5: `Debug` only.
pub trait CaptureDebug {
    /// Captures an `Err`.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
impl<T, E: Debug> CaptureDebug for &&Captured<'_, Result<T, E>> {
    fn __telemark_capture(&self, site: &'static CaptureSite) {
        if let Err(e) = self.0 {
            let shown = DebugAsDisplay(e);
            let subject =
                Subject::Display { value: &shown, type_name: std::any::type_name::<E>(), debug: Some(e) };
            capture_returned(site, subject, None);
        }
    }
}

/// Level 6: an `Err` that cannot be printed: its type is its message.
pub trait CaptureOpaque {
    /// Captures an `Err`.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
impl<T, E> CaptureOpaque for &Captured<'_, Result<T, E>> {
    fn __telemark_capture(&self, site: &'static CaptureSite) {
        if self.0.is_err() {
            let type_name = std::any::type_name::<E>();
            let subject = Subject::Display { value: &type_name, type_name, debug: None };
            capture_returned(site, subject, None);
        }
    }
}

/// Level 7: not a `Result`; nothing to capture.
pub trait CaptureNone {
    /// Does nothing.
    fn __telemark_capture(&self, site: &'static CaptureSite);
}
impl<T: ?Sized> CaptureNone for Captured<'_, T> {
    fn __telemark_capture(&self, _site: &'static CaptureSite) {}
}

use crate::caller::span::{IntoParent, Parent};

/// Runs a sync function body that must yield its value (generated code). The `FnOnce` bound fixes
/// the closure's kind, so a body may return borrows of what it captured (`&mut self` fields);
/// generated code names `R`, the function's return type, so that `?` and `return` infer.
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// The function's return type, for the dead `return` that types the closure or async block a
/// body runs in (generated code: `if false { return never::<T>(); }`). Never called.
#[doc(hidden)]
pub fn never<T>() -> T {
    unreachable!("generated code calls `never` only under `if false`")
}

/// The traits that record an argument, a `fields` value or the return value, for
/// `use spec::args::*` in generated code (anonymous: they name nothing in the function).
pub mod args {
    pub use super::{RecordDebug as _, RecordDisplay as _, RecordNothing as _, RecordPrimitive as _};
}

/// The traits that find an `Err` in a return value, for `use spec::ret::*` in generated code.
pub mod ret {
    pub use super::{ErrDebug as _, ErrDisplay as _, ErrNone as _, ErrOpaque as _};
}

/// The traits that capture a returned `Err` as an exception, for `use spec::capture::*` in
/// generated code.
pub mod capture {
    pub use super::{
        CaptureAnyhow as _, CaptureDebug as _, CaptureDisplay as _, CaptureDyn as _, CaptureDynSend as _,
        CaptureError as _, CaptureNone as _, CaptureOpaque as _,
    };
}

/// The parent for `parent = expr` (generated code; borrows, so the expression may name an
/// argument that is also recorded).
pub fn parent<P: IntoParent + ?Sized>(p: &P) -> Parent {
    p.to_parent()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::value::{decode, Value};

    struct Opaque;
    #[derive(Debug)]
    struct OnlyDebug(#[allow(dead_code)] u8);

    #[allow(clippy::needless_borrow)]
    fn record_all(rec: &mut Recorder<'_>) {
        let n = 5u32;
        let s = String::from("text");
        let d = OnlyDebug(1);
        let o = Opaque;
        (&&&&Arg(&n)).__telemark_record("n", rec);
        (&&&&Arg(&s)).__telemark_record("s", rec);
        (&&&&Arg(&d)).__telemark_record("d", rec);
        (&&&&Arg(&o)).__telemark_record("o", rec);
    }

    #[test]
    fn picks_the_best_representation() {
        let mut buf = Vec::new();
        record_all(&mut Recorder::new(&mut buf));
        let got = decode(&buf, crate::caller::value::Keys::None, Vec::new()).attributes;
        assert_eq!(
            got,
            vec![
                ("n".into(), Value::I64(5)),
                ("s".into(), Value::Str("text".into())),
                ("d".into(), Value::Str("OnlyDebug(1)".into())),
            ]
        );
    }
}
