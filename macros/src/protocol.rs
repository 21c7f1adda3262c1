//! How the three macros find each other on one function. Everything one macro knows of another
//! goes through this module.
//!
//! # Why they must
//!
//! - `#[capture_exceptions]` must run inside `#[traced]`'s span, so that an exception lands on the
//!   function's own span and fails it. Above `#[traced]` it expands first, and `#[traced]` then
//!   wraps the body it rewrote: nothing to do. Below `#[traced]` it would expand last, around the
//!   span; so `#[traced]` takes it off the function, rewrites the body with it, wraps that, and
//!   puts it back [applied](Marker::Applied).
//! - `#[alert_on]` needs the function's metrics, which only `#[traced]` records: the last
//!   `#[alert_on]` to expand adds a [metrics-only](Marker::MetricsOnly) `#[traced]` when the
//!   function has none (below it, or already expanded above it), so that every call is counted
//!   exactly once.
//! - Several `#[alert_on]` on one function check their rule names against each other, and only
//!   the last to expand adds `#[traced]`.
//!
//! # What a macro can see
//!
//! Its own arguments, and the function with the attributes below it still written out (they
//! expand after it) and those above it already expanded. It sees paths, never what they resolve
//! to; and it cannot remove an attribute's path without rustc losing track of the import that
//! named it.
//!
//! # The protocol
//!
//! 1. **An attribute below** is recognised by the last segment of its path ([`Macro::of`]): `#[traced]`,
//!    `#[telemark::traced]`, `#[tm::traced]` (through `use telemark as tm`) all are. An import under
//!    another name (`use telemark::capture_exceptions as capture`) is not: such an attribute
//!    expands on its own, in the order written — below `#[traced]`, around the span instead of
//!    inside it; below `#[alert_on]`, a renamed `#[traced]` is not seen and the function is traced
//!    twice (once for metrics only).
//! 2. **Marker arguments.** An attribute one macro writes for another carries a [`Marker`] as its
//!    last argument: a name starting with `__` that users do not write (telemark's own tests write
//!    `#[traced(__metrics_only)]` to test that mode). The macro takes it off ([`take_marker`])
//!    before it parses its options, so options never see it.
//! 3. **An expanded `#[traced]` above** is recognised by its mark ([`traced_expanded`]): every
//!    expansion of `#[traced]` declares its call site as a `static` named [`TRACED_MARK`] in the
//!    body. Users do not write that name either (a body that declared it would be taken for
//!    traced).

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, Block};

/// The macros, as attributes on a function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Macro {
    /// `#[traced]`
    Traced,
    /// `#[capture_exceptions]`
    CaptureExceptions,
    /// `#[alert_on]`
    AlertOn,
}

impl Macro {
    /// The attribute's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Macro::Traced => "traced",
            Macro::CaptureExceptions => "capture_exceptions",
            Macro::AlertOn => "alert_on",
        }
    }

    /// Which macro an attribute is, by the last segment of its path (see the module's docs for
    /// what that misses).
    pub(crate) fn of(attr: &Attribute) -> Option<Macro> {
        let last = attr.path().segments.last()?;
        [Macro::Traced, Macro::CaptureExceptions, Macro::AlertOn].into_iter().find(|m| last.ident == m.name())
    }

    /// Whether `attr` is this macro.
    pub(crate) fn is(self, attr: &Attribute) -> bool {
        Macro::of(attr) == Some(self)
    }
}

/// An argument one macro writes into another's attribute.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Marker {
    /// `#[capture_exceptions(__telemark_applied)]`: what `#[traced]` puts back in place of the
    /// `#[capture_exceptions]` it took off and applied to the body itself. The attribute expands to
    /// the function unchanged.
    ///
    /// It cannot simply be dropped: rustc would then never resolve its path, and the user's
    /// `use telemark::capture_exceptions;` would be reported unused (an error under
    /// `#![deny(warnings)]`). Left in place, rustc resolves it as it resolves any attribute, however
    /// it is written (an import, a full path, a path through an import of the crate, `$crate::..` in
    /// a macro) and in the scope it was written in. A `use <path> as _;` generated inside the body
    /// could only approximate that scope (a block also sees its own items), and would put an item
    /// and an `#[allow]` in the user's code.
    Applied,
    /// `#[::telemark::traced(__metrics_only)]` (with `crate = path`:
    /// `#[path::traced(crate = path, __metrics_only)]`): what `#[alert_on]` adds to a
    /// function without `#[traced]`. It records the function's metrics, and no span.
    MetricsOnly,
}

impl Marker {
    fn name(self) -> &'static str {
        match self {
            Marker::Applied => "__telemark_applied",
            Marker::MetricsOnly => "__metrics_only",
        }
    }

    fn ident(self) -> Ident {
        Ident::new(self.name(), Span::mixed_site())
    }
}

