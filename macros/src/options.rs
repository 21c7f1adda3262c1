//! The options of the three macros, parsed once.
//!
//! Each macro declares its options in a table ([`Options`]): every keyword, with the form of what
//! follows it ([`Takes`]), and the words users write for one by mistake. [`parse_options`] reads
//! `key`, `key = value` and `key(...)` in any order, separated by commas, checks each key's form,
//! and reports in one place a key that is unknown (with the valid ones and a guess of the one
//! meant) or given twice. What a value means is the macro's: the parser hands each keyword to the
//! macro's handler, which reads the value into the macro's model.
//!
//! Errors go to the collector and the parse goes on, so the user sees every mistake at once; only
//! a syntax error that leaves no way to find the next option stops it.

use crate::errors::Errors;
use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{discouraged::Speculative, ParseStream};
use syn::{Ident, LitStr, Token};
use telemark_grammar::grammar::{closest, join};

/// What follows an option's key.
#[derive(Clone, Copy)]
pub(crate) enum Takes {
    /// Nothing: a flag (`ret`). A value given anyway (`= ..` or `(..)`) is reported and skipped,
    /// with this note on what the flag does, if any.
    Flag(Option<&'static str>),
    /// `= value`; how to write one, for the error when it is missing.
    Value(&'static str),
    /// `(...)`: what the parentheses hold, and an example. Anything else stops the parse.
    List {
        /// `the names of arguments`
        holds: &'static str,
        /// `skip(password, body)`
        example: &'static str,
    },
    /// A flag, or `= value` (`err`, `err = false`): the handler reads whatever follows.
    FlagOrValue,
}

/// One option of a macro.
pub(crate) struct Keyword<K: 'static> {
    /// What the macro's handler matches on.
    pub(crate) key: K,
    pub(crate) name: &'static str,
    pub(crate) takes: Takes,
}

/// A macro's options.
pub(crate) struct Options<K: 'static> {
    pub(crate) keywords: &'static [Keyword<K>],
    /// Words users write for an option, and the hint for them; looked up before the closest
    /// keyword is guessed.
    pub(crate) hints: &'static [(&'static [&'static str], &'static str)],
}

impl<K: Copy> Options<K> {
    /// The keyword named `name`.
    pub(crate) fn find(&self, name: &str) -> Option<&'static Keyword<K>> {
        self.keywords.iter().find(|k| k.name == name)
    }

    /// Every keyword, in backticks, for messages.
    pub(crate) fn list(&self) -> String {
        join(&self.names())
    }

    fn names(&self) -> Vec<&'static str> {
        self.keywords.iter().map(|k| k.name).collect()
    }

    /// The message for an unknown option: a hint when there is one, and the valid options.
    fn unknown(&self, name: &str) -> String {
        let hint = match self.hints.iter().find(|(words, _)| words.contains(&name)) {
            Some((_, hint)) => Some(hint.to_string()),
            None => closest(name, &self.names()).map(|c| format!("did you mean `{c}`?")),
        };
        match hint {
            Some(h) => format!("unknown option `{name}`: {h} (the options are {})", self.list()),
            None => format!("unknown option `{name}`, expected one of {}", self.list()),
        }
    }
}

