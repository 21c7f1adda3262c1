//! `#[alert_on(<metric> <op> <threshold>, options…)]`: parse and check the rule, then register it
//! at link time (`inventory`) from inside the function's body, and make sure the function's
//! metrics are recorded.
//!
//! - Every check of the grammar (thresholds, units, durations, templates, label and rule names)
//!   is in the `telemark-grammar` crate, which the config goes through too, so a mistake reads the
//!   same in code and in the config.
//! - The registration is a `const _` item at the top of the body: an item next to the function
//!   would not be allowed when the function is a method in an `impl` block.
//! - Several `#[alert_on]` on one function expand one after the other, outermost first; each sees
//!   the ones below it in `f.attrs`. Each checks its rule's name against those below it and
//!   reports a clash on the first lower duplicate, so every duplicate gets exactly one error.
//! - Metrics are recorded by `#[traced]`. The last `#[alert_on]` to expand (no other one left in
//!   `f.attrs`) adds a metrics-only `#[traced]` unless the function has one, below it or already
//!   expanded above it (see `protocol`).

use crate::errors::Errors;
use crate::function::{parse_function, with_error};
use crate::options::{
    crate_keyword, crate_path, parse_options, parse_str_list, private, skip_option, string_value, unraw,
    Keyword, Options, Takes,
};
use crate::protocol::{self, attr_args, Macro};
use proc_macro2::{Literal, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use std::time::Duration;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{AttrStyle, Ident, ItemFn, LitStr, Token};
use telemark_grammar::grammar::{
    bad_op, check_channel_name, check_condition, check_label_name, check_min_calls_metric,
    check_rule_duration, check_rule_name, check_template, check_window, missing_threshold, parse_duration,
    parse_min_calls, parse_op, threshold_value, unknown_metric, unknown_severity, DEFAULT_CHANNEL,
    DEFAULT_SEVERITY, DEFAULT_WINDOW,
};
use telemark_grammar::{Metric, Op, Quantile, Severity};

/// The options of `#[alert_on]`, after the condition.
#[derive(Clone, Copy)]
enum Opt {
    Name,
    Window,
    For,
    MinCalls,
    Severity,
    Notify,
    Summary,
    Description,
    Labels,
    Crate,
}

const OPTIONS: Options<Opt> = Options {
    keywords: &[
        Keyword { key: Opt::Name, name: "name", takes: Takes::Value("`name = \"checkout_slow\"`") },
        Keyword { key: Opt::Window, name: "window", takes: Takes::Value("`window = \"5m\"`") },
        Keyword { key: Opt::For, name: "for", takes: Takes::Value("`for = \"1m\"`") },
        Keyword { key: Opt::MinCalls, name: "min_calls", takes: Takes::Value("`min_calls = 20`") },
        Keyword { key: Opt::Severity, name: "severity", takes: Takes::Value("`severity = \"critical\"`") },
        Keyword {
            key: Opt::Notify,
            name: "notify",
            takes: Takes::Value("`notify = [\"console\", \"oncall\"]`"),
        },
        Keyword {
            key: Opt::Summary,
            name: "summary",
            takes: Takes::Value("`summary = \"{function} is slow: {value}\"`"),
        },
        Keyword {
            key: Opt::Description,
            name: "description",
            takes: Takes::Value("`description = \"{function} is slow: {value}\"`"),
        },
        Keyword {
            key: Opt::Labels,
            name: "labels",
            takes: Takes::List { holds: "`key = \"value\"` pairs", example: "labels(team = \"payments\")" },
        },
        crate_keyword(Opt::Crate),
    ],
    hints: &[
        (&["duration", "over", "period", "interval", "range"], "did you mean `window = \"5m\"`?"),
        (&["pending", "for_", "after", "hold"], "did you mean `for = \"1m\"`?"),
        (&["level", "priority", "urgency"], "did you mean `severity = \"critical\"`?"),
        (&["channels", "channel", "to", "notify_to", "receivers"], "did you mean `notify = [\"console\"]`?"),
        (&["message", "title", "text"], "did you mean `summary = \"...\"`?"),
        (&["label", "tags"], "did you mean `labels(team = \"...\")`?"),
        (&["alert", "alertname", "id"], "did you mean `name = \"...\"`?"),
        (
            &["min_count", "minimum_calls", "min_requests", "min_samples", "calls_at_least"],
            "did you mean `min_calls = 20`?",
        ),
        (
            &["threshold", "condition", "metric"],
            "the condition comes first: `#[alert_on(p99_latency > 200ms, ...)]`",
        ),
    ],
};

const NEEDS_CONDITION: &str =
    "`#[alert_on]` needs a condition: a metric, a comparison and a threshold, like \
                               `#[alert_on(p99_latency > 200ms)]` or `#[alert_on(error_rate > 5%)]`";

/// The runtime's value of a metric, for generated code.
fn metric_tokens(m: Metric, p: &TokenStream) -> TokenStream {
    let v = |name: &str| Ident::new(name, Span::call_site());
    let variant = match m {
        Metric::ErrorRate => v("ErrorRate"),
        Metric::Errors => v("Errors"),
        Metric::Calls => v("Calls"),
        Metric::Rate => v("Rate"),
        Metric::Exceptions => v("Exceptions"),
        Metric::Latency(q) => {
            let q = v(match q {
                Quantile::P50 => "P50",
                Quantile::P90 => "P90",
                Quantile::P95 => "P95",
                Quantile::P99 => "P99",
                Quantile::Max => "Max",
            });
            return quote!(#p::Metric::Latency(#p::Quantile::#q));
        }
    };
    quote!(#p::Metric::#variant)
}

/// The runtime's value of a comparison, for generated code.
fn op_tokens(o: Op, p: &TokenStream) -> TokenStream {
    let v = Ident::new(
        match o {
            Op::Gt => "Gt",
            Op::Ge => "Ge",
            Op::Lt => "Lt",
            Op::Le => "Le",
        },
        Span::call_site(),
    );
    quote!(#p::Op::#v)
}

/// The runtime's value of a severity, for generated code.
fn severity_tokens(s: Severity, p: &TokenStream) -> TokenStream {
    let v = Ident::new(
        match s {
            Severity::Info => "Info",
            Severity::Warning => "Warning",
            Severity::Critical => "Critical",
        },
        Span::call_site(),
    );
    quote!(#p::Severity::#v)
}

/// The checked model of one `#[alert_on(...)]`.
#[derive(Default)]
struct AlertArgs {
    metric: Option<(Metric, Span)>,
    op: Option<Op>,
    threshold: Option<f64>,
    name: Option<(String, Span)>,
    window: Option<(Duration, Span)>,
    for_: Option<(Duration, Span)>,
    severity: Option<Severity>,
    notify: Option<Vec<String>>,
    summary: Option<String>,
    description: Option<String>,
    /// `min_calls`: the value, and the span of the key (to report a metric that takes none).
    min_calls: Option<(u64, Span)>,
    labels: Vec<(String, String)>,
    /// `crate = path`: where generated code finds telemark.
    krate: Option<syn::Path>,
}

impl AlertArgs {
    /// The rule's name: its `name`, or `<function>_<metric>`; with the span to report a clash on.
    fn rule_name(&self, fn_name: &str) -> Option<(String, Span, bool)> {
        if let Some((n, span)) = &self.name {
            return Some((n.clone(), *span, false));
        }
        self.metric.map(|(m, span)| (format!("{fn_name}_{}", m.name()), span, true))
    }
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let f = match parse_function(item.clone(), Macro::AlertOn) {
        Ok(f) => f,
        Err(out) => return out,
    };
    let mut errors = Errors::new();
    let a = parse(args, &mut errors);
    if let Some(c) = &f.sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "`#[alert_on]` cannot watch a `const fn`: its calls are measured at run time; remove `const`",
        ));
    }
    let fn_name = unraw(&f.sig.ident);
    if let Some((own, _, own_default)) = a.rule_name(&fn_name) {
        // The rules of the `#[alert_on]` below, for their names only: their mistakes are theirs to
        // report when they expand.
        let below = f.attrs.iter().filter(|x| Macro::AlertOn.is(x)).map(|x| {
            let mut theirs = Errors::new();
            let rule = parse(attr_args(x), &mut theirs);
            theirs.discard();
            rule
        });
        if let Some((_, span, default)) =
            below.filter_map(|b| b.rule_name(&fn_name)).find(|(name, _, _)| *name == own)
        {
            let how = match (own_default, default) {
                (true, true) => " (both are named `<function>_<metric>` by default)",
                _ => "",
            };
            errors.push(syn::Error::new(
                span,
                format!(
                    "duplicate rule name `{own}`: another `#[alert_on]` on this function has this name{how}; \
                     give one of them `name = \"...\"`"
                ),
            ));
        }
    }
    match errors.check() {
        Ok(()) => generate(&a, f),
        Err(e) => with_error(item, e),
    }
}

fn generate(a: &AlertArgs, f: ItemFn) -> TokenStream {
    let p = &private(a.krate.as_ref());
    let fn_name = unraw(&f.sig.ident);
    let (metric, metric_span) = a.metric.unwrap_or((Metric::Calls, Span::call_site()));
    let name = a.name.as_ref().map(|n| n.0.clone()).unwrap_or_else(|| format!("{fn_name}_{}", metric.name()));
    let metric_tokens = metric_tokens(metric, p);
    let op = op_tokens(a.op.unwrap_or(Op::Gt), p);
    let threshold = Literal::f64_suffixed(a.threshold.unwrap_or(0.0));
    let millis = |d: Option<(Duration, Span)>, default: Duration| {
        Literal::u64_suffixed(
            u64::try_from(d.map(|d| d.0).unwrap_or(default).as_millis()).unwrap_or(u64::MAX),
        )
    };
    let window_ms = millis(a.window, DEFAULT_WINDOW);
    let severity = severity_tokens(a.severity.unwrap_or(DEFAULT_SEVERITY), p);
    let notify: Vec<String> = a.notify.clone().unwrap_or_else(|| vec![DEFAULT_CHANNEL.to_string()]);
    let file = quote_spanned!(metric_span=> ::core::file!());
    let line = quote_spanned!(metric_span=> ::core::line!());
    // What the attribute always says, then a builder call for each option it has.
    let mut rule = quote! {
        #p::StaticRule::new(
            #name, ::core::concat!(::core::module_path!(), "::", #fn_name), #metric_tokens, #op, #threshold,
            #window_ms, #severity, &[#(#notify),*], #file, #line,
        )
    };
    if let Some(d) = a.for_.filter(|d| d.0 != Duration::ZERO) {
        let for_ms = millis(Some(d), Duration::ZERO);
        rule = quote!(#rule.for_ms(#for_ms));
    }
    if let Some(summary) = &a.summary {
        rule = quote!(#rule.summary(#summary));
    }
    if let Some(description) = &a.description {
        rule = quote!(#rule.description(#description));
    }
    if let Some((n, _)) = a.min_calls {
        let n = Literal::u64_suffixed(n);
        rule = quote!(#rule.min_calls(#n));
    }
    if !a.labels.is_empty() {
        let label_keys = a.labels.iter().map(|l| &l.0);
        let label_values = a.labels.iter().map(|l| &l.1);
        rule = quote!(#rule.labels(&[#((#label_keys, #label_values)),*]));
    }
    let registration = quote! {
        const _: () = {
            #p::inventory::submit! { #rule }
        };
    };

    // The last `#[alert_on]` to expand makes sure the metrics are recorded (see `protocol`).
    let needs_traced = !f.attrs.iter().any(|a| Macro::AlertOn.is(a))
        && !f.attrs.iter().any(|a| Macro::Traced.is(a))
        && !protocol::traced_expanded(&f.block);
    let ItemFn { attrs, vis, sig, block } = f;
    let mut out = TokenStream::new();
    if needs_traced {
        out.extend(protocol::metrics_only_traced(a.krate.as_ref()));
    }
    for attr in attrs.iter().filter(|a| matches!(a.style, AttrStyle::Outer)) {
        attr.to_tokens(&mut out);
    }
    vis.to_tokens(&mut out);
    sig.to_tokens(&mut out);
    block.brace_token.surround(&mut out, |t| {
        for attr in attrs.iter().filter(|a| matches!(a.style, AttrStyle::Inner(_))) {
            attr.to_tokens(t);
        }
        t.extend(registration);
        for s in &block.stmts {
            s.to_tokens(t);
        }
    });
    out
}

/// Parses one `#[alert_on(...)]` into the model, and every mistake into `errors`. A syntax error
/// stops the parse but keeps what was parsed before it.
fn parse(args: TokenStream, errors: &mut Errors) -> AlertArgs {
    let mut a = AlertArgs::default();
    let parser = |input: ParseStream<'_>| {
        parse_condition(input, &mut a, errors)?;
        if input.is_empty() {
            return Ok(());
        }
        if !input.peek(Token![,]) {
            return Err(syn::Error::new(
                input.span(),
                "expected `,`: the condition and the options are separated by commas",
            ));
        }
        input.parse::<Token![,]>()?;
        parse_options(input, &OPTIONS, errors, |opt, key, input, errors| {
            option(opt, key, input, &mut a, errors)
        })
    };
    let result = parser.parse2(args);
    errors.add(result);
    cross_checks(&a, errors);
    a
}

fn parse_condition(input: ParseStream<'_>, a: &mut AlertArgs, errors: &mut Errors) -> syn::Result<()> {
    if input.is_empty() {
        return Err(syn::Error::new(Span::call_site(), NEEDS_CONDITION));
    }
    if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        return Err(syn::Error::new(
            l.span(),
            format!("the condition is written without quotes: `#[alert_on({})]`", l.value()),
        ));
    }
    let metric_ident = Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), NEEDS_CONDITION))?;
    let metric_name = unraw(&metric_ident);
    if OPTIONS.find(&metric_name).is_some()
        && ((input.peek(Token![=]) && !input.peek(Token![==]) && !input.peek(Token![=>]))
            || input.peek(syn::token::Paren))
    {
        return Err(syn::Error::new(
            metric_ident.span(),
            format!(
                "the condition comes first, then the options: `#[alert_on(p99_latency > 200ms, {metric_name} = ...)]`"
            ),
        ));
    }
    let metric = Metric::parse(&metric_name);
    match metric {
        Some(m) => a.metric = Some((m, metric_ident.span())),
        None => errors.push(syn::Error::new(metric_ident.span(), unknown_metric(&metric_name))),
    }
    let mut condition = metric_ident.to_token_stream();

    // The comparison: `>`, `>=`, `<`, `<=` (and the mistakes around them).
    let mut op_text = String::new();
    let mut op_tokens = TokenStream::new();
    while let Some(p) = input.cursor().punct().map(|(p, _)| p) {
        if !matches!(p.as_char(), '<' | '>' | '=' | '!') {
            break;
        }
        let p: proc_macro2::Punct = input.parse()?;
        op_text.push(p.as_char());
        let joint = p.spacing() == proc_macro2::Spacing::Joint;
        op_tokens.extend([TokenTree::Punct(p)]);
        if !joint {
            break;
        }
    }
    condition.extend(op_tokens.clone());
    let op = match parse_op(&op_text) {
        Ok(op) => Some(op),
        Err(_) if op_text.is_empty() => {
            let span = if input.is_empty() { metric_ident.span() } else { input.span() };
            return Err(syn::Error::new(
                span,
                format!(
                    "expected a comparison after the metric: `>`, `>=`, `<` or `<=`, like `{metric_name} > {}`",
                    metric.map(|m| if matches!(m, Metric::Latency(_)) { "200ms" } else { "10" }).unwrap_or("10")
                ),
            ));
        }
        Err(_) => {
            errors.push(syn::Error::new_spanned(&op_tokens, bad_op(&op_text)));
            None
        }
    };
    a.op = op;

    // The threshold: a number literal with an optional unit suffix (`200ms`, `1.5s`) or `%`.
    if input.is_empty() || input.peek(Token![,]) {
        let msg = match metric {
            Some(m) => missing_threshold(m, &op_text),
            None => "the comparison needs a threshold, like `> 200ms` or `> 5%`".to_string(),
        };
        errors.push(syn::Error::new_spanned(&op_tokens, msg));
        return Ok(());
    }
    let mut toks = TokenStream::new();
    let negative = if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        minus.to_tokens(&mut toks);
        true
    } else {
        false
    };
    let (number, suffix) = match input.parse::<TokenTree>()? {
        TokenTree::Literal(l) => {
            let lit = syn::Lit::new(l);
            lit.to_tokens(&mut toks);
            match &lit {
                syn::Lit::Int(i) => (i.base10_digits().parse::<f64>().ok(), i.suffix().to_string()),
                syn::Lit::Float(f) => (f.base10_digits().parse::<f64>().ok(), f.suffix().to_string()),
                syn::Lit::Str(s) => {
                    errors.push(syn::Error::new(
                        s.span(),
                        format!("the threshold is written without quotes: `{}`", s.value()),
                    ));
                    return skip_option(input);
                }
                other => {
                    errors.push(syn::Error::new(
                        other.span(),
                        "expected a number as the threshold, like `200ms`, `5%` or `10`",
                    ));
                    return skip_option(input);
                }
            }
        }
        other => {
            errors.push(syn::Error::new(
                other.span(),
                format!(
                    "expected a number as the threshold, like `200ms`, `5%` or `10`, not `{other}`: the rule \
                     is checked at compile time, so the threshold is a literal"
                ),
            ));
            return skip_option(input);
        }
    };
    let mut unit = (!suffix.is_empty()).then_some(suffix);
    let mut percent = false;
    if input.peek(Token![%]) {
        let pct: Token![%] = input.parse()?;
        pct.to_tokens(&mut toks);
        percent = true;
    } else if unit.is_none()
        && input.peek(Ident)
        && !input.peek2(Token![=])
        && !input.peek2(syn::token::Paren)
    {
        // `200 ms`: a unit written apart.
        let u: Ident = input.parse()?;
        u.to_tokens(&mut toks);
        unit = Some(u.to_string());
    }
    condition.extend(toks.clone());
    let (Some(m), Some(n)) = (metric, number) else {
        if number.is_none() {
            errors.push(syn::Error::new_spanned(&toks, "expected a number as the threshold"));
        }
        return Ok(());
    };
    match threshold_value(m, n, unit.as_deref(), percent, negative) {
        Ok(v) => {
            a.threshold = Some(v);
            if let Some(op) = op {
                if let Err(msg) = check_condition(m, op, v) {
                    errors.push(syn::Error::new_spanned(&condition, msg));
                }
            }
        }
        Err(msg) => errors.push(syn::Error::new_spanned(&toks, msg)),
    }
    Ok(())
}

