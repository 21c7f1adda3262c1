//! Parsing and checking `#[traced(...)]` arguments.

use crate::errors::Errors;
use crate::options::{
    crate_keyword, crate_path, parse_options, skip_option, unraw, Keyword, Level, Options, Takes,
};
use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token};
use telemark_grammar::grammar::{closest, join};

/// The options of `#[traced]`.
#[derive(Clone, Copy)]
enum Opt {
    Name,
    Level,
    Kind,
    Skip,
    SkipAll,
    Fields,
    Ret,
    Err,
    Parent,
    Root,
    Sample,
    Crate,
}

const OPTIONS: Options<Opt> = Options {
    keywords: &[
        Keyword { key: Opt::Name, name: "name", takes: Takes::Value("`name = \"load_user\"`") },
        Keyword { key: Opt::Level, name: "level", takes: Takes::Value("`level = \"debug\"`") },
        Keyword { key: Opt::Kind, name: "kind", takes: Takes::Value("`kind = \"server\"`") },
        Keyword {
            key: Opt::Skip,
            name: "skip",
            takes: Takes::List { holds: "the names of arguments", example: "skip(password, body)" },
        },
        Keyword { key: Opt::SkipAll, name: "skip_all", takes: Takes::Flag(None) },
        Keyword {
            key: Opt::Fields,
            name: "fields",
            takes: Takes::List { holds: "`key = value` pairs", example: "fields(user.id = id)" },
        },
        Keyword {
            key: Opt::Ret,
            name: "ret",
            takes: Takes::Flag(Some("the return value is recorded by `Display`, else `Debug`; write `ret`")),
        },
        Keyword { key: Opt::Err, name: "err", takes: Takes::FlagOrValue },
        Keyword {
            key: Opt::Parent,
            name: "parent",
            takes: Takes::Value(
                "`parent = ctx` with a `telemark::SpanContext` or an `Option<SpanContext>` \
                 (`root` starts a new trace instead)",
            ),
        },
        Keyword { key: Opt::Root, name: "root", takes: Takes::Flag(None) },
        Keyword { key: Opt::Sample, name: "sample", takes: Takes::Value("`sample = 0.1`") },
        crate_keyword(Opt::Crate),
    ],
    hints: &[
        (&["target"], "the target is always the module path; remove `target`"),
        (&["follows_from"], "links are not supported"),
        (&["skip_args"], "did you mean `skip_all`?"),
        (&["parent_span"], "did you mean `parent = ...`?"),
        (&["span_name"], "did you mean `name = \"...\"`?"),
        (&["sampling", "sample_rate", "sampler", "ratio", "rate"], "did you mean `sample = 0.1`?"),
    ],
};

/// What `err` says when it is given arguments.
const ERR_NOTE: &str =
    "an `Err` is recorded by `Display`, else `Debug`; write `err` (or `err = false` to leave errors out)";

/// The OpenTelemetry span kind (`kind = ".."`); the runtime's `SpanKind`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    const NAMES: &'static [&'static str] = &["internal", "server", "client", "producer", "consumer"];

    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "internal" => Kind::Internal,
            "server" => Kind::Server,
            "client" => Kind::Client,
            "producer" => Kind::Producer,
            "consumer" => Kind::Consumer,
            _ => return None,
        })
    }
}

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
    pub level: Option<Level>,
    pub kind: Option<Kind>,
    pub skip: Vec<Ident>,
    pub skip_span: Option<Span>,
    pub skip_all: Option<Span>,
    pub fields: Vec<Field>,
    pub ret: Option<Span>,
    pub err: Option<(bool, Span)>,
    pub parent: Option<(Expr, Span)>,
    pub root: Option<Span>,
    pub sample: Option<(f64, Span)>,
    /// `crate = path`: where generated code finds telemark.
    pub krate: Option<syn::Path>,
    /// Set by `protocol::Marker::MetricsOnly`, not by an option.
    pub metrics_only: bool,
}

/// A dotted key: `a`, `a.b.c`, or a string literal.
fn parse_key(input: ParseStream<'_>) -> syn::Result<(String, Span)> {
    use syn::ext::IdentExt;
    if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        if l.value().is_empty() {
            return Err(syn::Error::new(l.span(), "a field key cannot be empty: `fields(user.id = id)`"));
        }
        return Ok((l.value(), l.span()));
    }
    let first = Ident::parse_any(input)?;
    let mut key = unraw(&first);
    let mut span = first.span();
    while input.peek(Token![.]) {
        input.parse::<Token![.]>()?;
        let next = Ident::parse_any(input)?;
        key.push('.');
        key.push_str(&unraw(&next));
        span = span.join(next.span()).unwrap_or(span);
    }
    Ok((key, span))
}

