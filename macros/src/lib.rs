//! The attribute macros of [telemark](https://docs.rs/telemark). Use them through the `telemark`
//! crate (`#[telemark::traced]`); their documentation lives there.
//!
//! Each macro is parse → check → expand: `args` turns the attribute into a model that keeps every
//! token's span, checks every rule and collects all errors; `traced` generates code and cannot fail.

use proc_macro::TokenStream;

mod alert;
mod args;
mod capture;
mod errors;
mod options;
mod protocol;
mod traced;

/// See `telemark::traced`.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    traced::expand(args.into(), item.into()).into()
}

/// Captures the `Err` a function returns, and a panic inside it, as exceptions: an `exception`
/// event on the span, a log record with the trace context, and a count in the exception's group.
///
/// Options: `ignore = ["NotFound", "io::ErrorKind::WouldBlock"]` (a type path matches the end of
/// the error's type; any other text is looked for in its type and message), `backtrace = true|false`
/// (default from `exceptions.capture_backtrace`), `level = "error"|"warn"` (the log record's
/// severity), `fingerprint = expr` (your own grouping key, any `Display` expression without
/// access to the function's arguments). It goes on any function `#[traced]` accepts, with or
/// without `#[traced]`, in either order. See the `telemark` crate's documentation.
#[proc_macro_attribute]
pub fn capture_exceptions(args: TokenStream, item: TokenStream) -> TokenStream {
    capture::expand(args.into(), item.into()).into()
}

/// Declares an alert rule on a function: `#[alert_on(<metric> <op> <threshold>, options…)]`,
/// checked at compile time and registered at link time (`telemark::alerts::rules()`). The
/// function's metrics are recorded by `#[traced]`; without it, `#[alert_on]` adds a metrics-only
/// `#[traced]`. See the `telemark` crate's documentation.
#[proc_macro_attribute]
pub fn alert_on(args: TokenStream, item: TokenStream) -> TokenStream {
    alert::expand(args.into(), item.into()).into()
}