/// Reads one option's value into the model (its form is checked by `parse_options`).
fn option(
    opt: Opt,
    key: &Ident,
    input: ParseStream<'_>,
    a: &mut AlertArgs,
    errors: &mut Errors,
) -> syn::Result<()> {
    match opt {
        Opt::Name => {
            if let Some(l) = string_value(input, "name", "checkout_slow", errors)? {
                if let Err(m) = check_rule_name(&l.value()) {
                    errors.error(l.span(), m);
                }
                a.name = Some((l.value(), l.span()));
            }
        }
        Opt::Window | Opt::For => {
            let (k, example) = if matches!(opt, Opt::Window) { ("window", "5m") } else { ("for", "1m") };
            if let Some(l) = string_value(input, k, example, errors)? {
                // A duration Prometheus cannot hold is reported here, on its own literal, and
                // left out of the cross-checks (which would report it again).
                match parse_duration(&l.value()).and_then(|d| check_rule_duration(k, d).map(|()| d)) {
                    Ok(d) if matches!(opt, Opt::Window) => a.window = Some((d, l.span())),
                    Ok(d) => a.for_ = Some((d, l.span())),
                    Err(m) => errors.error(l.span(), m),
                }
            }
        }
        Opt::MinCalls => parse_min_calls_value(input, key, a, errors)?,
        Opt::Severity => {
            let (value, span) = if input.peek(Ident) {
                let i: Ident = input.parse()?;
                (i.to_string(), i.span())
            } else if let Some(l) = string_value(input, "severity", "critical", errors)? {
                (l.value(), l.span())
            } else {
                return Ok(());
            };
            match Severity::parse(&value) {
                Some(s) => a.severity = Some(s),
                None => errors.error(span, unknown_severity(&value)),
            }
        }
        Opt::Notify => parse_notify(input, a, errors)?,
        Opt::Summary | Opt::Description => {
            let k = if matches!(opt, Opt::Summary) { "summary" } else { "description" };
            if let Some(l) = string_value(input, k, "{function} is slow: {value}", errors)? {
                if let Err(m) = check_template(&l.value()) {
                    errors.error(l.span(), format!("in `{k}`: {m}"));
                }
                if matches!(opt, Opt::Summary) {
                    a.summary = Some(l.value());
                } else {
                    a.description = Some(l.value());
                }
            }
        }
        Opt::Labels => parse_labels(input, a, errors)?,
        Opt::Crate => a.krate = crate_path(input, errors)?,
    }
    Ok(())
}

