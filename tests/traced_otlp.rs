//! `#[traced]` end to end: every option, checked on what an OTLP/gRPC receiver got.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::sync::OnceLock;
use support::{Receiver, Span, SpanKind, Status};
use telemark::{traced, Config, Protocol};

/// One pipeline per test binary: telemark's pipeline is process-wide.
fn receiver() -> &'static Receiver {
    static P: OnceLock<(Receiver, telemark::Guard)> = OnceLock::new();
    &P.get_or_init(|| {
        let rx = Receiver::start();
        let config = Config::default()
            .service_name("traced-tests")
            .otlp(rx.grpc_endpoint(), Protocol::Grpc)
            .level("debug")
            .unwrap();
        let guard = telemark::init(config).expect("init");
        (rx, guard)
    })
    .0
}

/// Delivers everything recorded so far: `flush` returns once the receiver has answered.
fn delivered() -> &'static Receiver {
    let rx = receiver();
    assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");
    rx
}

/// The last span named `name` that arrived, after everything recorded was delivered.
fn span(name: &str) -> Span {
    let rx = delivered();
    rx.spans_named(name).pop().unwrap_or_else(|| panic!("no span `{name}` arrived; got {:?}", names(rx)))
}

fn names(rx: &Receiver) -> Vec<String> {
    rx.spans().into_iter().map(|s| s.name).collect()
}

#[traced(name = "custom.name", kind = "server")]
fn named() {}

#[test]
fn name_kind_and_code_attributes() {
    receiver();
    named();
    let s = span("custom.name");
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(s.attr_str("code.function.name"), Some("traced_otlp::named"));
    assert!(s.attr_str("code.file.path").unwrap().ends_with("traced_otlp.rs"));
    assert!(s.attr_i64("code.line.number").unwrap() > 40);
    assert!(s.is_root());
    assert_eq!(s.resource_attr("service.name").and_then(|v| v.as_str()), Some("traced-tests"));
    assert_eq!(s.resource_attr("telemetry.sdk.name").and_then(|v| v.as_str()), Some("telemark"));
    assert_eq!(s.scope_name, "telemark");
    assert_eq!(s.transport, "grpc");
    assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
}

#[traced(level = "trace")]
fn too_verbose() {}

#[traced(level = "debug", kind = "client")]
fn verbose_enough() {
    too_verbose();
}

#[test]
fn level_is_filtered_by_directives() {
    receiver();
    verbose_enough();
    let s = span("verbose_enough");
    assert_eq!(s.kind, SpanKind::Client);
    assert!(receiver().spans_named("too_verbose").is_empty(), "a trace-level span passed an `debug` filter");
}

#[derive(Debug)]
struct DebugOnly {
    id: u8,
}
struct Opaque;

#[allow(clippy::too_many_arguments, non_snake_case)]
#[traced]
fn arguments(
    n: u32,
    s: &str,
    d: DebugOnly,
    o: Opaque,
    password: &str,
    user_Token: String,
    flag: bool,
    ratio: f64,
) {
    let _ = (n, s, d.id, o, password, user_Token, flag, ratio);
}

#[test]
fn arguments_by_display_debug_or_not_at_all_and_secrets_redacted() {
    receiver();
    arguments(7, "hello world", DebugOnly { id: 3 }, Opaque, "hunter2", "tok".into(), true, 0.5);
    let s = span("arguments");
    assert_eq!(s.attr_i64("n"), Some(7));
    assert_eq!(s.attr_str("s"), Some("hello world"));
    assert_eq!(s.attr_str("d"), Some("DebugOnly { id: 3 }"));
    assert!(s.attr("o").is_none(), "a type with neither Display nor Debug is left out");
    assert_eq!(s.attr_str("password"), Some("[REDACTED]"));
    assert_eq!(s.attr_str("user_Token"), Some("[REDACTED]"));
    assert_eq!(s.attr("flag").and_then(|v| v.as_bool()), Some(true));
    assert_eq!(s.attr("ratio").and_then(|v| v.as_f64()), Some(0.5));
}

