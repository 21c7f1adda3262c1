//! What the macros read from the function they are on, and what they emit when it is not one.
//!
//! `#[traced]` and `#[capture_exceptions]` both rewrite a body so that it yields its value into
//! their code: they read the same facts from the signature ([`ReturnInfo`]) and write the same
//! helpers around the body ([`fake_return`], [`exits`], [`async_trait_parts`]).

use crate::protocol::Macro;
use proc_macro2::TokenStream;

use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Block, Expr, ItemFn, ReturnType, Stmt, Type};

/// The function `m` is on, or what to emit instead: the item with an error saying why it cannot
/// take `m`, or the item untouched when it does not parse at all (rustc reports why).
pub(crate) fn parse_function(item: TokenStream, m: Macro) -> Result<ItemFn, TokenStream> {
    match syn::parse2(item.clone()) {
        Ok(f) => Ok(f),
        Err(_) => Err(match not_a_function(item.clone(), m.name()) {
            Ok(out) => out,
            Err(e) => with_error(item, e),
        }),
    }
}

/// The item followed by the error: keeping the item means one mistake does not cascade into
/// "cannot find function" errors where it is called.
pub(crate) fn with_error(mut item: TokenStream, e: syn::Error) -> TokenStream {
    item.extend(e.into_compile_error());
    item
}

/// Why an item that is not a function cannot take `#[name]`: an error on what it is, or `Ok` with
/// the item untouched when it is not even an item (a syntax error in a function body), so that
/// rustc reports the real mistake.
fn not_a_function(item: TokenStream, name: &str) -> syn::Result<TokenStream> {
    if let Ok(t) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        return Err(syn::Error::new(
            t.sig.ident.span(),
            format!("`#[{name}]` needs a function body; put it on the implementations of this trait method"),
        ));
    }
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(other) => {
            let (span, what) = match &other {
                syn::Item::Struct(s) => (s.struct_token.span, "a struct"),
                syn::Item::Enum(e) => (e.enum_token.span, "an enum"),
                syn::Item::Impl(i) => (i.impl_token.span, "an `impl` block; put it on each method"),
                syn::Item::Mod(m) => (m.mod_token.span, "a module"),
                syn::Item::Trait(t) => {
                    (t.trait_token.span, "a trait; put it on the methods of the trait's implementations")
                }
                syn::Item::Const(c) => (c.const_token.span, "a constant"),
                syn::Item::Static(s) => (s.static_token.span, "a static"),
                syn::Item::Type(t) => (t.type_token.span, "a type alias"),
                syn::Item::Use(u) => (u.use_token.span, "a `use` declaration"),
                _ => (other.span(), "this item"),
            };
            Err(syn::Error::new(
                span,
                format!("`#[{name}]` can only be applied to functions and methods, not to {what}"),
            ))
        }
        // Not even an item (a syntax error in a function body): hand it back untouched so that
        // rustc reports the real mistake.
        Err(_) => Ok(item),
    }
}

/// What the return type says.
pub(crate) struct ReturnInfo {
    pub(crate) unit: bool,
    pub(crate) has_impl: bool,
    pub(crate) is_result: bool,
    /// The type a value-producing closure or async block should yield, when nameable.
    pub(crate) value_ty: Option<Type>,
    /// The `Box::pin(async move { .. })` of an `#[async_trait]` method, by statement index.
    pub(crate) async_trait_block: Option<usize>,
}

struct FindImpl(bool);
impl<'ast> Visit<'ast> for FindImpl {
    fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
        self.0 = true;
    }
}

fn has_impl(t: &Type) -> bool {
    let mut v = FindImpl(false);
    v.visit_type(t);
    v.0
}

fn is_result(t: &Type) -> bool {
    match t {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        _ => false,
    }
}

