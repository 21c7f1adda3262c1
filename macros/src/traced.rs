//! Expansion of `#[traced]`.
//!
//! Sync functions become a guard plus the original statements; when the return value is needed
//! (`err` on a `Result`, or `ret`) the statements run in an immediately called closure so every
//! `return` and `?` still yields the value. Async functions (and `#[async_trait]` methods) wrap
//! their body's future. Everything else happens in `<crate>::__private` (`::telemark::__private` unless
//! `crate = path` says otherwise).

use crate::args::{self, Kind, TracedArgs};
use crate::errors::Errors;
use crate::function::{async_trait_parts, exits, fake_return, parse_function, with_error, ReturnInfo};
use crate::options::{level_tokens, private, private_at, unraw, Level};
use crate::protocol::{self, take_marker, Macro, Marker};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ItemFn, Meta, MetaList, Pat, Signature, Token};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let f = match parse_function(item.clone(), Macro::Traced) {
        Ok(f) => f,
        Err(out) => return out,
    };
    try_expand(args, f).unwrap_or_else(|e| with_error(item, e))
}

fn try_expand(args: TokenStream, mut f: ItemFn) -> syn::Result<TokenStream> {
    // `#[capture_exceptions]` below this attribute: rewrite the body first, so that the capture
    // runs inside the span. The attribute goes back where it was, marked as applied, so that rustc
    // still resolves its path (see `protocol`).
    let mut capture_error = None;
    if let Some(i) = f.attrs.iter().position(|a| Macro::CaptureExceptions.is(a)) {
        let attr = f.attrs.remove(i);
        match crate::capture::rewrite(protocol::attr_args(&attr), f.clone()) {
            Ok(mut rewritten) => {
                rewritten.attrs.insert(i, protocol::applied(&attr));
                f = rewritten;
            }
            Err(e) => capture_error = Some(e),
        }
    }
    // Option errors, the capture's and the checks against the function are reported together.
    let mut errors = Errors::new();
    let (args, metrics_only) = take_marker(args, Marker::MetricsOnly);
    let mut args = args::parse(args, &mut errors);
    args.metrics_only = metrics_only;
    errors.add(capture_error.map_or(Ok(()), Err));
    let ret = ReturnInfo::of(&f);
    let before = errors.len();
    args::check(&args, &f, ret.unit, ret.has_impl, &mut errors);
    // Whether the body runs in a closure depends on options that fit the function.
    if errors.len() == before {
        check_track_caller(&args, &f, &ret, &mut errors);
    }
    errors.check()?;
    Ok(generate(&args, f, &ret))
}

/// The return value is captured by running a sync body in a closure, and closures cannot carry
/// `#[track_caller]`: say so rather than silently report the wrong caller.
fn check_track_caller(args: &TracedArgs, f: &ItemFn, ret: &ReturnInfo, errors: &mut Errors) {
    let Some(attr) = f.attrs.iter().find(|a| a.path().is_ident("track_caller")) else { return };
    let want_err = args.err.map(|e| e.0).unwrap_or(ret.is_result) && !ret.unit;
    let closure_path = f.sig.asyncness.is_none()
        && ret.async_trait_block.is_none()
        && !ret.has_impl
        && (want_err || args.ret.is_some());
    if !closure_path {
        return;
    }
    errors.error(
        attr.span(),
        "`#[track_caller]` would report this function instead of its caller: to record the return \
         value `#[traced]` runs the body in a closure, and closures cannot track the caller; add \
         `err = false` (and drop `ret`) to `#[traced]`, or remove `#[track_caller]`",
    );
}

/// A name a function binds from its arguments (not `self`).
pub(crate) struct ArgName {
    /// The name without `r#`, which is the attribute's key.
    pub(crate) name: String,
    pub(crate) ident: Ident,
    /// What decides whether the argument exists (`cfg_only`): code generated for the name carries
    /// these, so that it goes away with the argument.
    pub(crate) cfg: Vec<Attribute>,
}