#[traced(skip(b))]
fn skip_one(a: u8, b: u8) -> u8 {
    a + b
}

#[traced(skip_all)]
fn skip_everything(a: u8, b: u8) -> u8 {
    a + b
}

#[test]
fn skip_and_skip_all() {
    receiver();
    skip_one(1, 2);
    skip_everything(1, 2);
    let one = span("skip_one");
    assert_eq!(one.attr_i64("a"), Some(1));
    assert!(one.attr("b").is_none());
    let all = span("skip_everything");
    assert!(all.attr("a").is_none() && all.attr("b").is_none());
}

// An argument whose `#[cfg]` is false does not exist: nothing records it, and the others keep their
// own keys and values (a secret name too, which is recorded without reading the argument).
// `all()` is the condition that always holds, which clippy calls non-minimal.
#[allow(clippy::non_minimal_cfg)]
#[traced]
fn cfg_args(
    #[cfg(any())] x: u32,
    y: u32,
    #[cfg(any())] password: &str,
    #[cfg(all())] z: &str,
    #[cfg_attr(all(), cfg(any()))] w: u8,
) -> u32 {
    y
}

#[test]
fn arguments_under_a_false_cfg_are_not_recorded() {
    receiver();
    assert_eq!(cfg_args(5, "on"), 5);
    let s = span("cfg_args");
    assert_eq!(s.attr_i64("y"), Some(5));
    assert_eq!(s.attr_str("z"), Some("on"));
    let args: Vec<&str> = s.attributes.keys().map(String::as_str).filter(|k| !k.contains('.')).collect();
    assert_eq!(args, ["y", "z"], "no `x`, `password` or `w`: {:?}", s.attributes);
}

#[traced(fields(http.request.method = "GET", user.id = id * 2, note = format!("n{id}")))]
fn with_fields(id: u64) {}

#[test]
fn fields_with_dotted_keys_and_argument_expressions() {
    receiver();
    with_fields(21);
    let s = span("with_fields");
    assert_eq!(s.attr_str("http.request.method"), Some("GET"));
    assert_eq!(s.attr_i64("user.id"), Some(42));
    assert_eq!(s.attr_str("note"), Some("n21"));
    assert_eq!(s.attr_i64("id"), Some(21));
}

#[derive(Debug)]
enum DbError {
    Timeout(u32),
}
impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Timeout(ms) => write!(f, "timed out after {ms} ms"),
        }
    }
}

#[traced(ret)]
fn returns(x: u32) -> u32 {
    x * 3
}

#[traced]
fn fails(fail: bool) -> Result<u32, DbError> {
    if fail {
        return Err(DbError::Timeout(30));
    }
    Ok(1)
}

#[traced]
fn io_alias() -> std::io::Result<()> {
    let missing = std::fs::read("/definitely/not/here")?;
    drop(missing);
    Ok(())
}

#[traced(err = false)]
fn fails_quietly() -> Result<(), String> {
    Err("ignored".into())
}

#[test]
fn ret_and_err() {
    receiver();
    returns(5);
    let _ = fails(true);
    let _ = io_alias();
    let _ = fails_quietly();
    assert_eq!(span("returns").attr_i64("return.value"), Some(15));

    let f = span("fails");
    assert!(f.status.is_error());
    assert_eq!(f.status.message, "timed out after 30 ms");
    let e = f.event("exception").expect("exception event");
    assert_eq!(e.attr_str("exception.type"), Some("traced_otlp::DbError"));
    assert_eq!(e.attr_str("exception.message"), Some("timed out after 30 ms"));

    let io = span("io_alias");
    assert!(io.status.is_error());
    assert_eq!(
        io.event("exception").and_then(|e| e.attr_str("exception.type")),
        Some("std::io::error::Error")
    );

    let quiet = span("fails_quietly");
    assert_eq!(quiet.status.code, Status::UNSET);
    assert!(quiet.event("exception").is_none());
}

#[traced]
fn ok_path() -> Result<u8, String> {
    Ok(1)
}