/// `Pin<Box<dyn Future<Output = T> + ..>>` → `T`.
fn future_output(t: &Type) -> Option<Type> {
    fn generic_arg(t: &Type, name: &str) -> Option<Type> {
        let Type::Path(p) = t else { return None };
        let last = p.path.segments.last()?;
        if last.ident != name {
            return None;
        }
        let syn::PathArguments::AngleBracketed(a) = &last.arguments else {
            return None;
        };
        a.args.iter().find_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        })
    }
    let boxed = generic_arg(t, "Pin")?;
    let dynamic = generic_arg(&boxed, "Box")?;
    let Type::TraitObject(obj) = dynamic else {
        return None;
    };
    obj.bounds.iter().find_map(|b| {
        let syn::TypeParamBound::Trait(tb) = b else {
            return None;
        };
        let seg = tb.path.segments.last()?;
        if seg.ident != "Future" {
            return None;
        }
        let syn::PathArguments::AngleBracketed(a) = &seg.arguments else {
            return None;
        };
        a.args.iter().find_map(|a| match a {
            syn::GenericArgument::AssocType(at) if at.ident == "Output" => Some(at.ty.clone()),
            _ => None,
        })
    })
}

/// The index of a trailing `Box::pin(async move { .. })` (what `#[async_trait]` generates).
fn async_trait_block(block: &Block) -> Option<usize> {
    let i = block.stmts.len().checked_sub(1)?;
    let last = &block.stmts[i];
    let Stmt::Expr(Expr::Call(call), None) = last else {
        return None;
    };
    let Expr::Path(p) = &*call.func else {
        return None;
    };
    let segs: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
    if segs.len() < 2 || segs[segs.len() - 2] != "Box" || segs[segs.len() - 1] != "pin" {
        return None;
    }
    (call.args.len() == 1 && matches!(call.args.first(), Some(Expr::Async(_)))).then_some(i)
}

impl ReturnInfo {
    pub(crate) fn of(f: &ItemFn) -> ReturnInfo {
        let ty = match &f.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, t) => Some((**t).clone()),
        };
        let async_trait = if f.sig.asyncness.is_none() { async_trait_block(&f.block) } else { None };
        let value_ty = match (&ty, async_trait) {
            (Some(t), Some(_)) => future_output(t),
            (t, None) => t.clone(),
            (None, Some(_)) => None,
        };
        let async_trait = async_trait.filter(|_| value_ty.is_some());
        let unit = match &value_ty {
            None => true,
            Some(Type::Tuple(t)) => t.elems.is_empty(),
            Some(_) => false,
        };
        let has_impl = value_ty.as_ref().is_some_and(has_impl);
        let is_result = value_ty.as_ref().is_some_and(is_result);
        ReturnInfo { unit, has_impl, is_result, value_ty, async_trait_block: async_trait }
    }
}

/// A dead `return` that gives a closure or async block the function's return type, so that `?`
/// and `return` in the body infer as they do in the function: `if false { return never::<T>(); }`.
/// Spanned on the return type, so "return type inferred to be `T` here" points at `T`.
pub(crate) fn fake_return(ret: &ReturnInfo, krate: Option<&syn::Path>) -> TokenStream {
    match &ret.value_ty {
        Some(t) if !ret.has_impl => {
            let p = crate::options::private_at(krate, t.span());
            let fake = quote_spanned!(t.span()=> #p::spec::never::<#t>());
            quote!(if false { return #fake; })
        }
        _ => quote!(),
    }
}

/// Whether a function body may leave before its end: a `return` or a `?` outside closures, async
/// blocks and nested items, or a macro call that might expand to one (any but `::core::`'s and
/// `::std::`'s, which generated code writes). A body that cannot runs in a block, not a closure,
/// when the macros need its value.
pub(crate) fn exits(stmts: &[Stmt]) -> bool {
    struct Exits(bool);
    impl<'ast> Visit<'ast> for Exits {
        fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
            self.0 = true;
        }
        fn visit_expr_try(&mut self, _: &'ast syn::ExprTry) {
            self.0 = true;
        }
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            let ours = m.path.leading_colon.is_some()
                && m.path.segments.first().is_some_and(|s| s.ident == "core" || s.ident == "std");
            self.0 |= !ours;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut v = Exits(false);
    for s in stmts {
        v.visit_stmt(s);
    }
    v.0
}

/// The call and the async block of an `#[async_trait]` body (found by `async_trait_block`).
pub(crate) fn async_trait_parts(
    stmts: &[Stmt],
    i: usize,
) -> Option<(usize, &syn::ExprCall, &syn::ExprAsync)> {
    let Some(Stmt::Expr(Expr::Call(call), _)) = stmts.get(i) else { return None };
    let Some(Expr::Async(inner)) = call.args.first() else { return None };
    Some((i, call, inner))
}