/// Parses options up to the end of `input`, calling `each` with every known keyword (its form
/// already checked: after `=` for a value, at `(` for a list).
pub(crate) fn parse_options<K: Copy>(
    input: ParseStream<'_>,
    options: &Options<K>,
    errors: &mut Errors,
    mut each: impl FnMut(K, &Ident, ParseStream<'_>, &mut Errors) -> syn::Result<()>,
) -> syn::Result<()> {
    let mut seen: Vec<&'static str> = Vec::new();
    while !input.is_empty() {
        let key = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(e.span(), format!("expected an option, one of {}", options.list()))
        })?;
        let name = unraw(&key);
        match options.find(&name) {
            None => {
                errors.error(key.span(), options.unknown(&name));
                skip_option(input)?;
            }
            Some(keyword) => {
                if seen.contains(&keyword.name) {
                    errors.error(
                        key.span(),
                        format!("duplicate option `{name}`: each option may be given once"),
                    );
                }
                seen.push(keyword.name);
                match keyword.takes {
                    Takes::Flag(note) => {
                        each(keyword.key, &key, input, errors)?;
                        flag_value(input, &name, note, errors)?;
                    }
                    Takes::Value(example) => {
                        if !input.peek(Token![=]) {
                            return Err(syn::Error::new(
                                key.span(),
                                format!("`{name}` needs a value: {example}"),
                            ));
                        }
                        input.parse::<Token![=]>()?;
                        each(keyword.key, &key, input, errors)?;
                    }
                    Takes::List { holds, example } => {
                        if !input.peek(syn::token::Paren) {
                            return Err(syn::Error::new(
                                key.span(),
                                format!("`{name}` takes {holds} in parentheses: `{example}`"),
                            ));
                        }
                        each(keyword.key, &key, input, errors)?;
                    }
                    Takes::FlagOrValue => each(keyword.key, &key, input, errors)?,
                }
            }
        }
        if input.is_empty() {
            break;
        }
        if !input.peek(Token![,]) {
            return Err(syn::Error::new(input.span(), "expected `,`: options are separated by commas"));
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// A flag (`ret`, `root`) given a value (`= ...` or `(...)`): one error on the value, then skip to
/// the next option. Anything else is left to the "expected `,`" check.
pub(crate) fn flag_value(
    input: ParseStream<'_>,
    name: &str,
    note: Option<&str>,
    errors: &mut Errors,
) -> syn::Result<()> {
    if !input.peek(Token![=]) && !input.peek(syn::token::Paren) {
        return Ok(());
    }
    let message = match note {
        Some(note) => format!("`{name}` takes no arguments: {note}"),
        None => format!("`{name}` is a flag and takes no value; write `{name}`"),
    };
    errors.error(input.span(), message);
    skip_option(input)
}

/// Skips the rest of an option (up to the next `,`), so one mistake gives one error.
pub(crate) fn skip_option(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// A name as the user means it: `r#type` is `type`.
pub(crate) fn unraw(i: &Ident) -> String {
    let s = i.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

/// A string literal value, or an error on what is there instead (and the rest of the option is
/// skipped).
pub(crate) fn string_value(
    input: ParseStream<'_>,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    if input.peek(LitStr) {
        return Ok(Some(input.parse()?));
    }
    let shown = if input.is_empty() || input.peek(Token![,]) {
        String::new()
    } else {
        let t: TokenTree = input.fork().parse()?;
        format!(", not `{t}`")
    };
    errors.error(input.span(), format!("`{key}` takes a string{shown}: `{key} = \"{example}\"`"));
    skip_option(input)?;
    Ok(None)
}

/// `["a", "b"]` after `key =`: every string literal goes to `each`; a single string, or an item
/// that is not a string (quoted back as the whole item, up to its comma), is one error each, and
/// the rest of the list is still read. `what` names an item (`channel name`), `example` a list.
/// Returns the brackets' span, when there was a list.
pub(crate) fn parse_str_list(
    input: ParseStream<'_>,
    key: &str,
    what: &str,
    example: &str,
    errors: &mut Errors,
    mut each: impl FnMut(LitStr, &mut Errors),
) -> syn::Result<Option<Span>> {
    use quote::ToTokens;
    if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        errors.error(
            l.span(),
            format!("`{key}` takes a list of {what}s: write `{key} = [{}]`", l.to_token_stream()),
        );
        return Ok(None);
    }
    if !input.peek(syn::token::Bracket) {
        errors.error(input.span(), format!("`{key}` takes a list of {what}s, like `{key} = {example}`"));
        skip_option(input)?;
        return Ok(None);
    }
    let content;
    let brackets = syn::bracketed!(content in input);
    while !content.is_empty() {
        if content.peek(LitStr) {
            each(content.parse()?, errors);
        } else {
            let mut tokens = TokenStream::new();
            while !content.is_empty() && !content.peek(Token![,]) {
                tokens.extend([content.parse::<TokenTree>()?]);
            }
            let text: String = tokens.to_string().split_whitespace().collect();
            errors.spanned(&tokens, format!("{} is a string: write `\"{text}\"`", article(what)));
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(Some(brackets.span.join()))
}

/// `a channel name`, `an ignore pattern`.
fn article(what: &str) -> String {
    let vowel = what.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {what}", if vowel { "an" } else { "a" })
}

/// What `crate = path` says: how generated code names telemark, `::telemark` by default.
const CRATE_EXAMPLE: &str =
    "`crate = my_telemark` (the path telemark is reachable at, when it is renamed or \
     re-exported)";

/// The entry of `crate` in a macro's keyword table.
pub(crate) const fn crate_keyword<K>(key: K) -> Keyword<K> {
    Keyword { key, name: "crate", takes: Takes::Value(CRATE_EXAMPLE) }
}

/// `crate = path`: the path of a crate that re-exports telemark (`my_telemark`, `::my_app::tm`,
/// `crate::telemark`), without quotes or generic arguments. Anything else is reported, and
/// skipped.
pub(crate) fn crate_path(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<syn::Path>> {
    if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        errors.error(
            l.span(),
            format!("`crate` takes a path, written without quotes: `crate = {}`", l.value()),
        );
        return Ok(None);
    }
    let fork = input.fork();
    if let Ok(path) = fork.call(syn::Path::parse_mod_style) {
        if fork.is_empty() || fork.peek(Token![,]) {
            input.advance_to(&fork);
            return Ok(Some(path));
        }
    }
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        tokens.extend([input.parse::<TokenTree>()?]);
    }
    if tokens.is_empty() {
        errors.error(input.span(), "`crate` needs a path after `=`: `crate = my_telemark`");
    } else {
        let shown: String = tokens.to_string().split_whitespace().collect();
        errors.spanned(
            &tokens,
            format!("`crate` takes a path like `my_telemark` or `::my_app::telemark`, not `{shown}`"),
        );
    }
    Ok(None)
}

/// Where generated code finds telemark's `__private` module: `<crate = path>::__private`, else
/// `::telemark::__private`. Generated code names nothing else but `::core` and `::std`.
pub(crate) fn private(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => quote::quote!(#path::__private),
        None => quote::quote!(::telemark::__private),
    }
}

/// [`private`], for a call rustc should report at `span` (the user's expression it takes): the
/// default path is spanned there, a `crate = path` is only shown there (it resolves where the
/// user wrote it).
pub(crate) fn private_at(krate: Option<&syn::Path>, span: Span) -> TokenStream {
    match krate {
        Some(path) => located_at(quote::quote!(#path::__private), span),
        None => quote::quote_spanned!(span=> ::telemark::__private),
    }
}

/// `tokens`, shown at `span` but resolved as they were.
fn located_at(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => {
                let mut group = proc_macro2::Group::new(g.delimiter(), located_at(g.stream(), span));
                group.set_span(g.span().located_at(span));
                TokenTree::Group(group)
            }
            mut t => {
                t.set_span(t.span().located_at(span));
                t
            }
        })
        .collect()
}

/// The severity of a span or of a log record (`level = ".."` of `#[traced]` and
/// `#[capture_exceptions]`); the runtime's `Level`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// Every level, as written, least severe first.
    pub(crate) const NAMES: &'static [&'static str] = &["trace", "debug", "info", "warn", "error"];

    /// `trace`, .., `error`.
    pub(crate) fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            _ => return None,
        })
    }
}