struct Store {
    items: Vec<u32>,
}

impl Store {
    #[traced]
    fn first_mut(&mut self, at: usize) -> Result<&mut u32, String> {
        self.items.get_mut(at).ok_or_else(|| format!("no item at {at}"))
    }

    #[traced(ret)]
    fn label<'a>(&'a self, prefix: &'a str) -> Result<&'a str, std::fmt::Error> {
        Ok(if self.items.is_empty() { prefix } else { "items" })
    }
}

/// # Safety
/// `p` must be valid for reads.
#[traced]
unsafe fn read_raw(p: *const u32) -> Result<u32, String> {
    if p.is_null() {
        return Err("null".into());
    }
    Ok(unsafe { *p })
}

#[test]
fn methods_returning_borrows_and_unsafe_fns() {
    receiver();
    let mut store = Store { items: vec![1, 2] };
    *store.first_mut(1).unwrap() += 40;
    assert_eq!(store.items[1], 42);
    assert!(store.first_mut(9).is_err());
    assert_eq!(store.label("x").unwrap(), "items");
    let v = 7u32;
    assert_eq!(unsafe { read_raw(&v) }, Ok(7));
    let spans = delivered().spans_named("first_mut");
    assert_eq!(spans.len(), 2);
    let failed =
        spans.iter().find(|s| s.name == "first_mut" && s.status.is_error()).expect("failed first_mut");
    assert_eq!(failed.status.message, "no item at 9");
    assert_eq!(failed.attr_i64("at"), Some(9));
    assert_eq!(span("label").attr_str("return.value"), Some("Ok(\"items\")"));
    assert!(span("read_raw").status.is_unset());
}

#[test]
fn ok_result_leaves_status_unset() {
    receiver();
    let _ = ok_path();
    let s = span("ok_path");
    assert!(s.status.is_unset());
    assert!(s.events.is_empty());
}

#[traced(parent = remote)]
fn handle_remote(remote: Option<telemark::SpanContext>) {}

#[traced(root)]
fn fresh_trace() {}

#[traced]
fn outer_for_root() {
    fresh_trace();
}

#[traced(sample = 0.0)]
fn never_sampled() {}

#[traced(sample = 1.0)]
fn always_sampled() {
    never_sampled();
}

