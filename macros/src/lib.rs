//! The attribute macros of [telemark](https://docs.rs/telemark). Use them through the `telemark`
//! crate (`#[telemark::traced]`); their documentation lives there.
//!
//! Each macro is parse → check → expand: its options are read into a model that keeps every
//! token's span, every rule is checked and every mistake collected, then code is generated in a
//! step that cannot fail. Where to read:
//!
//! - `traced`, `capture`, `alert`: one module per macro (`args` holds `#[traced]`'s model and checks);
//! - `options`: the one option parser (keyword tables, unknown and duplicate options, `crate = path`);
//! - `errors`: the error collector every mistake goes to;
//! - `function`: what the macros read from the function (its return type, `#[async_trait]` bodies),
//!   and what they emit on an item that is not a function;
//! - `protocol`: how the macros find each other on one function;
//! - the grammar of alert rules, durations and their messages is the `telemark-grammar` crate's.
//!
//! Generated code names only `<crate>::__private::…` (`::telemark` unless `crate = path` says
//! otherwise), `::core` and `::std`.

use proc_macro::TokenStream;

mod alert;
mod args;
mod capture;
mod errors;
mod function;
mod options;
mod protocol;
#[cfg(test)]
mod sizes;
mod traced;

/// Traces a function: a span per call, its arguments as attributes, and the function's metrics.
/// Options (`name`, `level`, `kind`, `skip`, `skip_all`, `fields`, `ret`, `err`, `parent`, `root`,
/// `sample`, `crate`) are described with their defaults in the `telemark` crate's documentation.
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
/// access to the function's arguments), `crate = path` (where telemark is, when it is renamed or
/// re-exported: `crate = my_telemark`; default `::telemark`). It goes on any function `#[traced]`
/// accepts, with or without `#[traced]`, in either order. See the `telemark` crate's documentation.
#[proc_macro_attribute]
pub fn capture_exceptions(args: TokenStream, item: TokenStream) -> TokenStream {
    capture::expand(args.into(), item.into()).into()
}

/// Declares an alert rule on a function: `#[alert_on(<metric> <op> <threshold>, options…)]`,
/// checked at compile time and registered at link time (`telemark::alerts::rules()`). The
/// function's metrics are recorded by `#[traced]`; without it, `#[alert_on]` adds a metrics-only
/// `#[traced]`. `crate = path` says where telemark is when it is renamed or re-exported
/// (default `::telemark`). See the `telemark` crate's documentation.
#[proc_macro_attribute]
pub fn alert_on(args: TokenStream, item: TokenStream) -> TokenStream {
    alert::expand(args.into(), item.into()).into()
}

#[cfg(test)]
mod tests {
    //! What every expansion names: `<crate>::__private::…` (`::telemark` unless `crate = path`),
    //! `::core` and `::std`, and nothing else by an absolute path.

    use proc_macro2::{Spacing, TokenStream, TokenTree};
    use quote::quote;

    /// The first segment of every absolute path (`::a::b` → `a`) in `tokens`, at any depth.
    fn roots(tokens: TokenStream, out: &mut Vec<String>) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, t) in tokens.iter().enumerate() {
            match t {
                TokenTree::Group(g) => roots(g.stream(), out),
                TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Joint => {
                    let after_path = match i.checked_sub(1).map(|j| &tokens[j]) {
                        Some(TokenTree::Ident(_)) => true,
                        Some(TokenTree::Punct(q)) => q.as_char() == '>' || q.as_char() == ':',
                        _ => false,
                    };
                    if let (false, Some(TokenTree::Ident(root))) = (after_path, tokens.get(i + 2)) {
                        out.push(root.to_string());
                    }
                }
                _ => {}
            }
        }
    }

    fn expansions(krate: TokenStream) -> Vec<TokenStream> {
        let c = if krate.is_empty() { quote!() } else { quote!(crate = #krate) };
        let f = quote! {
            fn load(id: u64) -> Result<u64, String> { Ok(id) }
        };
        let af = quote! {
            async fn load(id: u64) -> Result<u64, String> { Ok(id) }
        };
        vec![
            crate::traced::expand(quote!(ret, #c), f.clone()),
            crate::traced::expand(quote!(#c), af.clone()),
            crate::capture::expand(quote!(#c), f.clone()),
            crate::capture::expand(quote!(#c), af),
            crate::alert::expand(quote!(errors > 1, #c), f.clone()),
            // `#[traced]` applying the capture below it.
            crate::traced::expand(quote!(#c), quote!(#[capture_exceptions(#c)] #f)),
        ]
    }

    #[test]
    fn generated_code_names_telemark_core_and_std_only() {
        for out in expansions(quote!()) {
            let mut found = Vec::new();
            roots(out.clone(), &mut found);
            assert!(
                found.iter().all(|r| ["telemark", "core", "std"].contains(&r.as_str())),
                "{found:?} in {out}"
            );
            assert!(found.iter().any(|r| r == "telemark"), "{out}");
            assert!(!out.to_string().contains("compile_error"), "{out}");
        }
    }

    #[test]
    fn crate_path_replaces_telemark() {
        for out in expansions(quote!(my_telemark)) {
            let mut found = Vec::new();
            roots(out.clone(), &mut found);
            assert!(found.iter().all(|r| ["core", "std"].contains(&r.as_str())), "{found:?} in {out}");
            let text = out.to_string();
            assert!(text.contains("my_telemark :: __private ::"), "{text}");
            assert!(!text.contains("compile_error"), "{text}");
        }
        // The `#[traced]` that `#[alert_on]` adds names it the same way.
        let out = crate::alert::expand(
            quote!(calls > 1, crate = my::tm),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            out.to_string().starts_with("# [my :: tm :: traced (crate = my :: tm , __metrics_only)]"),
            "{out}"
        );
    }
}
