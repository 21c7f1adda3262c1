//! `#[capture_exceptions]` end to end: what an `Err` or a panic inside a capturing function becomes
//! at the OTLP receiver — the `exception` event (with its stacktrace) on the right span, the log
//! record with the same trace and span ids, the group — for the error types people return.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use support::{Log, Receiver, Span};
use telemark::{capture_exceptions, traced, Config, Protocol};

/// telemark's pipeline is process-wide: these tests take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start() -> (std::sync::MutexGuard<'static, ()>, Receiver, telemark::Guard) {
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let rx = Receiver::start();
    let mut config = Config::default().otlp(rx.grpc_endpoint(), Protocol::Grpc);
    // Dropping the guard waits until everything was delivered (a bound reached only when stuck):
    // what the receiver has then is final.
    config.export.shutdown_timeout = telemark::QUERY_WAIT;
    let guard = telemark::init(config).unwrap();
    (turn, rx, guard)
}

#[derive(Debug, thiserror::Error)]
enum DbError {
    #[error("query {0} timed out")]
    Timeout(u64),
    #[error("row {id} not found")]
    NotFound { id: u64 },
}

#[traced]
#[capture_exceptions]
fn query(id: u64) -> Result<u64, DbError> {
    match id {
        0..=9 => Ok(id),
        404 => Err(DbError::NotFound { id }),
        _ => Err(DbError::Timeout(id)),
    }
}

/// The exception log records the receiver got (at least `n`), once the guard was dropped.
fn exception_logs(rx: &Receiver, n: usize) -> Vec<Log> {
    let logs: Vec<Log> = rx.logs().into_iter().filter(|l| l.attr_str("exception.type").is_some()).collect();
    assert!(logs.len() >= n, "{} exception log records, expected at least {n}: {logs:#?}", logs.len());
    logs
}

/// The spans named `name` the receiver got (at least `n`), once the guard was dropped.
fn spans_named(rx: &Receiver, name: &str, n: usize) -> Vec<Span> {
    let spans = rx.spans_named(name);
    assert!(spans.len() >= n, "{} spans `{name}`, expected at least {n}: {spans:#?}", spans.len());
    spans
}

#[test]
fn an_err_is_captured_on_its_own_span_with_a_stacktrace_and_grouped_by_variant() {
    let (_turn, rx, guard) = start();
    assert!(query(1).is_ok());
    assert!(matches!(query(17), Err(DbError::Timeout(17))), "the Err is returned unchanged");
    assert!(query(18).is_err());
    assert!(query(404).is_err());
    drop(guard);

    let groups = telemark::exceptions::groups();
    let mine = |variant: &str| {
        groups.iter().find(|g| g.site == "capture_exceptions::query" && g.type_name.ends_with(variant))
    };
    let timeout = mine("DbError::Timeout").expect("a Timeout group");
    let not_found = mine("DbError::NotFound").expect("a NotFound group");
    assert_eq!(timeout.count, 2, "ids differ, the group is the same: {groups:?}");
    assert_eq!(not_found.count, 1);
    assert_ne!(timeout.fingerprint, not_found.fingerprint);
    assert_eq!(timeout.site, "capture_exceptions::query");
    assert!(
        timeout.top_frames.iter().any(|f| f.starts_with("capture_exceptions::query")),
        "in-app frames: {:?}",
        timeout.top_frames
    );

    let spans = spans_named(&rx, "query", 4);
    let failed: Vec<&Span> = spans.iter().filter(|s| s.status.is_error()).collect();
    assert_eq!(failed.len(), 3);
    assert!(spans.iter().any(|s| s.status.is_unset() && s.events.is_empty()), "the Ok call is untouched");
    for s in &failed {
        let events: Vec<_> = s.events.iter().filter(|e| e.name == "exception").collect();
        assert_eq!(events.len(), 1, "one exception event, not one from `err` and one from the capture");
        let e = events[0];
        assert!(e.attr_str("exception.type").unwrap().contains("DbError::"), "{e:?}");
        assert_eq!(e.attr("exception.escaped").and_then(|v| v.as_bool()), Some(false));
        let st = e.attr_str("exception.stacktrace").expect("a stacktrace on the event");
        assert!(st.contains("capture_exceptions::query"), "{st}");
        assert!(st.contains("capture_exceptions.rs"), "file and line: {st}");
        assert!(e.attr("telemark.exception.pending").is_none(), "internal attributes do not leak");
    }
    let timeout_span =
        failed.iter().find(|s| s.events[0].attr_str("exception.message") == Some("query 17 timed out"));
    let timeout_span = timeout_span.expect("the span of query(17)");
    assert_eq!(timeout_span.events[0].attr_str("exception.fingerprint"), Some(timeout.fingerprint.as_str()));

    let logs = exception_logs(&rx, 3);
    assert_eq!(logs.len(), 3);
    let log = logs.iter().find(|l| l.body == "query 17 timed out").expect("the log record of query(17)");
    assert_eq!(log.severity_text, "ERROR");
    assert_eq!((&log.trace_id, &log.span_id), (&timeout_span.trace_id, &timeout_span.span_id));
    assert_eq!(log.attr_str("exception.fingerprint"), Some(timeout.fingerprint.as_str()));
    assert!(log.attr_str("exception.stacktrace").unwrap().contains("capture_exceptions::query"));
    assert_eq!(log.attr_str("code.function.name"), Some("capture_exceptions::query"));
    assert_eq!(log.attr("code.line.number").and_then(|v| v.as_i64()).map(|l| l > 0), Some(true));
    assert_eq!(rx.duplicate_keys(), Vec::<String>::new(), "each attribute key once per record");
}

