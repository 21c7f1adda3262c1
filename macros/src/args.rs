//! Parsing and checking `#[traced(...)]` arguments.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token};

/// The options `#[traced]` accepts, for error messages.
pub(crate) const OPTIONS: &str =
    "`name`, `level`, `kind`, `skip`, `skip_all`, `fields`, `ret`, `err`, `parent`, `root`, `sample`";

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];
const KINDS: &[&str] = &["internal", "server", "client", "producer", "consumer"];

/// One `key = expr` of `fields(...)`.
pub(crate) struct Field {
    pub key: String,
    pub key_span: Span,
    pub value: Expr,
}

/// The checked model of `#[traced(...)]`.
#[derive(Default)]
pub(crate) struct TracedArgs {
    pub name: Option<LitStr>,
    pub level: Option<(String, Span)>,
    pub kind: Option<(String, Span)>,
    pub skip: Vec<Ident>,
    pub skip_span: Option<Span>,
    pub skip_all: Option<Span>,
    pub fields: Vec<Field>,
    pub ret: Option<Span>,
    pub err: Option<(bool, Span)>,
    pub parent: Option<(Expr, Span)>,
    pub root: Option<Span>,
    pub sample: Option<(f64, Span)>,
    /// Set by `protocol::Marker::MetricsOnly`, not by an option.
    pub metrics_only: bool,
}