/// `min_calls = 20`: a whole number of calls, at least 1, written as an integer literal. Its
/// checks and messages are the grammar's ([`parse_min_calls`]), the config's too.
fn parse_min_calls_value(
    input: ParseStream<'_>,
    key: &Ident,
    a: &mut AlertArgs,
    errors: &mut Errors,
) -> syn::Result<()> {
    let mut toks = TokenStream::new();
    let mut text = String::new();
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        minus.to_tokens(&mut toks);
        text.push('-');
    }
    if input.is_empty() || input.peek(Token![,]) {
        errors.push(syn::Error::new(key.span(), "`min_calls` needs a value: `min_calls = 20`"));
        return Ok(());
    }
    let t: TokenTree = input.parse()?;
    t.to_tokens(&mut toks);
    let lit = match &t {
        TokenTree::Literal(l) => Some(syn::Lit::new(l.clone())),
        _ => None,
    };
    let digits = match &lit {
        Some(syn::Lit::Int(i)) if i.suffix().is_empty() => i.base10_digits().to_string(),
        Some(syn::Lit::Float(f)) if f.suffix().is_empty() => f.base10_digits().to_string(),
        Some(syn::Lit::Int(i)) => {
            let msg = format!(
                "`min_calls` takes a plain number, without a type suffix: `min_calls = {}`",
                i.base10_digits()
            );
            errors.push(syn::Error::new_spanned(&toks, msg));
            return skip_option(input);
        }
        Some(syn::Lit::Str(s)) => {
            let msg = format!(
                "`min_calls` is a number, written without quotes: `min_calls = {}`",
                s.value().trim()
            );
            errors.push(syn::Error::new_spanned(&toks, msg));
            return skip_option(input);
        }
        _ => {
            let msg = format!(
                "`min_calls` is a whole number of calls written as a literal, like `min_calls = 20`, not `{t}`: \
                 the rule is checked at compile time"
            );
            errors.push(syn::Error::new_spanned(&toks, msg));
            return skip_option(input);
        }
    };
    text.push_str(&digits);
    match parse_min_calls(&text) {
        Ok(n) => a.min_calls = Some((n, key.span())),
        Err(m) => errors.push(syn::Error::new_spanned(&toks, m)),
    }
    Ok(())
}

