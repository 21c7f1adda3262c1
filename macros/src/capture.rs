//! `#[capture_exceptions]`: parse and check its options, then rewrite the function's body so that
//! an `Err` it returns is captured, and a panic inside it is captured (by telemark's panic hook)
//! with its options.
//!
//! With `#[traced]` on the same function, in either order, the capture runs inside the span: when
//! `#[capture_exceptions]` expands first it leaves `#[traced]` to wrap the rewritten body; when
//! `#[traced]` expands first it takes the `#[capture_exceptions]` attribute off and rewrites the
//! body itself before wrapping it (see `protocol`).

use crate::errors::Errors;
use crate::function::{async_trait_parts, exits, fake_return, parse_function, with_error, ReturnInfo};
use crate::options::{
    crate_keyword, crate_path, level_tokens, parse_options, parse_str_list, private, skip_option, unraw,
    Keyword, Level, Options, Takes,
};
use crate::protocol::{take_marker, Macro, Marker};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Block, Expr, Ident, ItemFn, LitBool, LitStr};
use telemark_grammar::grammar::closest;

/// The options of `#[capture_exceptions]`.
#[derive(Clone, Copy)]
enum Opt {
    Ignore,
    Backtrace,
    Level,
    Fingerprint,
    Crate,
}

const OPTIONS: Options<Opt> = Options {
    keywords: &[
        Keyword {
            key: Opt::Ignore,
            name: "ignore",
            takes: Takes::Value("`ignore = [\"NotFound\", \"io::ErrorKind::WouldBlock\"]`"),
        },
        Keyword {
            key: Opt::Backtrace,
            name: "backtrace",
            takes: Takes::Value("`backtrace = true` or `backtrace = false`"),
        },
        Keyword { key: Opt::Level, name: "level", takes: Takes::Value("`level = \"warn\"`") },
        Keyword {
            key: Opt::Fingerprint,
            name: "fingerprint",
            takes: Takes::Value("`fingerprint = \"db-timeouts\"`"),
        },
        crate_keyword(Opt::Crate),
    ],
    hints: &[
        (&["ignored", "skip", "except", "exclude"], "did you mean `ignore = [..]`?"),
        (&["stacktrace", "stack_trace", "backtraces"], "did you mean `backtrace = true`?"),
        (&["severity"], "did you mean `level = \"warn\"`?"),
        (&["group", "group_by", "key"], "did you mean `fingerprint = ..`?"),
    ],
};

/// The levels an exception's log record may have.
const LEVELS: &[&str] = &["error", "warn"];

/// The checked model of `#[capture_exceptions(...)]`.
#[derive(Default)]
pub(crate) struct CaptureArgs {
    ignore: Vec<LitStr>,
    backtrace: Option<bool>,
    level: Option<Level>,
    fingerprint: Option<Expr>,
    /// `crate = path`: where generated code finds telemark.
    krate: Option<syn::Path>,
}

/// Parses the options, and every mistake into `errors`.
fn parse(args: TokenStream, errors: &mut Errors) -> CaptureArgs {
    let mut a = CaptureArgs::default();
    let parser = |input: ParseStream<'_>| {
        parse_options(input, &OPTIONS, errors, |opt, _, input, errors| option(opt, input, &mut a, errors))
    };
    let result = parser.parse2(args);
    errors.add(result);
    a
}

/// Reads one option's value into the model (after its `=`).
fn option(opt: Opt, input: ParseStream<'_>, a: &mut CaptureArgs, errors: &mut Errors) -> syn::Result<()> {
    match opt {
        Opt::Ignore => parse_ignore(input, a, errors)?,
        Opt::Backtrace => {
            if input.peek(LitBool) {
                a.backtrace = Some(input.parse::<LitBool>()?.value);
            } else {
                errors.error(input.span(), "`backtrace` takes `true` or `false` (without quotes)");
                skip_option(input)?;
            }
        }
        Opt::Level => parse_level(input, a, errors)?,
        Opt::Fingerprint => {
            let e: Expr = input.parse()?;
            if let Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &e {
                if s.value().trim().is_empty() {
                    errors.error(
                        s.span(),
                        "a fingerprint cannot be empty: give the key that groups these errors, \
                         like `fingerprint = \"db-timeouts\"`",
                    );
                }
            }
            a.fingerprint = Some(e);
        }
        Opt::Crate => a.krate = crate_path(input, errors)?,
    }
    Ok(())
}