/// Parses `#[traced(...)]` into the model, and every mistake into `errors`. A syntax error stops
/// the parse but keeps what was parsed before it, so the cross-checks still run and the user sees
/// every mistake at once.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> TracedArgs {
    let mut a = TracedArgs::default();
    let parser = |input: ParseStream<'_>| {
        parse_options(input, &OPTIONS, errors, |opt, key, input, errors| {
            option(opt, key, input, &mut a, errors)
        })
    };
    let result = parser.parse2(args);
    errors.add(result);
    cross_checks(&a, errors);
    a
}

/// Reads one option's value into the model (its form is checked by `parse_options`).
fn option(
    opt: Opt,
    key: &Ident,
    input: ParseStream<'_>,
    a: &mut TracedArgs,
    errors: &mut Errors,
) -> syn::Result<()> {
    use syn::ext::IdentExt;
    match opt {
        Opt::Name => {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                if lit.value().trim().is_empty() {
                    errors.error(
                        lit.span(),
                        "the span name cannot be empty; leave `name` out to use the function's name",
                    );
                }
                a.name = Some(lit);
            } else if input.peek(Ident::peek_any) {
                let i = Ident::parse_any(input)?;
                errors.error(i.span(), format!("expected a string literal: `name = \"{}\"`", unraw(&i)));
            } else {
                return Err(syn::Error::new(
                    input.span(),
                    "expected a string literal: `name = \"load_user\"`",
                ));
            }
        }
        Opt::Level => {
            let v = choice(input, "level", Level::NAMES, "level = \"debug\"", errors)?;
            a.level = v.as_deref().and_then(Level::parse);
        }
        Opt::Kind => {
            let v = choice(input, "kind", Kind::NAMES, "kind = \"server\"", errors)?;
            a.kind = v.as_deref().and_then(Kind::parse);
        }
        Opt::Skip => {
            let content;
            syn::parenthesized!(content in input);
            let names: Punctuated<Ident, Token![,]> =
                content.parse_terminated(Ident::parse_any, Token![,])?;
            a.skip_span = Some(key.span());
            a.skip.extend(names);
        }
        Opt::SkipAll => a.skip_all = Some(key.span()),
        Opt::Fields => {
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
                    errors.error(
                        key_span,
                        format!("duplicate field `{key}`: each field key may be given once"),
                    );
                }
                a.fields.push(Field { key, key_span, value });
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
        }
        Opt::Ret => a.ret = Some(key.span()),
        Opt::Err => {
            let value = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                match input.parse::<syn::LitBool>() {
                    Ok(b) => b.value,
                    Err(e) => {
                        errors.error(e.span(), "expected `true` or `false`: `err = false` leaves errors out");
                        skip_option(input)?;
                        true
                    }
                }
            } else {
                crate::options::flag_value(input, "err", Some(ERR_NOTE), errors)?;
                true
            };
            a.err = Some((value, key.span()));
        }
        Opt::Parent => {
            let e: Expr = input.parse()?;
            a.parent = Some((e, key.span()));
        }
        Opt::Root => a.root = Some(key.span()),
        Opt::Crate => a.krate = crate_path(input, errors)?,
        Opt::Sample => {
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
                Some(v) => errors.error(
                    lit.span(),
                    format!("`sample` is a ratio between 0 and 1 (`sample = 0.1` keeps 10%), got {v}"),
                ),
                None => errors.error(lit.span(), "expected a number between 0 and 1: `sample = 0.1`"),
            }
        }
    }
    Ok(())
}

/// One of `valid`, as a string (or a bare word), compared without case: the value in lower case,
/// or `None` after reporting it.
fn choice(
    input: ParseStream<'_>,
    what: &str,
    valid: &[&str],
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<String>> {
    use syn::ext::IdentExt;
    let (value, span) = if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        (l.value(), l.span())
    } else {
        let i = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(e.span(), format!("expected one of {} as a string: `{example}`", join(valid)))
        })?;
        (i.to_string(), i.span())
    };
    let v = value.to_ascii_lowercase();
    if valid.contains(&v.as_str()) {
        return Ok(Some(v));
    }
    let hint = match closest(&v, valid) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    };
    errors.error(span, format!("unknown {what} `{value}`, expected one of {}{hint}", join(valid)));
    Ok(None)
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

/// Checks that need the function too.
pub(crate) fn check(
    args: &TracedArgs,
    f: &syn::ItemFn,
    ret_is_unit: bool,
    ret_is_impl: bool,
    errors: &mut Errors,
) {
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
}
