//! `telemark::exceptions::record`: on the current span, grouped, rate-limited, ignored by pattern,
//! and exported as log records with the trace context — checked at the OTLP receiver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use support::Receiver;
use telemark::{traced, Config, Protocol};

/// A pipeline to `rx` whose guard, when dropped, waits until everything was delivered (a bound
/// reached only when telemark is stuck): what the receiver has then is final.
fn config(rx: &Receiver) -> Config {
    let mut config = Config::default().otlp(rx.grpc_endpoint(), Protocol::Grpc);
    config.export.shutdown_timeout = telemark::QUERY_WAIT;
    config
}

/// telemark's pipeline is process-wide: these tests take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[traced]
fn load_user(id: u32) {
    let err = std::io::Error::new(std::io::ErrorKind::NotFound, format!("user {id} not found"));
    telemark::exceptions::record(&err);
}

#[traced]
fn poll_socket() {
    let err = std::io::Error::new(std::io::ErrorKind::WouldBlock, "try again");
    telemark::exceptions::record(&err);
}

#[test]
fn recorded_errors_are_grouped_rate_limited_ignored_and_exported_with_their_trace() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let rx = Receiver::start();
    let mut config = config(&rx);
    config.exceptions.ignore = vec!["io::ErrorKind::WouldBlock".into()];
    config.exceptions.rate_limit = 2;
    let guard = telemark::init(config).unwrap();
    let ignored_before = telemark::exceptions::ignored();

    for id in 1..=5 {
        load_user(id);
    }
    poll_socket();
    drop(guard);

    // One group, counted five times, although only two occurrences were exported.
    let groups = telemark::exceptions::groups();
    let group = groups.iter().find(|g| g.type_name.ends_with("Error::NotFound")).expect("a NotFound group");
    assert_eq!(group.count, 5, "{groups:?}");
    assert_eq!(group.sample_message, "user 1 not found");
    assert_eq!(group.site, "exceptions_otlp::load_user");
    assert!(groups.iter().all(|g| !g.type_name.ends_with("WouldBlock")), "ignored errors form no group");
    assert_eq!(telemark::exceptions::ignored(), ignored_before + 1);

    let spans = rx.spans();
    let loads: Vec<_> = spans.iter().filter(|s| s.name == "load_user").collect();
    assert_eq!(loads.len(), 5);
    for s in &loads {
        assert!(s.status.is_error());
        let e = s.event("exception").expect("exception event on the span");
        assert_eq!(e.attr_str("exception.fingerprint"), Some(group.fingerprint.as_str()));
        assert_eq!(e.attr("exception.escaped").and_then(|v| v.as_bool()), Some(false));
    }

    let logs = rx.logs();
    let exported: Vec<_> = logs.iter().filter(|l| l.attr_str("exception.fingerprint").is_some()).collect();
    assert_eq!(exported.len(), 2, "rate limit of 2 per window: {exported:?}");
    assert_eq!(exported[0].severity_text, "ERROR");
    assert_eq!(exported[0].attr("exception.new_group").and_then(|v| v.as_bool()), Some(true));
    assert_eq!(exported[1].attr_i64("exception.group_count"), Some(2));
    for l in &exported {
        assert!(
            loads.iter().any(|s| s.span_id == l.span_id && s.trace_id == l.trace_id),
            "log carries its span"
        );
        assert!(l.attr_str("exception.type").unwrap().ends_with("Error::NotFound"));
    }
    assert!(logs.iter().all(|l| l.body != "try again"), "an ignored error is never exported");
}

#[traced]
fn crashes(job: u32) {
    panic!("job {job} hit an impossible state");
}