/// The arguments without `marker`, and whether it was there: the last argument, alone or after
/// a `,`.
pub(crate) fn take_marker(args: TokenStream, marker: Marker) -> (TokenStream, bool) {
    let mut tokens: Vec<TokenTree> = args.into_iter().collect();
    let is_comma = |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ',');
    let n = tokens.len();
    let last_is_marker = matches!(tokens.last(), Some(TokenTree::Ident(i)) if i == marker.name());
    let alone = n == 1 || (n >= 2 && is_comma(tokens.get(n - 2)));
    if !(last_is_marker && alone) {
        return (tokens.into_iter().collect(), false);
    }
    tokens.truncate(n.saturating_sub(2));
    (tokens.into_iter().collect(), true)
}

/// `#[capture_exceptions(__telemark_applied)]` by the user's own path: see [`Marker::Applied`].
pub(crate) fn applied(attr: &Attribute) -> Attribute {
    let marker = Marker::Applied.ident();
    let meta = syn::Meta::List(syn::MetaList {
        path: attr.path().clone(),
        delimiter: syn::MacroDelimiter::Paren(syn::token::Paren(attr.span())),
        tokens: quote!(#marker),
    });
    Attribute { meta, ..attr.clone() }
}

/// The `#[traced]` that `#[alert_on]` adds to a function without one: see [`Marker::MetricsOnly`].
/// It names telemark as `#[alert_on]` was told to (`crate = path`).
pub(crate) fn metrics_only_traced(krate: Option<&syn::Path>) -> TokenStream {
    let marker = Marker::MetricsOnly.ident();
    match krate {
        Some(path) => quote!(#[#path::traced(crate = #path, #marker)]),
        None => quote!(#[::telemark::traced(#marker)]),
    }
}

/// The arguments of an attribute (`#[x]` has none).
pub(crate) fn attr_args(a: &Attribute) -> TokenStream {
    match &a.meta {
        syn::Meta::List(l) => l.tokens.clone(),
        _ => TokenStream::new(),
    }
}

/// The name of the `static` every expansion of `#[traced]` declares in the body: the mark that
/// `#[traced]` has expanded on a function ([`traced_expanded`]).
pub(crate) const TRACED_MARK: &str = "__TELEMARK_CALLSITE";

/// Whether `#[traced]` has already expanded on this function (it was above): its body holds
/// [`TRACED_MARK`].
pub(crate) fn traced_expanded(block: &Block) -> bool {
    fn holds_mark(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            TokenTree::Ident(i) => i == TRACED_MARK,
            TokenTree::Group(g) => holds_mark(g.stream()),
            _ => false,
        })
    }
    holds_mark(quote!(#block))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(args: TokenStream, marker: Marker) -> (String, bool) {
        let (rest, found) = take_marker(args, marker);
        (rest.to_string(), found)
    }

    #[test]
    fn a_marker_is_the_last_argument_alone() {
        assert_eq!(take(quote!(__telemark_applied), Marker::Applied), (String::new(), true));
        assert_eq!(take(quote!(crate = x, __metrics_only), Marker::MetricsOnly), ("crate = x".into(), true));
        // Not a whole argument, or not last, or another marker: left to the options (an error there).
        assert!(!take(quote!(parent = __telemark_applied), Marker::Applied).1);
        assert!(!take(quote!(__telemark_applied, ret), Marker::Applied).1);
        assert!(!take(quote!(__telemark_applied), Marker::MetricsOnly).1);
        assert_eq!(take(quote!(ret, root), Marker::Applied), ("ret , root".into(), false));
        assert!(!take(TokenStream::new(), Marker::Applied).1);
    }

    #[test]
    fn attributes_are_recognised_by_their_last_segment() {
        let attr = |tokens: TokenStream| -> Attribute { syn::parse_quote!(#tokens) };
        assert_eq!(Macro::of(&attr(quote!(#[traced]))), Some(Macro::Traced));
        assert_eq!(
            Macro::of(&attr(quote!(#[tm::capture_exceptions(level = "warn")]))),
            Some(Macro::CaptureExceptions)
        );
        assert_eq!(Macro::of(&attr(quote!(#[::telemark::alert_on(errors > 1)]))), Some(Macro::AlertOn));
        assert_eq!(Macro::of(&attr(quote!(#[capture]))), None);
        assert!(Macro::Traced.is(&attr(quote!(#[telemark::traced]))));
    }

    #[test]
    fn applied_keeps_the_users_path() {
        let attr: Attribute = syn::parse_quote!(#[tm::capture_exceptions(level = "warn")]);
        let applied = applied(&attr);
        assert_eq!(quote!(#applied).to_string(), "# [tm :: capture_exceptions (__telemark_applied)]");
        assert!(take_marker(attr_args(&applied), Marker::Applied).1);
    }

    #[test]
    fn the_mark_of_traced_is_found_at_any_depth() {
        let block: Block = syn::parse_quote!({
            let s = {
                static __TELEMARK_CALLSITE: u8 = 0;
                &__TELEMARK_CALLSITE
            };
        });
        assert!(traced_expanded(&block));
        let block: Block = syn::parse_quote!({
            let callsite = 1;
        });
        assert!(!traced_expanded(&block));
    }
}