/// The runtime's value of a level, for generated code.
pub(crate) fn level_tokens(level: Level, p: &TokenStream) -> TokenStream {
    let variant = match level {
        Level::Trace => "Trace",
        Level::Debug => "Debug",
        Level::Info => "Info",
        Level::Warn => "Warn",
        Level::Error => "Error",
    };
    let variant = Ident::new(variant, Span::call_site());
    quote::quote!(#p::Level::#variant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse::Parser;

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Opt {
        Name,
        Ret,
        Skip,
    }

    const OPTIONS: Options<Opt> = Options {
        keywords: &[
            Keyword { key: Opt::Name, name: "name", takes: Takes::Value("`name = \"x\"`") },
            Keyword { key: Opt::Ret, name: "ret", takes: Takes::Flag(None) },
            Keyword {
                key: Opt::Skip,
                name: "skip",
                takes: Takes::List { holds: "names", example: "skip(a)" },
            },
        ],
        hints: &[(&["span_name"], "did you mean `name = \"...\"`?")],
    };

    /// The keywords seen and every message, in order.
    fn parse(tokens: TokenStream) -> (Vec<Opt>, Vec<String>) {
        let mut seen = Vec::new();
        let mut errors = Errors::new();
        let result = (|input: ParseStream<'_>| {
            parse_options(input, &OPTIONS, &mut errors, |key, _, input, _| {
                seen.push(key);
                match key {
                    Opt::Ret => Ok(()),
                    Opt::Name | Opt::Skip => skip_option(input),
                }
            })
        })
        .parse2(tokens);
        errors.add(result);
        let messages = match errors.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (seen, messages)
    }

    #[test]
    fn every_form_in_any_order() {
        let (seen, messages) = parse(quote!(skip(a, b), ret, name = "x",));
        assert_eq!(seen, [Opt::Skip, Opt::Ret, Opt::Name]);
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(parse(quote!(r#ret)).0, [Opt::Ret]);
    }

    #[test]
    fn unknown_options_get_a_hint_or_the_closest_and_the_list() {
        let (_, messages) = parse(quote!(nme = "x", span_name = "y", zzzzzz));
        assert_eq!(
            messages,
            [
                "unknown option `nme`: did you mean `name`? (the options are `name`, `ret`, `skip`)",
                "unknown option `span_name`: did you mean `name = \"...\"`? (the options are `name`, `ret`, `skip`)",
                "unknown option `zzzzzz`, expected one of `name`, `ret`, `skip`",
            ]
        );
    }

    #[test]
    fn a_duplicate_is_reported_once_on_the_second() {
        let (seen, messages) = parse(quote!(ret, name = "a", ret));
        assert_eq!(seen, [Opt::Ret, Opt::Name, Opt::Ret]);
        assert_eq!(messages, ["duplicate option `ret`: each option may be given once"]);
    }

    #[test]
    fn forms_are_checked_before_the_handler() {
        assert_eq!(parse(quote!(name)).1, ["`name` needs a value: `name = \"x\"`"]);
        assert_eq!(parse(quote!(skip = a)).1, ["`skip` takes names in parentheses: `skip(a)`"]);
        assert_eq!(
            parse(quote!(ret = true, name = "x")).1,
            ["`ret` is a flag and takes no value; write `ret`"]
        );
        assert_eq!(parse(quote!(ret name = "x")).1, ["expected `,`: options are separated by commas"]);
        assert_eq!(parse(quote!("x")).1, ["expected an option, one of `name`, `ret`, `skip`"]);
    }
}