#[test]
fn parent_root_and_sample() {
    receiver();
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
    handle_remote(telemark::propagation::extract(&headers));
    let r = span("handle_remote");
    assert_eq!(r.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(r.parent_span_id, "b7ad6b7169203331");

    // Parent-based sampling: a caller that did not sample the trace means no span here either.
    let mut unsampled = http::HeaderMap::new();
    unsampled
        .insert("traceparent", "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-00".parse().unwrap());
    handle_remote(telemark::propagation::extract(&unsampled));
    span("handle_remote");
    assert!(
        receiver().spans().iter().all(|s| s.trace_id != "1af7651916cd43dd8448eb211c80319c"),
        "a span under an unsampled remote parent was exported"
    );

    outer_for_root();
    let outer = span("outer_for_root");
    let fresh = span("fresh_trace");
    assert_ne!(fresh.trace_id, outer.trace_id, "`root` starts a new trace");
    assert!(fresh.is_root());

    for _ in 0..20 {
        always_sampled();
    }
    span("always_sampled");
    assert!(receiver().spans_named("never_sampled").is_empty());
}

#[traced]
fn panics(msg: &'static str) {
    panic!("{}", msg);
}

#[test]
fn a_panic_ends_the_span_with_an_error_and_keeps_unwinding() {
    receiver();
    let caught = std::panic::catch_unwind(|| panics("boom at the bottom"));
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom at the bottom"));
    let s = span("panics");
    assert!(s.status.is_error());
    let e = s.event("exception").expect("exception event");
    assert_eq!(e.attr_str("exception.message"), Some("boom at the bottom"));
    assert_eq!(e.attr("exception.escaped").and_then(|v| v.as_bool()), Some(true));
}

#[traced]
async fn async_leaf(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n + 1
}

#[traced]
async fn async_root() -> u32 {
    let a = async_leaf(1).await;
    let spawned = telemark::spawn(async_leaf(10)).await.unwrap();
    let blocking = telemark::spawn_blocking(|| {
        let _s = telemark::span("blocking_work");
    })
    .await;
    blocking.unwrap();
    a + spawned
}

#[traced]
async fn never_finishes() {
    std::future::pending::<()>().await;
}

#[test]
fn async_spans_nest_across_awaits_tasks_and_threads_and_cancellation_is_marked() {
    receiver();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let total = rt.block_on(async {
        let total = async_root().await;
        // Polled once, then dropped unfinished: cancelled, whatever the clock says.
        tokio::select! {
            biased;
            () = never_finishes() => unreachable!(),
            () = std::future::ready(()) => {}
        }
        total
    });
    assert_eq!(total, 13);
    let root = span("async_root");
    let leaves = delivered().spans_named("async_leaf");
    assert_eq!(leaves.len(), 2);
    for l in &leaves {
        assert_eq!(l.trace_id, root.trace_id);
        assert_eq!(l.parent_span_id, root.span_id);
    }
    let blocking = span("blocking_work");
    assert_eq!(blocking.parent_span_id, root.span_id);
    let cancelled = span("never_finishes");
    assert_eq!(cancelled.attr("telemark.cancelled").and_then(|v| v.as_bool()), Some(true));
}

#[test]
fn context_follows_std_threads_through_with_current_context() {
    receiver();
    let parent = telemark::span("thread_parent");
    let parent_ctx = parent.context().unwrap();
    std::thread::spawn(telemark::with_current_context(|| {
        let _child = telemark::span("thread_child");
    }))
    .join()
    .unwrap();
    drop(parent);
    let child = span("thread_child");
    assert_eq!(child.trace_id, parent_ctx.trace_id.to_string());
    assert_eq!(child.parent_span_id, parent_ctx.span_id.to_string());
}

#[traced]
fn inner_traced() {
    tracing::info!(step = 2, "inside the inner function");
}

#[traced]
fn outer_traced() {
    let lib = tracing::info_span!("library_span", db.system = "postgresql");
    lib.in_scope(inner_traced);
}

#[test]
fn tracing_spans_and_traced_spans_form_one_tree_and_logs_carry_ids() {
    receiver();
    outer_traced();
    tracing::info_span!("tracing_root").in_scope(|| {
        named_child_of_tracing();
    });
    tracing::warn!(marker = "outside-any-span", "no span here");
    let outer = span("outer_traced");
    let lib = span("library_span");
    let inner = span("inner_traced");
    assert_eq!(lib.parent_span_id, outer.span_id);
    assert_eq!(lib.attr_str("db.system"), Some("postgresql"));
    assert_eq!(inner.parent_span_id, lib.span_id);
    assert_eq!(inner.trace_id, outer.trace_id);
    let troot = span("tracing_root");
    let tchild = span("named_child_of_tracing");
    assert_eq!(tchild.parent_span_id, troot.span_id);
    assert_eq!(tchild.trace_id, troot.trace_id);

    let logs = delivered().logs();
    assert!(logs.iter().any(|l| l.body == "no span here"));
    let inside = logs.iter().find(|l| l.body == "inside the inner function").expect("log inside the span");
    assert_eq!(inside.trace_id, inner.trace_id);
    assert_eq!(inside.span_id, inner.span_id);
    assert_eq!(inside.attr_i64("step"), Some(2));
    assert_eq!(inside.severity_text, "INFO");
    assert_eq!(inside.severity_number, 9);
    let outside = logs.iter().find(|l| l.body == "no span here").unwrap();
    assert_eq!(outside.trace_id, "");
    assert_eq!(outside.attr_str("marker"), Some("outside-any-span"));
    assert_eq!(outside.severity_number, 13);
}

#[traced]
fn named_child_of_tracing() {}

#[traced]
fn annotated() -> Option<telemark::SpanContext> {
    let current = telemark::current_span();
    current.set_attribute("cart.size", 3i64);
    current.add_event("cache.miss", &[("key", "user:1".into())]);
    current.context()
}

#[test]
fn manual_api() {
    receiver();
    let ctx = annotated().expect("a current span inside #[traced]");
    let s = span("annotated");
    assert_eq!(s.attr_i64("cart.size"), Some(3));
    assert_eq!(s.event("cache.miss").and_then(|e| e.attr_str("key")), Some("user:1"));
    assert_eq!(s.span_id, ctx.span_id.to_string());
    assert_eq!(s.trace_id, ctx.trace_id.to_string());

    {
        let g = telemark::span(format!("manual-{}", 1));
        g.set_attribute("k", "v");
        let err = std::io::Error::new(std::io::ErrorKind::NotFound, "no such user");
        g.record_error(&err);
    }
    let m = span("manual-1");
    assert_eq!(m.attr_str("k"), Some("v"));
    assert!(m.status.is_error());
    assert_eq!(m.event("exception").and_then(|e| e.attr_str("exception.message")), Some("no such user"));

    {
        let g = telemark::span("manual-ok");
        g.set_status(telemark::Status::Ok);
    }
    assert!(span("manual-ok").status.is_ok());

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(telemark::in_span("async-manual", async {
        tokio::task::yield_now().await;
        telemark::current_span().set_attribute("inside", true);
    }));
    assert_eq!(span("async-manual").attr("inside").and_then(|v| v.as_bool()), Some(true));
}

#[traced(kind = "client")]
fn call_downstream() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    telemark::propagation::inject(&mut h);
    h
}