pub(crate) struct Errors(pub(crate) Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

pub(crate) fn join(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// A dotted key: `a`, `a.b.c`, or a string literal.
fn parse_key(input: ParseStream<'_>) -> syn::Result<(String, Span)> {
    if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        if l.value().is_empty() {
            return Err(syn::Error::new(l.span(), "a field key cannot be empty: `fields(user.id = id)`"));
        }
        return Ok((l.value(), l.span()));
    }
    let first = Ident::parse_any_ident(input)?;
    let mut key = unraw(&first);
    let mut span = first.span();
    while input.peek(Token![.]) {
        input.parse::<Token![.]>()?;
        let next = Ident::parse_any_ident(input)?;
        key.push('.');
        key.push_str(&unraw(&next));
        span = span.join(next.span()).unwrap_or(span);
    }
    Ok((key, span))
}

trait ParseAnyIdent {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident>;
}
impl ParseAnyIdent for Ident {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}

pub(crate) fn unraw(i: &Ident) -> String {
    let s = i.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

/// Parses `#[traced(...)]` into the model and collects every error. A syntax error stops the
/// parse but keeps what was parsed before it, so `check` still runs and the user sees every
/// mistake at once.
pub(crate) fn parse(args: TokenStream) -> (TracedArgs, Option<syn::Error>) {
    let mut a = TracedArgs::default();
    let mut errors = Errors(None);
    let parser = |input: ParseStream<'_>| parse_options(input, &mut a, &mut errors);
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    cross_checks(&a, &mut errors);
    (a, errors.0)
}

/// The `=` after an option that needs a value, or an error on the option that shows the form.
pub(crate) fn expect_eq(input: ParseStream<'_>, key: &Ident, example: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        return Ok(());
    }
    Err(syn::Error::new(key.span(), format!("`{key}` needs a value: {example}")))
}

/// A flag (`ret`, `root`, `skip_all`, `err`) given a value (`= ...` or `(...)`): one error on
/// the value, then skip to the next option. Anything else is left to the "expected `,`" check.
fn reject_value(input: ParseStream<'_>, k: &str, errors: &mut Errors) -> syn::Result<()> {
    if !input.peek(Token![=]) && !input.peek(syn::token::Paren) {
        return Ok(());
    }
    let msg = match k {
        "ret" => {
            "`ret` takes no arguments: the return value is recorded by `Display`, else `Debug`; write `ret`"
                .to_string()
        }
        "err" => "`err` takes no arguments: an `Err` is recorded by `Display`, else `Debug`; write `err` \
                  (or `err = false` to leave errors out)"
            .to_string(),
        _ => format!("`{k}` is a flag and takes no value; write `{k}`"),
    };
    errors.push(syn::Error::new(input.span(), msg));
    skip_option(input)
}

/// Skips the rest of an option (up to the next `,`), so one mistake gives one error.
pub(crate) fn skip_option(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

pub(crate) use telemark_grammar::grammar::closest;

const OPTION_NAMES: &[&str] =
    &["name", "level", "kind", "skip", "skip_all", "fields", "ret", "err", "parent", "root", "sample"];

fn unknown_option(k: &str) -> String {
    let hint = match k {
        "target" => Some("the target is always the module path; remove `target`".to_string()),
        "follows_from" => Some("links are not supported".to_string()),
        "skip_args" => Some("did you mean `skip_all`?".to_string()),
        "parent_span" => Some("did you mean `parent = ...`?".to_string()),
        "span_name" => Some("did you mean `name = \"...\"`?".to_string()),
        "sampling" | "sample_rate" | "sampler" | "ratio" | "rate" => {
            Some("did you mean `sample = 0.1`?".to_string())
        }
        _ => closest(k, OPTION_NAMES).map(|c| format!("did you mean `{c}`?")),
    };
    match hint {
        Some(h) => format!("unknown option `{k}`: {h} (the options are {OPTIONS})"),
        None => format!("unknown option `{k}`, expected one of {OPTIONS}"),
    }
}

fn parse_options(input: ParseStream<'_>, a: &mut TracedArgs, errors: &mut Errors) -> syn::Result<()> {
    use syn::ext::IdentExt;
    let mut seen: Vec<String> = Vec::new();
    while !input.is_empty() {
        let (key, k) = option_key(input, &mut seen, OPTIONS, errors)?;
        match k.as_str() {
            "name" => {
                expect_eq(input, &key, "`name = \"load_user\"`")?;
                if input.peek(LitStr) {
                    let lit: LitStr = input.parse()?;
                    if lit.value().trim().is_empty() {
                        errors.push(syn::Error::new(
                            lit.span(),
                            "the span name cannot be empty; leave `name` out to use the function's name",
                        ));
                    }
                    a.name = Some(lit);
                } else if input.peek(Ident::peek_any) {
                    let i = Ident::parse_any(input)?;
                    errors.push(syn::Error::new(
                        i.span(),
                        format!("expected a string literal: `name = \"{}\"`", unraw(&i)),
                    ));
                } else {
                    return Err(syn::Error::new(
                        input.span(),
                        "expected a string literal: `name = \"load_user\"`",
                    ));
                }
            }
            "level" | "kind" => {
                let valid = if k == "level" { LEVELS } else { KINDS };
                let example = if k == "level" { "level = \"debug\"" } else { "kind = \"server\"" };
                expect_eq(input, &key, &format!("`{example}`"))?;
                let (value, span) = if input.peek(LitStr) {
                    let l: LitStr = input.parse()?;
                    (l.value(), l.span())
                } else {
                    let i = Ident::parse_any(input).map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            format!("expected one of {} as a string: `{example}`", join(valid)),
                        )
                    })?;
                    (i.to_string(), i.span())
                };
                let v = value.to_ascii_lowercase();
                if !valid.contains(&v.as_str()) {
                    let hint = match closest(&v, valid) {
                        Some(c) => format!("; did you mean `{c}`?"),
                        None => String::new(),
                    };
                    errors.push(syn::Error::new(
                        span,
                        format!("unknown {k} `{value}`, expected one of {}{hint}", join(valid)),
                    ));
                }
                if k == "level" {
                    a.level = Some((v, span));
                } else {
                    a.kind = Some((v, span));
                }
            }
            "skip" => {
                if !input.peek(syn::token::Paren) {
                    return Err(syn::Error::new(
                        key.span(),
                        "`skip` takes the names of arguments in parentheses: `skip(password, body)`",
                    ));
                }
                let content;
                syn::parenthesized!(content in input);
                let names: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(Ident::parse_any, Token![,])?;
                a.skip_span = Some(key.span());
                a.skip.extend(names);
            }
            "skip_all" => {
                a.skip_all = Some(key.span());
                reject_value(input, &k, errors)?;
            }
            "fields" => {
                if !input.peek(syn::token::Paren) {
                    return Err(syn::Error::new(
                        key.span(),
                        "`fields` takes `key = value` pairs in parentheses: `fields(user.id = id)`",
                    ));
                }
                let content;
                syn::parenthesized!(content in input);
                while !content.is_empty() {
                    let (key, key_span) = parse_key(&content)?;
                    if !content.peek(Token![=]) {
                        return Err(syn::Error::new(
                            key_span,
                            format!(
                                "field `{key}` needs a value: `fields({key} = ...)` (fields are recorded when the span starts)"
                            ),
                        ));
                    }
                    content.parse::<Token![=]>()?;
                    let value: Expr = content.parse()?;
                    if a.fields.iter().any(|f| f.key == key) {
                        errors.push(syn::Error::new(
                            key_span,
                            format!("duplicate field `{key}`: each field key may be given once"),
                        ));
                    }
                    a.fields.push(Field { key, key_span, value });
                    if content.is_empty() {
                        break;
                    }
                    content.parse::<Token![,]>()?;
                }
            }
            "ret" => {
                a.ret = Some(key.span());
                reject_value(input, &k, errors)?;
            }
            "err" => {
                let value = if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    match input.parse::<syn::LitBool>() {
                        Ok(b) => b.value,
                        Err(e) => {
                            errors.push(syn::Error::new(
                                e.span(),
                                "expected `true` or `false`: `err = false` leaves errors out",
                            ));
                            skip_option(input)?;
                            true
                        }
                    }
                } else {
                    reject_value(input, &k, errors)?;
                    true
                };
                a.err = Some((value, key.span()));
            }
            "parent" => {
                expect_eq(
                    input,
                    &key,
                    "`parent = ctx` with a `telemark::SpanContext` or an `Option<SpanContext>` \
                     (`root` starts a new trace instead)",
                )?;
                let e: Expr = input.parse()?;
                a.parent = Some((e, key.span()));
            }
            "root" => {
                a.root = Some(key.span());
                reject_value(input, &k, errors)?;
            }
            "sample" => {
                expect_eq(input, &key, "`sample = 0.1`")?;
                let lit: syn::Lit = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected a number between 0 and 1: `sample = 0.1`; the ratio is checked at \
                         compile time, so it must be a literal",
                    )
                })?;
                let v = match &lit {
                    syn::Lit::Float(f) => f.base10_parse::<f64>().ok(),
                    syn::Lit::Int(i) => i.base10_parse::<i64>().ok().map(|v| v as f64),
                    _ => None,
                };
                match v {
                    Some(v) if (0.0..=1.0).contains(&v) => a.sample = Some((v, lit.span())),
                    Some(v) => errors.push(syn::Error::new(
                        lit.span(),
                        format!("`sample` is a ratio between 0 and 1 (`sample = 0.1` keeps 10%), got {v}"),
                    )),
                    None => errors.push(syn::Error::new(
                        lit.span(),
                        "expected a number between 0 and 1: `sample = 0.1`",
                    )),
                }
            }
            _ => {
                errors.push(syn::Error::new(key.span(), unknown_option(&k)));
                skip_option(input)?;
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

/// Rules between options.
fn cross_checks(a: &TracedArgs, errors: &mut Errors) {
    if let (Some(all), Some(_)) = (a.skip_all, a.skip_span) {
        errors.push(syn::Error::new(
            all,
            "`skip_all` already skips every argument; remove `skip(...)` or `skip_all`",
        ));
    }
    if let (Some(root), Some(_)) = (a.root, &a.parent) {
        errors.push(syn::Error::new(
            root,
            "`root` starts a new trace, so it cannot be used with `parent = ...`; choose one",
        ));
    }
}

/// Checks that need the function too; all errors together.
pub(crate) fn check(
    args: &TracedArgs,
    f: &syn::ItemFn,
    ret_is_unit: bool,
    ret_is_impl: bool,
) -> syn::Result<()> {
    let mut errors = Errors(None);
    if let Some(c) = &f.sig.constness {
        errors.push(syn::Error::new(
            c.span(),
            "`#[traced]` cannot instrument a `const fn`: spans run at run time; remove `const` or `#[traced]`",
        ));
    }
    let names = crate::traced::arg_names(&f.sig);
    for s in &args.skip {
        let name = unraw(s);
        if name == "self" {
            errors.push(syn::Error::new(
                s.span(),
                "`self` is never recorded, so there is nothing to skip; remove `self` from `skip(...)`",
            ));
            continue;
        }
        // An argument under a false `#[cfg]` may be skipped: whether it exists depends on the
        // configuration, and skipping it is right in every one.
        if !names.iter().any(|arg| arg.name == name) {
            // Each name once: one can be bound twice, under exclusive `#[cfg]`s.
            let mut arg_names: Vec<&str> = Vec::new();
            for arg in &names {
                if !arg_names.contains(&arg.name.as_str()) {
                    arg_names.push(&arg.name);
                }
            }
            let list = arg_names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let msg = if list.is_empty() {
                format!(
                    "`skip({name})`: this function has no argument `{name}` (it has no arguments to skip)"
                )
            } else {
                let hint = match closest(&name, &arg_names) {
                    Some(c) => format!("; did you mean `{c}`?"),
                    None => String::new(),
                };
                format!(
                    "`skip({name})`: this function has no argument `{name}`{hint} (its arguments are {list})"
                )
            };
            errors.push(syn::Error::new(s.span(), msg));
        }
    }
    if let Some(r) = args.ret {
        if ret_is_unit {
            errors.push(syn::Error::new(
                r,
                "`ret` records the return value, but this function returns `()`; remove `ret`",
            ));
        } else if ret_is_impl && f.sig.asyncness.is_none() {
            errors.push(syn::Error::new(
                r,
                "`ret` cannot record an `impl Trait` return value of a sync function; return a concrete type or remove `ret`",
            ));
        }
    }
    if let Some((true, span)) = args.err {
        if ret_is_unit {
            errors.push(syn::Error::new(
                span,
                "`err` records an `Err` return value, but this function returns `()`; remove `err`",
            ));
        } else if ret_is_impl && f.sig.asyncness.is_none() {
            errors.push(syn::Error::new(
                span,
                "`err` needs a nameable return type such as `Result<T, E>`, not `impl Trait`",
            ));
        }
    }
    for field in &args.fields {
        // Whatever the argument's `#[cfg]`: a field that would clash in one configuration is an
        // error in all of them.
        if names.iter().any(|arg| arg.name == field.key)
            && args.skip_all.is_none()
            && !args.skip.iter().any(|s| unraw(s) == field.key)
        {
            errors.push(syn::Error::new(
                field.key_span,
                format!("field `{}` is already recorded from the argument of that name; rename the field or `skip({})`", field.key, field.key),
            ));
        }
    }
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `[\"a\", \"b\"]` after `key =`: every string literal goes to `each`; a single string, or an item
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
        errors.push(syn::Error::new(
            l.span(),
            format!("`{key}` takes a list of {what}s: write `{key} = [{}]`", l.to_token_stream()),
        ));
        return Ok(None);
    }
    if !input.peek(syn::token::Bracket) {
        errors.push(syn::Error::new(
            input.span(),
            format!("`{key}` takes a list of {what}s, like `{key} = {example}`"),
        ));
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
                tokens.extend([content.parse::<proc_macro2::TokenTree>()?]);
            }
            let text: String = tokens.to_string().split_whitespace().collect();
            errors.push(syn::Error::new_spanned(
                &tokens,
                format!("{} is a string: write `\"{text}\"`", article(what)),
            ));
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

/// The next option's key, after reporting it if it was already given (`options` lists them all,
/// for the error when there is no key).
pub(crate) fn option_key(
    input: ParseStream<'_>,
    seen: &mut Vec<String>,
    options: &str,
    errors: &mut Errors,
) -> syn::Result<(Ident, String)> {
    use syn::ext::IdentExt;
    let key = Ident::parse_any(input)
        .map_err(|e| syn::Error::new(e.span(), format!("expected an option, one of {options}")))?;
    let k = unraw(&key);
    if seen.contains(&k) {
        errors.push(syn::Error::new(
            key.span(),
            format!("duplicate option `{k}`: each option may be given once"),
        ));
    }
    seen.push(k.clone());
    Ok((key, k))
}