// The other order: `#[capture_exceptions]` first, on an async function.
#[capture_exceptions(level = "warn", backtrace = false)]
#[traced]
async fn fetch(url: &str) -> Result<String, std::io::Error> {
    tokio::task::yield_now().await;
    Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, format!("{url} refused")))
}

#[test]
fn async_functions_in_either_order_capture_inside_their_span() {
    let (_turn, rx, guard) = start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(rt.block_on(fetch("http://10.0.0.1:8080")).is_err());
    assert!(rt.block_on(fetch("http://10.0.0.2:9090")).is_err());
    drop(guard);

    let spans = spans_named(&rx, "fetch", 2);
    let logs = exception_logs(&rx, 2);
    for s in &spans {
        assert!(s.status.is_error());
        let e = s.event("exception").expect("exception event");
        assert_eq!(e.attr_str("exception.type"), Some("std::io::error::Error::ConnectionRefused"));
        assert!(e.attr_str("exception.stacktrace").is_none(), "backtrace = false");
        let log = logs.iter().find(|l| l.span_id == s.span_id).expect("a log record on the fetch span");
        assert_eq!(log.trace_id, s.trace_id);
        assert_eq!(log.severity_text, "WARN", "level = \"warn\"");
        assert_eq!(log.attr_str("exception.fingerprint"), e.attr_str("exception.fingerprint"));
    }
    let groups = telemark::exceptions::groups();
    let refused: Vec<_> = groups.iter().filter(|g| g.type_name.ends_with("ConnectionRefused")).collect();
    assert_eq!(refused.len(), 1, "without a backtrace: type + function + normalised message: {groups:?}");
    assert_eq!(refused[0].count, 2);
}

#[capture_exceptions(ignore = ["cache miss", "io::ErrorKind::WouldBlock"])]
fn cache_get(key: &str) -> Result<String, String> {
    Err(format!("cache miss for {key}"))
}

#[capture_exceptions(ignore = ["io::ErrorKind::WouldBlock"])]
fn read_socket() -> std::io::Result<usize> {
    Err(std::io::Error::new(std::io::ErrorKind::WouldBlock, "try again"))
}

#[capture_exceptions]
fn parse_port(text: &str) -> Result<u16, Box<dyn std::error::Error + Send + Sync>> {
    Ok(text.parse::<u16>()?)
}

/// A caller that handles what the functions it calls return.
#[traced]
fn handler(port: &str) -> u16 {
    let _ = cache_get("user:7");
    let _ = read_socket();
    parse_port(port).unwrap_or(8080)
}

#[test]
fn without_traced_the_exception_lands_on_the_callers_span_which_does_not_fail() {
    let (_turn, rx, guard) = start();
    let ignored_before = telemark::exceptions::ignored();
    assert_eq!(handler("http"), 8080);
    drop(guard);
    assert_eq!(telemark::exceptions::ignored(), ignored_before + 2, "both ignore patterns matched");

    let span = spans_named(&rx, "handler", 1).remove(0);
    assert!(!span.status.is_error(), "the caller handled the error: {:?}", span.status);
    let events: Vec<_> = span.events.iter().filter(|e| e.name == "exception").collect();
    assert_eq!(events.len(), 1, "ignored errors leave no event: {events:?}");
    assert_eq!(events[0].attr_str("exception.type"), Some("ParseIntError"), "the type behind the Box");
    let logs = exception_logs(&rx, 1);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].span_id, span.span_id);
    assert_eq!(logs[0].attr_str("code.function.name"), Some("capture_exceptions::parse_port"));
    assert!(logs.iter().all(|l| !l.body.contains("cache miss") && l.body != "try again"));
}

#[inline(never)]
fn build_anyhow_error(n: u32) -> anyhow::Error {
    anyhow::anyhow!("config entry {n} is invalid")
}