fn parse_notify(input: ParseStream<'_>, a: &mut AlertArgs, errors: &mut Errors) -> syn::Result<()> {
    let mut names: Vec<String> = Vec::new();
    let example = "[\"console\", \"oncall\"]";
    let brackets = parse_str_list(input, "notify", "channel name", example, errors, |l, errors| {
        let n = l.value();
        if let Err(m) = check_channel_name(&n) {
            errors.push(syn::Error::new(l.span(), m));
        } else if names.contains(&n) {
            errors.push(syn::Error::new(l.span(), format!("channel `{n}` is listed twice")));
        }
        names.push(n);
    })?;
    let Some(brackets) = brackets else { return Ok(()) };
    if names.is_empty() {
        errors.push(syn::Error::new(
            brackets,
            "a rule needs at least one channel; leave `notify` out for `[\"console\"]`",
        ));
    }
    a.notify = Some(names);
    Ok(())
}

/// `labels(team = "payments", ..)`, at its `(`.
fn parse_labels(input: ParseStream<'_>, a: &mut AlertArgs, errors: &mut Errors) -> syn::Result<()> {
    let content;
    syn::parenthesized!(content in input);
    while !content.is_empty() {
        // A key: an identifier, a string, or identifiers joined by `.` or `-` (reported below).
        let mut key_tokens = TokenStream::new();
        let label = if content.peek(LitStr) {
            let l: LitStr = content.parse()?;
            l.to_tokens(&mut key_tokens);
            l.value()
        } else {
            let first = Ident::parse_any(&content)?;
            first.to_tokens(&mut key_tokens);
            let mut k = unraw(&first);
            while content.peek(Token![.]) || content.peek(Token![-]) {
                let sep: proc_macro2::Punct = content.parse()?;
                k.push(sep.as_char());
                sep.to_tokens(&mut key_tokens);
                let next = Ident::parse_any(&content)?;
                next.to_tokens(&mut key_tokens);
                k.push_str(&unraw(&next));
            }
            k
        };
        if let Err(m) = check_label_name(&label) {
            errors.push(syn::Error::new_spanned(&key_tokens, m));
        } else if a.labels.iter().any(|(k, _)| *k == label) {
            errors.push(syn::Error::new_spanned(
                &key_tokens,
                format!("duplicate label `{label}`: each label may be given once"),
            ));
        }
        if !content.peek(Token![=]) {
            return Err(syn::Error::new_spanned(
                &key_tokens,
                format!("label `{label}` needs a value: `labels({label} = \"...\")`"),
            ));
        }
        content.parse::<Token![=]>()?;
        if content.peek(LitStr) {
            let v: LitStr = content.parse()?;
            if v.value().is_empty() {
                errors.push(syn::Error::new(
                    v.span(),
                    format!("label `{label}` has an empty value (an empty label is no label)"),
                ));
            }
            a.labels.push((label, v.value()));
        } else {
            let t: TokenTree = content.parse()?;
            errors.push(syn::Error::new(
                t.span(),
                format!(
                    "a label value is a string: `labels({label} = \"{}\")`",
                    t.to_string().trim_matches('"')
                ),
            ));
            skip_option(&content)?;
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(())
}

/// Rules between options.
fn cross_checks(a: &AlertArgs, errors: &mut Errors) {
    if let (Some((metric, _)), Some((_, key))) = (a.metric, a.min_calls) {
        if let Err(m) = check_min_calls_metric(metric) {
            errors.push(syn::Error::new(key, m));
        }
    }
    let window = a.window.map(|w| w.0).unwrap_or(DEFAULT_WINDOW);
    let for_ = a.for_.map(|f| f.0).unwrap_or(Duration::ZERO);
    if let Err(m) = check_window(window, for_) {
        let span = match (a.window, a.for_) {
            (Some((w, span)), _) if w.is_zero() => span,
            (_, Some((_, span))) => span,
            (Some((_, span)), None) => span,
            (None, None) => Span::call_site(),
        };
        errors.push(syn::Error::new(span, m));
    }
}