fn parse_ignore(input: ParseStream<'_>, a: &mut CaptureArgs, errors: &mut Errors) -> syn::Result<()> {
    let example = "[\"NotFound\", \"io::ErrorKind::WouldBlock\"]";
    parse_str_list(input, "ignore", "ignore pattern", example, errors, |l, errors| {
        if let Some(why) = pattern_error(&l.value()) {
            errors.error(l.span(), format!("invalid ignore pattern: {why}"));
        }
        a.ignore.push(l);
    })?;
    Ok(())
}

/// The rules of `telemark::exceptions::pattern_error`, checked at compile time.
use telemark_grammar::ignore_pattern_error as pattern_error;

fn parse_level(input: ParseStream<'_>, a: &mut CaptureArgs, errors: &mut Errors) -> syn::Result<()> {
    let (value, span) = if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        (l.value(), l.span())
    } else if let Ok(i) = input.fork().parse::<Ident>() {
        input.parse::<Ident>()?;
        (unraw(&i), i.span())
    } else {
        errors.error(input.span(), "`level` takes `\"error\"` or `\"warn\"`");
        return skip_option(input);
    };
    let v = value.to_ascii_lowercase();
    let v = if v == "warning" { "warn".to_string() } else { v };
    match v.as_str() {
        "error" => a.level = Some(Level::Error),
        "warn" => a.level = Some(Level::Warn),
        _ => {
            let hint = match closest(&v, LEVELS) {
                Some(c) => format!("; did you mean `\"{c}\"`?"),
                None if ["trace", "debug", "info"].contains(&v.as_str()) => {
                    "; an exception is an error, or a warning for errors you expect".to_string()
                }
                None => String::new(),
            };
            errors.error(span, format!("unknown level `{value}`, expected `\"error\"` or `\"warn\"`{hint}"));
        }
    }
    Ok(())
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, applied) = take_marker(args, Marker::Applied);
    if applied {
        return item;
    }
    let f = match parse_function(item, Macro::CaptureExceptions) {
        Ok(f) => f,
        Err(out) => return out,
    };
    match rewrite(args, f.clone()) {
        Ok(f) => f.into_token_stream(),
        Err(e) => with_error(f.into_token_stream(), e),
    }
}