#[traced(kind = "server", parent = telemark::propagation::extract(headers))]
fn serve_downstream(headers: &http::HeaderMap) {}

#[test]
fn propagation_links_two_services() {
    receiver();
    let headers = call_downstream();
    serve_downstream(&headers);
    let client = span("call_downstream");
    let server = span("serve_downstream");
    assert_eq!(server.trace_id, client.trace_id);
    assert_eq!(server.parent_span_id, client.span_id);
}

#[test]
fn stats_count_what_was_exported() {
    receiver();
    named();
    span("custom.name");
    // `flush` returns once the exporter has seen the receiver's answer: the counts are final.
    delivered();
    let s = telemark::stats();
    assert!(s.spans_recorded > 0);
    assert!(s.spans_exported > 0, "{s:?}");
}

/// An argument whose `Display` logs, and calls a traced function, while it is formatted.
struct Chatty(&'static str);
impl std::fmt::Display for Chatty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!(which = self.0, "formatting an argument");
        helper_while_formatting(self.0);
        f.write_str(self.0)
    }
}

#[traced]
fn helper_while_formatting(which: &str) -> usize {
    which.len()
}

#[traced]
fn takes_chatty(arg: Chatty) -> usize {
    arg.0.len()
}

#[traced]
async fn takes_chatty_async(arg: Chatty) -> usize {
    arg.0.len()
}

#[test]
fn what_formatting_an_argument_records_belongs_to_the_span() {
    receiver();
    takes_chatty(Chatty("sync"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(takes_chatty_async(Chatty("async")));
    let rx = delivered();
    for (name, which) in [("takes_chatty", "sync"), ("takes_chatty_async", "async")] {
        let span = rx.spans_named(name).pop().unwrap();
        assert_eq!(span.attr_str("arg"), Some(which));
        let logs = rx.wait_logs(|l| l.iter().any(|l| l.attr_str("which") == Some(which)));
        let log = logs.iter().find(|l| l.attr_str("which") == Some(which)).unwrap();
        assert_eq!((&log.trace_id, &log.span_id), (&span.trace_id, &span.span_id), "{name}: the log");
        let helper = rx
            .spans_named("helper_while_formatting")
            .into_iter()
            .find(|s| s.attr_str("which") == Some(which))
            .unwrap();
        assert_eq!((&helper.trace_id, &helper.parent_span_id), (&span.trace_id, &span.span_id), "{name}");
    }
}
