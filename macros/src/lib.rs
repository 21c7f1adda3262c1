//! The attribute macros of [telemark](https://docs.rs/telemark). Use them through the `telemark`
//! crate (`#[telemark::traced]`); their documentation lives there.
//!
//! Each macro is parse → check → expand: `args` turns the attribute into a model that keeps every
//! token's span, checks every rule and collects all errors; `traced` generates code and cannot fail.

use proc_macro::TokenStream;

mod args;
mod traced;

/// See `telemark::traced`.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    traced::expand(args.into(), item.into()).into()
}
