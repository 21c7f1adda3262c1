//! Parsing and checking `#[traced(...)]` arguments.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
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
}

struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

fn join(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// A dotted key: `a`, `a.b.c`, or a string literal.
fn parse_key(input: ParseStream<'_>) -> syn::Result<(String, Span)> {
    if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        if l.value().is_empty() {
            return Err(syn::Error::new(l.span(), "a field key cannot be empty"));
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

impl Parse for TracedArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut a = TracedArgs::default();
        let mut errors = Errors(None);
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            use syn::ext::IdentExt;
            let key = Ident::parse_any(input)?;
            let k = key.to_string();
            if seen.contains(&k) {
                errors.push(syn::Error::new(
                    key.span(),
                    format!("duplicate option `{k}`: each option may be given once"),
                ));
            }
            seen.push(k.clone());
            match k.as_str() {
                "name" => {
                    input.parse::<Token![=]>()?;
                    let lit: LitStr = input.parse().map_err(|e| {
                        syn::Error::new(e.span(), "expected a string literal: `name = \"my_span\"`")
                    })?;
                    if lit.value().trim().is_empty() {
                        errors.push(syn::Error::new(lit.span(), "the span name cannot be empty"));
                    }
                    a.name = Some(lit);
                }
                "level" | "kind" => {
                    input.parse::<Token![=]>()?;
                    let (value, span) = if input.peek(LitStr) {
                        let l: LitStr = input.parse()?;
                        (l.value(), l.span())
                    } else {
                        let i = Ident::parse_any(input).map_err(|e| {
                            syn::Error::new(e.span(), format!("expected a string literal: `{k} = \"...\"`"))
                        })?;
                        (i.to_string(), i.span())
                    };
                    let valid = if k == "level" { LEVELS } else { KINDS };
                    let v = value.to_ascii_lowercase();
                    if !valid.contains(&v.as_str()) {
                        errors.push(syn::Error::new(
                            span,
                            format!("unknown {k} `{value}`, expected one of {}", join(valid)),
                        ));
                    }
                    if k == "level" {
                        a.level = Some((v, span));
                    } else {
                        a.kind = Some((v, span));
                    }
                }
                "skip" => {
                    let content;
                    syn::parenthesized!(content in input);
                    let names: Punctuated<Ident, Token![,]> =
                        content.parse_terminated(Ident::parse_any, Token![,])?;
                    a.skip_span = Some(key.span());
                    a.skip.extend(names);
                }
                "skip_all" => a.skip_all = Some(key.span()),
                "fields" => {
                    let content;
                    syn::parenthesized!(content in input);
                    while !content.is_empty() {
                        let (key, key_span) = parse_key(&content)?;
                        content.parse::<Token![=]>().map_err(|e| {
                            syn::Error::new(e.span(), format!("expected `= value` after field `{key}`"))
                        })?;
                        let value: Expr = content.parse()?;
                        if a.fields.iter().any(|f| f.key == key) {
                            errors.push(syn::Error::new(key_span, format!("duplicate field `{key}`")));
                        }
                        a.fields.push(Field { key, key_span, value });
                        if content.is_empty() {
                            break;
                        }
                        content.parse::<Token![,]>()?;
                    }
                }
                "ret" => a.ret = Some(key.span()),
                "err" => {
                    let value = if input.peek(Token![=]) {
                        input.parse::<Token![=]>()?;
                        let b: syn::LitBool = input.parse().map_err(|e| {
                            syn::Error::new(e.span(), "expected `true` or `false`: `err = false`")
                        })?;
                        b.value
                    } else {
                        true
                    };
                    a.err = Some((value, key.span()));
                }
                "parent" => {
                    input.parse::<Token![=]>()?;
                    let e: Expr = input.parse()?;
                    a.parent = Some((e, key.span()));
                }
                "root" => a.root = Some(key.span()),
                "sample" => {
                    input.parse::<Token![=]>()?;
                    let lit: syn::Lit = input.parse()?;
                    let v = match &lit {
                        syn::Lit::Float(f) => f.base10_parse::<f64>().ok(),
                        syn::Lit::Int(i) => i.base10_parse::<u64>().ok().map(|v| v as f64),
                        _ => None,
                    };
                    match v {
                        Some(v) if (0.0..=1.0).contains(&v) => a.sample = Some((v, lit.span())),
                        Some(v) => errors.push(syn::Error::new(
                            lit.span(),
                            format!(
                                "`sample` is a ratio between 0 and 1 (`sample = 0.1` keeps 10%), got {v}"
                            ),
                        )),
                        None => errors.push(syn::Error::new(
                            lit.span(),
                            "expected a number between 0 and 1: `sample = 0.1`",
                        )),
                    }
                }
                _ => {
                    let hint = match k.as_str() {
                        "target" | "parent_span" => " (use `parent = ...`)".to_string(),
                        "skip_args" => " (use `skip_all`)".to_string(),
                        "follows_from" => " (links are not supported)".to_string(),
                        _ => String::new(),
                    };
                    errors.push(syn::Error::new(
                        key.span(),
                        format!("unknown option `{k}`{hint}, expected one of {OPTIONS}"),
                    ));
                    // Skip the rest of this option so one typo gives one error.
                    while !input.is_empty() && !input.peek(Token![,]) {
                        input.parse::<proc_macro2::TokenTree>()?;
                    }
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
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
        match errors.0 {
            Some(e) => Err(e),
            None => Ok(a),
        }
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
        if !names.iter().any(|(n, _)| *n == name) {
            let list = names.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let msg = if list.is_empty() {
                format!(
                    "`skip({name})`: this function has no argument `{name}` (it has no arguments to skip)"
                )
            } else {
                format!("`skip({name})`: this function has no argument `{name}`; its arguments are {list}")
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
        if ret_is_impl && f.sig.asyncness.is_none() {
            errors.push(syn::Error::new(
                span,
                "`err` needs a nameable return type such as `Result<T, E>`, not `impl Trait`",
            ));
        }
    }
    for field in &args.fields {
        if names.iter().any(|(n, _)| *n == field.key)
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

/// `#[traced]` takes no tokens after the options.
pub(crate) fn parse(args: TokenStream) -> syn::Result<TracedArgs> {
    syn::parse2(args)
}