/// Checks the options against the function and rewrites its body.
pub(crate) fn rewrite(args: TokenStream, mut f: ItemFn) -> syn::Result<ItemFn> {
    let mut errors = Errors::new();
    let a = parse(args, &mut errors);
    let ret = ReturnInfo::of(&f);
    if let Some(twice) = f.attrs.iter().find(|x| Macro::CaptureExceptions.is(x)) {
        errors.push(syn::Error::new_spanned(
            twice,
            "`#[capture_exceptions]` is applied twice to this function; remove one",
        ));
    }
    if let Some(c) = &f.sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "`#[capture_exceptions]` cannot apply to a `const fn`: exceptions are captured at run time",
        ));
    }
    let closure =
        f.sig.asyncness.is_none() && ret.async_trait_block.is_none() && ret.is_result && !ret.has_impl;
    if closure {
        if let Some(tc) = f.attrs.iter().find(|a| a.path().is_ident("track_caller")) {
            errors.push(syn::Error::new_spanned(
                tc,
                "`#[track_caller]` would report this function instead of its caller: to see the returned \
                 `Err`, `#[capture_exceptions]` runs the body in a closure, and closures cannot track the \
                 caller; remove `#[track_caller]`",
            ));
        }
    }
    errors.check()?;
    let body = generate(&a, &f, &ret);
    let brace = f.block.brace_token;
    let mut block: Block = syn::parse2(quote!({ #body }))?;
    block.brace_token = brace;
    f.block = Box::new(block);
    Ok(f)
}

fn generate(a: &CaptureArgs, f: &ItemFn, ret: &ReturnInfo) -> TokenStream {
    let p = &private(a.krate.as_ref());
    let m = Span::mixed_site();
    let site_var = Ident::new("__telemark_site", m);
    let scope_var = Ident::new("__telemark_scope", m);
    let out_var = Ident::new("__telemark_out", m);
    let fn_name = unraw(&f.sig.ident);
    let line = quote_spanned!(f.sig.ident.span()=> ::core::line!());
    let ignore = &a.ignore;
    // The site is built in an inline `const` (not a `static`), so `fingerprint` may use `Self`
    // and the function's generic parameters. Options that differ from the defaults are const
    // builder calls.
    let mut site = quote! {
        #p::CaptureSite::function(::core::concat!(::core::module_path!(), "::", #fn_name), ::core::file!(), #line)
    };
    if !ignore.is_empty() {
        site = quote!(#site.ignore(&[#(#ignore),*]));
    }
    if let Some(b) = a.backtrace {
        site = quote!(#site.backtrace(#b));
    }
    if let Some(level) = a.level.filter(|l| *l != Level::Error) {
        let level = level_tokens(level, p);
        site = quote!(#site.level(#level));
    }
    if let Some(e) = &a.fingerprint {
        let to_string = quote_spanned!(e.span()=> ::std::string::ToString::to_string(&(#e)));
        site = quote!(#site.fingerprint(|| #to_string));
    }
    let site = quote!(let #site_var: &'static #p::CaptureSite = const { &#site };);
    let capture = quote! {
        { use #p::spec::capture::*; (&&&&&&&#p::spec::Captured(&#out_var)).__telemark_capture(#site_var); }
    };
    let fake = fake_return(ret, a.krate.as_ref());
    let stmts = &f.block.stmts;
    let wants_value = ret.is_result && !ret.has_impl;
    // The type of the value a block yields (a body that cannot leave early), for the dispatch.
    let value_ty = match &ret.value_ty {
        Some(t) => quote!(#t),
        None => quote!(()),
    };
    let async_body = |inner: TokenStream| {
        if wants_value {
            quote! {
                #site
                let #out_var = #p::CaptureScope::future(#site_var, async move { #inner }).await;
                #capture
                #out_var
            }
        } else {
            quote! {
                #site
                #p::CaptureScope::future(#site_var, async move { #inner }).await
            }
        }
    };
    if f.sig.asyncness.is_some() {
        return async_body(quote!(#fake #(#stmts)*));
    }
    if let Some((i, call, inner)) = ret.async_trait_block.and_then(|i| async_trait_parts(stmts, i)) {
        let before = &stmts[..i];
        let inner_stmts = &inner.block.stmts;
        let func = &call.func;
        let capture_kw = &inner.capture;
        let body = async_body(quote!(#fake #(#inner_stmts)*));
        return quote! {
            #(#before)*
            #func(async #capture_kw { #body })
        };
    }
    if wants_value {
        // A body that cannot leave early runs in a block; one that can, in a closure.
        let value = if exits(stmts) {
            quote!(let #out_var = #p::call_once(move || { #fake #(#stmts)* });)
        } else {
            // Typed, so that the dispatch below sees the `Err` type.
            quote!(let #out_var: #value_ty = { #(#stmts)* };)
        };
        quote! {
            #site
            let #scope_var = #p::CaptureScope::enter(#site_var);
            #value
            #capture
            ::core::mem::drop(#scope_var);
            #out_var
        }
    } else {
        quote! {
            #site
            let #scope_var = #p::CaptureScope::enter(#site_var);
            #(#stmts)*
        }
    }
}
