//! How big the expansions are (issue 15): four functions as a user writes them, expanded the way
//! rustc does it (every telemark attribute in turn, outermost first) and pretty-printed as
//! `cargo expand` shows them. `cargo test -p telemark-macros sizes -- --nocapture` prints the
//! table; the test fails when an expansion grows past its budget.

#![allow(clippy::expect_used)] // a test: an expansion that does not parse is its failure

use crate::protocol::Macro;
use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// Expands every telemark attribute on the function in `item`, outermost first, as rustc would.
fn expand_all(item: TokenStream) -> syn::File {
    let mut item = item;
    loop {
        let mut f: syn::ItemFn = syn::parse2(item.clone()).expect("an expansion is a function");
        let Some(i) = f.attrs.iter().position(|a| Macro::of(a).is_some()) else {
            return syn::parse2(item).expect("an expansion parses as a file");
        };
        let attr = f.attrs.remove(i);
        let args = match &attr.meta {
            syn::Meta::List(l) => l.tokens.clone(),
            _ => TokenStream::new(),
        };
        let rest = f.into_token_stream();
        item = match Macro::of(&attr) {
            Some(Macro::Traced) => crate::traced::expand(args, rest),
            Some(Macro::CaptureExceptions) => crate::capture::expand(args, rest),
            Some(Macro::AlertOn) => crate::alert::expand(args, rest),
            None => unreachable!(),
        };
    }
}

/// Lines of the pretty-printed expansion, its tokens (at any depth) and its closures, and the text.
fn measure(item: TokenStream) -> (usize, usize, usize, String) {
    fn count(tokens: TokenStream) -> usize {
        tokens
            .into_iter()
            .map(|t| match t {
                proc_macro2::TokenTree::Group(g) => 1 + count(g.stream()),
                _ => 1,
            })
            .sum()
    }
    struct Closures(usize);
    impl<'ast> syn::visit::Visit<'ast> for Closures {
        fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
            self.0 += 1;
            syn::visit::visit_expr_closure(self, c);
        }
    }
    let file = expand_all(item);
    let mut closures = Closures(0);
    syn::visit::Visit::visit_file(&mut closures, &file);
    let text = prettyplease::unparse(&file);
    (text.lines().count(), count(file.into_token_stream()), closures.0, text)
}

/// The four functions of the issue: name, source, the budget in lines.
fn cases() -> Vec<(&'static str, TokenStream, usize)> {
    vec![
        (
            "sync fn",
            quote! {
                #[traced]
                fn add(a: u64, b: u64) -> u64 {
                    a + b
                }
            },
            21,
        ),
        (
            "Result fn",
            quote! {
                #[traced]
                fn load(id: u64) -> Result<u64, Error> {
                    if id == 0 { return Err(Error::NotFound); }
                    Ok(id)
                }
            },
            33,
        ),
        (
            "async fn",
            quote! {
                #[traced]
                async fn fetch(id: u64) -> u64 {
                    id + 1
                }
            },
            25,
        ),
        (
            "traced + capture_exceptions + alert_on",
            quote! {
                #[traced]
                #[capture_exceptions]
                #[alert_on(errors > 5, window = "1m")]
                fn load(id: u64) -> Result<u64, Error> {
                    if id == 0 { return Err(Error::NotFound); }
                    Ok(id)
                }
            },
            61,
        ),
    ]
}

#[test]
fn sizes() {
    let mut over = Vec::new();
    println!("| function | lines | tokens | closures | budget (lines) |\n|---|---|---|---|---|");
    for (name, src, budget) in cases() {
        let (n, tokens, closures, text) = measure(src);
        println!("| {name} | {n} | {tokens} | {closures} | {budget} |");
        if std::env::var_os("TELEMARK_SHOW_EXPANSIONS").is_some() {
            println!("```rust\n{text}```");
        }
        if n > budget {
            over.push(format!("{name}: {n} lines, budget {budget}\n{text}"));
        }
    }
    assert!(over.is_empty(), "expansions over budget:\n{}", over.join("\n"));
}
