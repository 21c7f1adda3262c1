//! The error collector every macro reports through (serde_derive's `Ctxt`): it gathers every
//! mistake, so the user sees them all at once, each on its own tokens.

use proc_macro2::Span;
use quote::ToTokens;
use std::fmt::Display;

/// Collects errors until [`Errors::check`] turns them into one `syn::Error`.
///
/// In debug builds, dropping a collector that was neither checked nor [discarded](Errors::discard)
/// panics: an error pushed on a path that forgot to check would otherwise be lost, and the macro
/// would expand the function as if nothing were wrong. This is the one panic in the macros; it
/// shows a bug of telemark's, never a mistake of the user's.
pub(crate) struct Errors {
    /// `None` once checked or discarded.
    errors: Option<Vec<syn::Error>>,
}

impl Errors {
    pub(crate) fn new() -> Errors {
        Errors { errors: Some(Vec::new()) }
    }

    /// Adds an error.
    pub(crate) fn push(&mut self, e: syn::Error) {
        if let Some(all) = &mut self.errors {
            all.push(e);
        }
    }

    /// Adds an error on `span`.
    pub(crate) fn error(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Adds an error on `tokens` (from the first to the last).
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Adds the error of `result`, if it is one (a parse that stopped at a syntax error).
    pub(crate) fn add(&mut self, result: syn::Result<()>) {
        if let Err(e) = result {
            self.push(e);
        }
    }

    /// How many errors so far.
    pub(crate) fn len(&self) -> usize {
        self.errors.as_ref().map_or(0, Vec::len)
    }

    /// Ends the collection: every error, combined in the order they were added, or `Ok`.
    pub(crate) fn check(mut self) -> syn::Result<()> {
        let mut all = self.errors.take().unwrap_or_default().into_iter();
        let Some(mut first) = all.next() else { return Ok(()) };
        for e in all {
            first.combine(e);
        }
        Err(first)
    }

    /// Ends the collection without reporting: for reading another attribute, whose errors are its
    /// own to report when it expands.
    pub(crate) fn discard(mut self) {
        self.errors = None;
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if cfg!(debug_assertions) && self.errors.is_some() && !std::thread::panicking() {
            panic!("telemark-macros: an `Errors` was dropped without `check` or `discard`; its errors would be lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_combines_every_error_in_order() {
        let mut errors = Errors::new();
        errors.error(Span::call_site(), "first");
        errors.add(Err(syn::Error::new(Span::call_site(), "second")));
        errors.add(Ok(()));
        assert_eq!(errors.len(), 2);
        let messages: Vec<String> = match errors.check() {
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
            Ok(()) => Vec::new(),
        };
        assert_eq!(messages, ["first", "second"]);
        assert!(Errors::new().check().is_ok());
    }

    #[test]
    fn discard_ends_it_quietly() {
        let mut errors = Errors::new();
        errors.error(Span::call_site(), "not ours");
        errors.discard();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "dropped without `check`")]
    fn dropping_it_unchecked_panics_in_debug() {
        let mut errors = Errors::new();
        errors.error(Span::call_site(), "lost");
    }
}