#[test]
fn panics_on_any_thread_are_captured_grouped_and_still_propagate() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let rx = Receiver::start();
    let guard = telemark::init(config(&rx)).unwrap();
    for job in [1, 2] {
        let joined = std::thread::spawn(move || crashes(job)).join();
        assert!(joined.is_err(), "the panic still propagates");
    }
    // A panic payload telemark's hook never saw (a supervisor's report, say) is recorded by hand.
    let payload: Box<dyn std::any::Any + Send> = Box::new("worker 3 crashed");
    telemark::exceptions::record_panic(payload.as_ref());
    drop(guard);

    let groups = telemark::exceptions::groups();
    let crash =
        groups.iter().find(|g| g.site == "exceptions_otlp::crashes").expect("a group for the crashes");
    assert_eq!(crash.type_name, "panic");
    assert_eq!(crash.count, 2, "two jobs, one group: the job number is normalised away");

    let spans = rx.spans();
    let crashes: Vec<_> = spans.iter().filter(|s| s.name == "crashes").collect();
    let logs = rx.logs();
    let panics: Vec<_> = logs.iter().filter(|l| l.attr_str("exception.type") == Some("panic")).collect();
    assert_eq!(panics.len(), 3, "{panics:?}");
    for p in panics.iter().filter(|p| p.body.starts_with("job ")) {
        assert_eq!(p.attr("exception.escaped").and_then(|v| v.as_bool()), Some(true));
        assert!(p.attr_str("code.file.path").unwrap().ends_with("exceptions_otlp.rs"));
        assert!(crashes.iter().any(|s| s.span_id == p.span_id && s.trace_id == p.trace_id), "{p:?}");
        assert_eq!(p.attr_str("exception.fingerprint"), Some(crash.fingerprint.as_str()));
    }
    assert!(panics.iter().any(|p| p.body == "worker 3 crashed" && p.trace_id.is_empty()));
}

/// An exporter that tells when it is first called, and holds that call until the test opens it:
/// telemark's thread is busy for as long as the test wants.
struct Gate {
    entered: std::sync::mpsc::SyncSender<()>,
    open: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl telemark::export::Exporter for Gate {
    fn export(
        &mut self,
        _: &[telemark::export::FinishedSpan],
        _: &[telemark::export::LogEntry],
    ) -> Result<(), telemark::export::ExportError> {
        let _ = self.entered.try_send(());
        let (open, opened) = &*self.open;
        let _held = opened.wait_while(open.lock().unwrap(), |o| !*o).unwrap();
        Ok(())
    }
}

#[traced]
fn late_failure() {
    telemark::exceptions::record(&std::io::Error::other("recorded while telemark was busy"));
}

/// Runs `query` right after `late_failure()` was called, while telemark's thread is held busy (in
/// an exporter) for longer than any fixed wait a query might have had — it was a second.
fn while_busy<T: Send + 'static>(query: impl FnOnce() -> T) -> T {
    let (entered, is_busy) = std::sync::mpsc::sync_channel(1);
    let open = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let gate = Gate { entered, open: open.clone() };
    let guard = telemark::init(Config::default().console(false).exporter(gate)).unwrap();
    // telemark's thread takes this span and stays in the exporter.
    drop(telemark::span("keeps telemark busy"));
    is_busy.recv().unwrap();
    late_failure();
    let opener = std::thread::spawn(move || {
        // Only makes the wait long; nothing below depends on how long.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        *open.0.lock().unwrap() = true;
        open.1.notify_all();
    });
    let answer = query();
    opener.join().unwrap();
    drop(guard);
    answer
}

#[test]
fn queries_wait_for_what_was_recorded_before_them_however_busy_telemark_is() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let groups = while_busy(telemark::exceptions::groups);
    let group = groups.iter().find(|g| g.sample_message == "recorded while telemark was busy");
    assert_eq!(group.map(|g| g.count), Some(1), "{groups:#?}");

    let before = telemark::metrics::snapshot();
    let exceptions = |m: &[telemark::metrics::FunctionMetrics]| {
        m.iter().find(|m| m.function == "exceptions_otlp::late_failure").map_or(0, |m| m.exceptions)
    };
    let after = while_busy(telemark::metrics::snapshot);
    assert_eq!(exceptions(&after), exceptions(&before) + 1, "metrics::snapshot counts it");

    let before = telemark::stats();
    let after = while_busy(telemark::stats);
    assert_eq!(after.spans_recorded, before.spans_recorded + 2, "stats counts both spans: {after:?}");
}