/// The names a function binds from its arguments (not `self`), in order. Under `#[cfg]`s a name
/// may appear twice (`#[cfg(unix)] fd: i32, #[cfg(not(unix))] fd: u64`), at most once per
/// configuration.
pub(crate) fn arg_names(sig: &Signature) -> Vec<ArgName> {
    fn walk(p: &Pat, cfg: &[Attribute], out: &mut Vec<ArgName>) {
        match p {
            Pat::Ident(i) => {
                if i.ident != "self" {
                    out.push(ArgName { name: unraw(&i.ident), ident: i.ident.clone(), cfg: cfg.to_vec() });
                }
                if let Some((_, sub)) = &i.subpat {
                    walk(sub, cfg, out);
                }
            }
            Pat::Tuple(t) => t.elems.iter().for_each(|e| walk(e, cfg, out)),
            Pat::TupleStruct(t) => t.elems.iter().for_each(|e| walk(e, cfg, out)),
            Pat::Struct(s) => s.fields.iter().for_each(|f| walk(&f.pat, cfg, out)),
            Pat::Reference(r) => walk(&r.pat, cfg, out),
            Pat::Slice(s) => s.elems.iter().for_each(|e| walk(e, cfg, out)),
            Pat::Type(t) => walk(&t.pat, cfg, out),
            Pat::Paren(p) => walk(&p.pat, cfg, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(t) = input {
            walk(&t.pat, &cfg_only(&t.attrs), &mut out);
        }
    }
    out
}

/// The attributes of an argument that decide whether it exists: its `#[cfg]`s as written, and its
/// `#[cfg_attr]`s cut down to the `cfg`s they may expand to (dropped if there are none).
///
/// An attribute macro sees its function before `cfg`s are evaluated, so it cannot know whether
/// `#[cfg(feature = "x")] id: u64` exists; copying the conditions onto what it generates for `id`
/// lets rustc decide both at once, in the same crate and configuration. The argument's other
/// attributes are not copied: lint levels are about the argument, and an `#[expect(..)]` (even
/// under `cfg_attr`) on code that does not trip the lint would be an unfulfilled expectation.
fn cfg_only(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|a| matches!(a.style, syn::AttrStyle::Outer))
        .filter_map(|a| Some(Attribute { meta: cfg_meta(&a.meta)?, ..a.clone() }))
        .collect()
}

/// `cfg(..)` as is; `cfg_attr(pred, attrs..)` with only the `cfg`s among `attrs` (recursively), or
/// nothing. A `cfg_attr` that does not parse is left out: rustc reports it on the argument.
fn cfg_meta(meta: &Meta) -> Option<Meta> {
    if meta.path().is_ident("cfg") {
        return Some(meta.clone());
    }
    let Meta::List(list) = meta else { return None };
    if !list.path.is_ident("cfg_attr") {
        return None;
    }
    let items = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated).ok()?;
    let mut items = items.into_iter();
    let predicate = items.next()?;
    let kept: Vec<Meta> = items.filter_map(|m| cfg_meta(&m)).collect();
    if kept.is_empty() {
        return None;
    }
    Some(Meta::List(MetaList {
        path: list.path.clone(),
        delimiter: list.delimiter.clone(),
        tokens: quote!(#predicate, #(#kept),*),
    }))
}

fn generate(a: &TracedArgs, f: ItemFn, ret: &ReturnInfo) -> TokenStream {
    let p = &private(a.krate.as_ref());
    let m = Span::mixed_site();
    let span_var = Ident::new("__telemark_span", m);
    let out_var = Ident::new("__telemark_out", m);
    let rec_var = Ident::new("__telemark_rec", m);
    let o_var = Ident::new("__telemark_outcome", m);

    let ItemFn { attrs, vis, sig, block } = f;
    let fn_name = unraw(&sig.ident);
    // The arguments that become attributes (everything not skipped).
    let recorded: Vec<ArgName> = if a.skip_all.is_some() {
        Vec::new()
    } else {
        arg_names(&sig).into_iter().filter(|arg| !a.skip.iter().any(|s| unraw(s) == arg.name)).collect()
    };
    // An argument's key is under the argument's `#[cfg]`s like its recording statement, so the
    // table lists exactly the keys recorded (the runtime finds a key by name, not by position).
    let keys = recorded
        .iter()
        .map(|ArgName { name, cfg, .. }| quote!(#(#cfg)* #name))
        .chain(a.fields.iter().map(|f| f.key.to_token_stream()));
    let line = quote_spanned!(sig.ident.span()=> ::core::line!());
    // The call site: `Callsite::function` has the defaults, each option that differs is a const
    // builder call. Its name is also the mark that `#[traced]` has expanded here (see `protocol`).
    let callsite_static = Ident::new(protocol::TRACED_MARK, Span::call_site());
    let mut site = quote! {
        #p::Callsite::function(
            ::core::concat!(::core::module_path!(), "::", #fn_name), ::core::file!(), #line, &[#(#keys),*]
        )
    };
    if let Some(name) = &a.name {
        site = quote!(#site.named(#name));
    }
    if let Some(level) = a.level.filter(|l| *l != Level::Info) {
        let level = level_tokens(level, p);
        site = quote!(#site.level(#level));
    }
    if let Some(kind) = a.kind.filter(|k| *k != Kind::Internal) {
        let kind = kind_tokens(kind, p);
        site = quote!(#site.kind(#kind));
    }
    if let Some((sample, _)) = a.sample.filter(|s| s.0 != 1.0) {
        site = quote!(#site.sample(#sample));
    }
    if a.metrics_only {
        site = quote!(#site.metrics_only());
    }
    let callsite = quote!(static #callsite_static: #p::Callsite = #site;);
    let parent = match (&a.root, &a.parent) {
        (Some(_), _) => Some(quote!(#p::Parent::Root)),
        // Spanned on the expression, so a wrong type is reported on the user's tokens.
        (None, Some((e, _))) => {
            let p = private_at(a.krate.as_ref(), e.span());
            Some(quote_spanned!(e.span()=> #p::parent(&(#e))))
        }
        // The current span: `enter_current`/`start_current`, no parent to pass.
        (None, None) => None,
    };

    // Attributes from arguments and `fields(...)`, recorded only when the span is sampled.
    let mut records = Vec::new();
    // Each statement under its argument's `#[cfg]`s: gone with the argument. Values under secret
    // keys (`password`, `api_token`, …) are masked on telemark's thread (`scrub:`), with the rest.
    for ArgName { name: n, ident, cfg } in &recorded {
        records.push(quote! {
            #(#cfg)*
            (&&&&#p::spec::Arg(&#ident)).__telemark_record(#n, #rec_var);
        });
    }
    for field in &a.fields {
        let key = &field.key;
        let value = &field.value;
        records.push(quote!((&&&&#p::spec::Arg(&(#value))).__telemark_record(#key, #rec_var);));
    }
    let args_closure = if records.is_empty() {
        quote!(|_| {})
    } else {
        quote!(|#rec_var| { use #p::spec::args::*; #(#records)* })
    };

    // What the return value adds: `err` (on by default for `Result`) and `ret`.
    let want_err = match a.err {
        Some((on, _)) => on,
        None => ret.is_result,
    } && !ret.unit;
    // The return value is looked at (in a closure or after the async block) for `err`, `ret`,
    // and, once it is, for the function's metrics: an `Err` counts as a failed call.
    let looks = (want_err || a.ret.is_some()) && !ret.has_impl;
    let outcome = |end: &Ident| {
        let mut out = quote! {
            { use #p::spec::ret::*; (&&&&#p::spec::Ret(&#out_var)).__telemark_err(&mut #end, #want_err); }
        };
        if a.ret.is_some() {
            out.extend(quote! {
                #end.outcome(|#o_var| {
                    use #p::spec::args::*;
                    (&&&&#p::spec::Arg(&#out_var)).__telemark_record("return.value", #o_var.recorder());
                });
            });
        }
        out
    };
    let fake_return = fake_return(ret, a.krate.as_ref());
    // The type of the value a block yields (a body that cannot leave early), for the dispatch.
    let value_ty = match &ret.value_ty {
        Some(t) => quote!(#t),
        None => quote!(()),
    };
    // The `static` in a block of its own, so that it is not in scope in the body (which may declare
    // one of the same name).
    let (pending, guard) = match parent {
        None => (
            quote!({ #callsite #p::Pending::start_current(&#callsite_static, #args_closure) }),
            quote!({ #callsite #p::SpanGuard::enter_current(&#callsite_static, #args_closure) }),
        ),
        Some(parent) => (
            quote!({ #callsite #p::Pending::start(&#callsite_static, #parent, #args_closure) }),
            quote!({ #callsite #p::SpanGuard::enter(&#callsite_static, #parent, #args_closure) }),
        ),
    };
    // An async body inside the pending span; its value, once the outcome is recorded.
    let run_async = |span: &TokenStream, body: TokenStream| {
        if looks {
            let outcome = outcome(&span_var);
            quote! {
                let (#out_var, mut #span_var) = #span.instrument(async move { #body }).await;
                #outcome
                #out_var
            }
        } else {
            quote!(#span.run(async move { #body }).await)
        }
    };
    let stmts = &block.stmts;
    let body = if sig.asyncness.is_some() {
        run_async(&pending, quote!(#fake_return #(#stmts)*))
    } else if let Some((i, call, inner)) = ret.async_trait_block.and_then(|i| async_trait_parts(stmts, i)) {
        // `#[async_trait]`: the span starts, and the arguments are recorded, when the method is
        // called, before its future takes them.
        let before = &stmts[..i];
        let inner_stmts = &inner.block.stmts;
        let func = &call.func;
        let run = run_async(&span_var.to_token_stream(), quote!(#(#inner_stmts)*));
        let capture = &inner.capture;
        quote! {
            let #span_var = #pending;
            #(#before)*
            #func(async #capture { #run })
        }
    } else if !looks {
        quote! {
            let #span_var = #guard;
            #(#stmts)*
        }
    } else {
        let outcome = outcome(&span_var);
        // A body that cannot leave early runs in a block; one that can, in a closure.
        let value = if exits(stmts) {
            quote!(let #out_var = #p::call_once(move || { #fake_return #(#stmts)* });)
        } else {
            // Typed, so that the dispatch below sees the `Err` type.
            quote!(let #out_var: #value_ty = { #(#stmts)* };)
        };
        quote! {
            let mut #span_var = #guard;
            #value
            #outcome
            #out_var
        }
    };
    let mut out = TokenStream::new();
    // Inner attributes (`#![allow(..)]` at the top of the body) stay inside the braces.
    let (inner, outer): (Vec<_>, Vec<_>) =
        attrs.iter().partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    for attr in outer {
        attr.to_tokens(&mut out);
    }
    vis.to_tokens(&mut out);
    sig.to_tokens(&mut out);
    let brace = block.brace_token;
    brace.surround(&mut out, |t| {
        for attr in inner {
            attr.to_tokens(t);
        }
        t.extend(body)
    });
    out
}

/// The runtime's value of a span kind, for generated code.
fn kind_tokens(kind: Kind, p: &TokenStream) -> TokenStream {
    let variant = match kind {
        Kind::Internal => "Internal",
        Kind::Server => "Server",
        Kind::Client => "Client",
        Kind::Producer => "Producer",
        Kind::Consumer => "Consumer",
    };
    let variant = Ident::new(variant, Span::call_site());
    quote!(#p::SpanKind::#variant)
}