#[capture_exceptions]
fn load_config(n: u32) -> anyhow::Result<()> {
    Err(build_anyhow_error(n).context("loading the config"))
}

#[capture_exceptions(fingerprint = "shared-key")]
fn first() -> Result<(), String> {
    Err("first failed".into())
}

#[capture_exceptions(fingerprint = "shared-key")]
fn second() -> Result<(), String> {
    Err("second failed differently".into())
}

#[test]
fn anyhow_keeps_its_own_backtrace_and_user_fingerprints_override_grouping() {
    // anyhow captures a backtrace where the error is created when this is set (before the first one).
    std::env::set_var("RUST_LIB_BACKTRACE", "1");
    let (_turn, rx, guard) = start();
    assert!(load_config(3).is_err());
    assert!(first().is_err());
    assert!(second().is_err());
    drop(guard);

    let logs = exception_logs(&rx, 3);
    let anyhow = logs.iter().find(|l| l.body == "loading the config").expect("the anyhow error");
    assert_eq!(anyhow.attr_str("exception.chain"), Some("config entry 3 is invalid"));
    let st = anyhow.attr_str("exception.stacktrace").expect("a stacktrace");
    assert!(st.contains("build_anyhow_error"), "anyhow's own backtrace, from where the error was made: {st}");

    let groups = telemark::exceptions::groups();
    let shared: Vec<_> = groups.iter().filter(|g| g.type_name == "alloc::string::String").collect();
    assert_eq!(shared.len(), 1, "one group for both functions: {groups:?}");
    assert_eq!(shared[0].count, 2);
}

#[traced]
#[capture_exceptions(fingerprint = "worker-crash")]
fn worker(items: &[u32]) -> u32 {
    items.iter().map(|i| 100 / i).sum()
}

#[test]
fn a_panic_inside_is_captured_with_the_functions_options_and_keeps_unwinding() {
    let (_turn, rx, guard) = start();
    let joined = std::thread::spawn(|| worker(&[4, 0])).join();
    assert!(joined.is_err(), "the panic propagates unchanged");
    drop(guard);

    let span = spans_named(&rx, "worker", 1).remove(0);
    assert!(span.status.is_error());
    let e = span.event("exception").expect("exception event");
    assert_eq!(e.attr("exception.escaped").and_then(|v| v.as_bool()), Some(true));
    let st = e.attr_str("exception.stacktrace").expect("the panicking thread's backtrace");
    assert!(st.contains("capture_exceptions::worker"), "{st}");
    assert!(!st.contains("core::panicking"), "the panic machinery is cut: {st}");

    let logs = exception_logs(&rx, 1);
    let log = logs.iter().find(|l| l.attr_str("exception.type") == Some("panic")).expect("the panic");
    assert_eq!(log.span_id, span.span_id);
    assert_eq!(log.attr("exception.escaped").and_then(|v| v.as_bool()), Some(true));
    let groups = telemark::exceptions::groups();
    let g = groups.iter().find(|g| g.type_name == "panic").expect("a panic group");
    assert_eq!(log.attr_str("exception.fingerprint"), Some(g.fingerprint.as_str()));
    assert_eq!(e.attr_str("exception.fingerprint"), Some(g.fingerprint.as_str()));
    assert_eq!(g.site, "capture_exceptions::worker");
}

#[capture_exceptions]
fn flaky(n: u32) -> Result<(), DbError> {
    Err(DbError::Timeout(u64::from(n)))
}

#[test]
fn a_burst_is_one_group_and_only_its_first_occurrences_pay_for_a_backtrace() {
    let (_turn, rx, guard) = start();
    let suppressed_before = telemark::stats().exceptions_suppressed;
    for n in 0..200 {
        assert!(flaky(n).is_err());
    }
    drop(guard);
    let groups = telemark::exceptions::groups();
    let burst: Vec<_> = groups.iter().filter(|g| g.site == "capture_exceptions::flaky").collect();
    assert_eq!(burst.len(), 1, "with and without a backtrace, one group: {groups:?}");
    assert_eq!(burst[0].count, 200);
    assert!(!burst[0].top_frames.is_empty());
    // The default rate limit exports 10 per minute; the rest are counted.
    let logs = exception_logs(&rx, 10);
    let exported: Vec<_> = logs
        .iter()
        .filter(|l| l.attr_str("code.function.name") == Some("capture_exceptions::flaky"))
        .collect();
    assert_eq!(exported.len(), 10);
    assert!(exported
        .iter()
        .all(|l| l.attr_str("exception.fingerprint") == Some(burst[0].fingerprint.as_str())));
    assert_eq!(telemark::stats().exceptions_suppressed - suppressed_before, 190);
}
