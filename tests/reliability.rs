//! The OTLP export loses nothing it could keep, and says so: a backend that is down, black-holed,
//! failing with each kind of answer, or too slow for the queue, against the in-process receiver.
//! Every case ends by checking, from `telemark::stats()` after a flush or shutdown, that
//! `recorded = exported + dropped` and that `dropped` is exactly what its reasons say.
//!
//! No case sleeps or waits for a fixed time: the backend is held down while the test records,
//! and `telemark::flush` (which answers once everything queued was delivered, or as soon as an
//! attempt failed) and shutdown are the barriers. Timings are printed, never asserted.
//!
//! `figures` (ignored) is the measurement program behind RELIABILITY.md:
//! `cargo test --release -p telemark-tests --test reliability -- --ignored --nocapture figures`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::Receiver;
use telemark::{traced, Config, Protocol, Stats};

/// telemark's pipeline is process-wide: these tests take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn endpoint(rx: &Receiver, protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => rx.grpc_endpoint(),
        Protocol::HttpProtobuf => rx.http_endpoint(),
    }
}

/// Spans and logs to `rx`, in batches of `batch`, sealed by size or by a flush only; no metrics.
fn config(rx: &Receiver, protocol: Protocol, batch: usize) -> Config {
    let mut cfg = Config::default().service_name("reliability").otlp(endpoint(rx, protocol), protocol);
    cfg.metrics.enabled = false;
    cfg.export.max_batch = batch;
    cfg.export.delay = telemark::QUERY_WAIT;
    cfg.export.shutdown_timeout = telemark::QUERY_WAIT;
    cfg
}

#[traced]
fn step(seq: i64) {
    tracing::info!(seq, "step");
}

#[traced]
fn quiet(seq: i64, pad: &str) {
    let _ = (seq, pad);
}

/// What changed between two snapshots, for spans and logs, checked to balance exactly:
/// recorded = exported + dropped, and dropped = the sum of its reasons.
#[derive(Debug, Default, PartialEq, Eq)]
struct Delta {
    recorded: u64,
    exported: u64,
    dropped: u64,
    queue_full: u64,
    retries_exhausted: u64,
    rejected: u64,
    shutdown: u64,
    buffer_full: u64,
    too_large: u64,
}

fn spans(before: &Stats, after: &Stats) -> Delta {
    let (b, a) = (&before.spans_dropped_by, &after.spans_dropped_by);
    balanced(
        "spans",
        Delta {
            recorded: after.spans_recorded - before.spans_recorded,
            exported: after.spans_exported - before.spans_exported,
            dropped: after.spans_dropped - before.spans_dropped,
            queue_full: a.queue_full - b.queue_full,
            retries_exhausted: a.retries_exhausted - b.retries_exhausted,
            rejected: a.rejected - b.rejected,
            shutdown: a.shutdown - b.shutdown,
            buffer_full: a.buffer_full - b.buffer_full,
            too_large: a.too_large - b.too_large,
        },
    )
}

fn logs(before: &Stats, after: &Stats) -> Delta {
    let (b, a) = (&before.logs_dropped_by, &after.logs_dropped_by);
    balanced(
        "logs",
        Delta {
            recorded: after.logs_recorded - before.logs_recorded,
            exported: after.logs_exported - before.logs_exported,
            dropped: after.logs_dropped - before.logs_dropped,
            queue_full: a.queue_full - b.queue_full,
            retries_exhausted: a.retries_exhausted - b.retries_exhausted,
            rejected: a.rejected - b.rejected,
            shutdown: a.shutdown - b.shutdown,
            buffer_full: a.buffer_full - b.buffer_full,
            too_large: a.too_large - b.too_large,
        },
    )
}

fn balanced(what: &str, d: Delta) -> Delta {
    assert_eq!(d.recorded, d.exported + d.dropped, "{what}: recorded = exported + dropped: {d:?}");
    let reasons = d.queue_full + d.retries_exhausted + d.rejected + d.shutdown + d.buffer_full + d.too_large;
    assert_eq!(d.dropped, reasons, "{what}: dropped = the sum of its reasons: {d:?}");
    d
}

/// The scenario `an_outage_loses_nothing_and_is_said_twice` runs in a child process, whose stderr
/// it reads: the backend is down while 1000 spans and logs are recorded, then comes back.
#[test]
#[ignore = "run in a child process by an_outage_loses_nothing_and_is_said_twice"]
fn scenario_outage_then_recovery() {
    const N: i64 = 1000;
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let mut rx = Receiver::start();
        let before = telemark::stats();
        let guard = telemark::init(config(&rx, protocol, 64)).unwrap();
        rx.go_down();
        let t0 = Instant::now();
        for seq in 0..N {
            step(seq);
        }
        // Sealed, tried, refused: flush says so at once, and keeps everything.
        assert!(!telemark::flush(telemark::QUERY_WAIT), "{protocol:?}: the backend is down");
        let held = telemark::stats();
        assert_eq!(held.spans_dropped, before.spans_dropped, "{protocol:?}: nothing dropped while down");
        assert_eq!(held.queue_depth, 2 * N as u64, "{protocol:?}: all kept: {held:?}");
        rx.come_back();
        let back = Instant::now();
        assert!(telemark::flush(telemark::QUERY_WAIT), "{protocol:?}: delivered once it is back");
        println!(
            "{protocol:?}: down {:?}, delivered {:?} after the backend came back",
            back - t0,
            back.elapsed()
        );
        assert!(guard.shutdown_within(telemark::QUERY_WAIT), "{protocol:?}");
        let after = telemark::stats();
        let s = spans(&before, &after);
        let l = logs(&before, &after);
        assert_eq!((s.exported, s.dropped), (N as u64, 0), "{protocol:?}: {s:?}");
        assert_eq!((l.exported, l.dropped), (N as u64, 0), "{protocol:?}: {l:?}");
        let seqs: Vec<i64> = rx.spans().iter().map(|s| s.attr_i64("seq").unwrap()).collect();
        assert_eq!(seqs, (0..N).collect::<Vec<_>>(), "{protocol:?}: every span once, in order");
        let seqs: Vec<i64> = rx.logs().iter().map(|l| l.attr_i64("seq").unwrap()).collect();
        assert_eq!(seqs, (0..N).collect::<Vec<_>>(), "{protocol:?}: every log record once, in order");
        let _ = rx.take_errors();
    }
}

#[test]
fn an_outage_loses_nothing_and_is_said_twice() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "scenario_outage_then_recovery", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    print!("{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("telemark: ")).collect();
    // Per protocol: one line when it fails, one when it recovers.
    assert_eq!(lines.len(), 4, "{stderr}");
    for pair in lines.chunks(2) {
        assert!(pair[0].contains(" is failing ("), "{}", pair[0]);
        assert!(pair[0].contains("are kept (up to 64 MiB)"), "{}", pair[0]);
        assert!(pair[1].contains(" recovered after "), "{}", pair[1]);
        assert!(pair[1].ends_with("; nothing was lost"), "{}", pair[1]);
    }
}

#[test]
fn a_full_queue_drops_the_oldest_and_delivers_the_newest() {
    let _t = turn();
    const N: i64 = 400;
    const BATCH: usize = 10;
    let mut rx = Receiver::start();
    let mut cfg = config(&rx, Protocol::Grpc, BATCH);
    cfg.logging.level = "off".parse().unwrap();
    cfg.export.max_queue_bytes = 64 << 10;
    let before = telemark::stats();
    let guard = telemark::init(cfg).unwrap();
    rx.go_down();
    // About 1 KiB a span: the queue holds some six batches of the forty.
    let pad = "p".repeat(1000);
    for seq in 0..N {
        quiet(seq, &pad);
    }
    assert!(!telemark::flush(telemark::QUERY_WAIT), "the backend is down");
    let held = telemark::stats();
    assert!(held.queue_bytes <= 64 << 10, "{held:?}");
    rx.come_back();
    assert!(telemark::flush(telemark::QUERY_WAIT));
    guard.shutdown_within(telemark::QUERY_WAIT);
    let after = telemark::stats();
    let s = spans(&before, &after);
    let seqs: Vec<i64> = rx.spans().iter().map(|s| s.attr_i64("seq").unwrap()).collect();
    assert_eq!(s.exported, seqs.len() as u64, "{s:?}");
    assert_eq!(s.dropped, s.queue_full, "only the full queue dropped: {s:?}");
    assert!(s.queue_full > 0 && s.queue_full % BATCH as u64 == 0, "whole batches: {s:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    assert_eq!(seqs.last(), Some(&(N - 1)), "the newest arrived");
    // The newest batches arrived whole; at most one older batch (being tried when the queue
    // filled, so it could not be dropped then) arrived before them.
    let tail = seqs.iter().rev().zip((0..N).rev()).take_while(|(s, n)| *s == n).count();
    assert!(seqs.len() - tail <= BATCH, "the newest arrived, not the oldest: {seqs:?}");
    println!("queue of 64 KiB: {} of {N} spans delivered, {} dropped (queue_full)", s.exported, s.queue_full);
    let _ = rx.take_errors();
}

/// One span sent to a backend that answers `fail` first, then accepts: the requests the
/// receiver saw, and what was counted.
fn one_span_against(
    protocol: Protocol,
    fail: impl FnOnce(&Receiver),
) -> (Vec<support::RequestInfo>, Delta, Stats, Stats, Duration) {
    let _t = turn();
    let rx = Receiver::start();
    let mut cfg = config(&rx, protocol, 1);
    cfg.logging.level = "off".parse().unwrap();
    let before = telemark::stats();
    let guard = telemark::init(cfg).unwrap();
    fail(&rx);
    let t0 = Instant::now();
    quiet(1, "x");
    guard.shutdown_within(telemark::QUERY_WAIT);
    let took = t0.elapsed();
    let after = telemark::stats();
    let requests: Vec<_> =
        rx.requests().into_iter().filter(|r| r.signal == support::Signal::Traces).collect();
    let _ = rx.take_errors();
    (requests, spans(&before, &after), before, after, took)
}

#[test]
fn each_answer_is_retried_or_not_as_the_specification_says() {
    use tonic::Code;
    // (what, protocol, how the backend fails, requests it sees, exported, rejected)
    type Setup = Box<dyn FnOnce(&Receiver)>;
    let cases: Vec<(&str, Protocol, Setup, usize, u64, u64)> = vec![
        (
            "UNAVAILABLE twice",
            Protocol::Grpc,
            Box::new(|rx| rx.fail_next(2, 200, None, Code::Unavailable)),
            3,
            1,
            0,
        ),
        (
            "RESOURCE_EXHAUSTED without RetryInfo: final",
            Protocol::Grpc,
            Box::new(|rx| rx.fail_next(1, 200, None, Code::ResourceExhausted)),
            1,
            0,
            1,
        ),
        (
            "RESOURCE_EXHAUSTED with RetryInfo 200ms",
            Protocol::Grpc,
            Box::new(|rx| {
                rx.fail_next_with_retry_info(1, Code::ResourceExhausted, Duration::from_millis(200))
            }),
            2,
            1,
            0,
        ),
        (
            "HTTP 503 twice",
            Protocol::HttpProtobuf,
            Box::new(|rx| rx.fail_next(2, 503, None, Code::Ok)),
            3,
            1,
            0,
        ),
        (
            "HTTP 429 with Retry-After: 1",
            Protocol::HttpProtobuf,
            Box::new(|rx| rx.fail_next(1, 429, Some("1"), Code::Ok)),
            2,
            1,
            0,
        ),
        (
            "HTTP 400: final",
            Protocol::HttpProtobuf,
            Box::new(|rx| rx.fail_next(1, 400, None, Code::Ok)),
            1,
            0,
            1,
        ),
        (
            "INVALID_ARGUMENT: final",
            Protocol::Grpc,
            Box::new(|rx| rx.fail_next(1, 200, None, Code::InvalidArgument)),
            1,
            0,
            1,
        ),
    ];
    for (what, protocol, setup, seen, exported, rejected) in cases {
        let (requests, d, before, after, took) = one_span_against(protocol, setup);
        println!("{what}: {} requests, {took:?} to shut down", requests.len());
        assert_eq!(requests.len(), seen, "{what}: {requests:#?}");
        assert_eq!((d.exported, d.rejected, d.dropped), (exported, rejected, rejected), "{what}: {d:?}");
        let failed = seen as u64 - exported;
        assert_eq!(
            after.export_failures - before.export_failures,
            failed,
            "{what}: one failure per refused attempt"
        );
        assert_eq!(
            after.export_failures_by.status - before.export_failures_by.status,
            failed,
            "{what}: refused by a status"
        );
    }
}

#[test]
fn a_partial_success_counts_its_rejected_items() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let _t = turn();
        let rx = Receiver::start();
        let mut cfg = config(&rx, protocol, 3);
        cfg.logging.level = "off".parse().unwrap();
        rx.set_partial_success(Some((1, "one too old")));
        let before = telemark::stats();
        let guard = telemark::init(cfg).unwrap();
        for seq in 0..3 {
            quiet(seq, "x");
        }
        assert!(!guard.shutdown_within(telemark::QUERY_WAIT), "{protocol:?}: one was rejected");
        let d = spans(&before, &telemark::stats());
        assert_eq!((d.exported, d.rejected, d.dropped), (2, 1, 1), "{protocol:?}: {d:?}");
        assert_eq!(rx.requests().len(), 1, "{protocol:?}: a partial success is not retried");
        let _ = rx.take_errors();
    }
}

#[test]
fn shutdown_with_a_black_holed_backend_returns_and_counts_what_was_left() {
    let _t = turn();
    const N: i64 = 300;
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let mut rx = Receiver::start();
        let mut cfg = config(&rx, protocol, 50);
        cfg.exporters.otlp.timeout = Duration::from_secs(60);
        cfg.metrics.enabled = true;
        let timeout = Duration::from_millis(500);
        cfg.export.shutdown_timeout = timeout;
        let before = telemark::stats();
        let guard = telemark::init(cfg).unwrap();
        rx.black_hole();
        for seq in 0..N {
            step(seq);
        }
        let t0 = Instant::now();
        drop(guard);
        let took = t0.elapsed();
        println!("{protocol:?}: dropping the guard took {took:?} (shutdown_timeout {timeout:?})");
        let after = telemark::stats();
        let s = spans(&before, &after);
        let l = logs(&before, &after);
        assert_eq!((s.exported, s.shutdown, s.dropped), (0, N as u64, N as u64), "{protocol:?}: {s:?}");
        assert_eq!((l.exported, l.shutdown, l.dropped), (0, N as u64, N as u64), "{protocol:?}: {l:?}");
        assert_eq!(after.queue_depth, 0, "nothing left queued");
        assert_eq!(after.metric_pushes_dropped - before.metric_pushes_dropped, 1, "the final push");
        rx.come_back();
        let _ = rx.take_errors();
    }
}

#[test]
fn batches_older_than_max_retry_time_are_dropped_as_retries_exhausted() {
    let _t = turn();
    let mut rx = Receiver::start();
    let mut cfg = config(&rx, Protocol::Grpc, 10);
    cfg.logging.level = "off".parse().unwrap();
    cfg.export.max_retry_time = Duration::from_secs(1);
    let before = telemark::stats();
    let guard = telemark::init(cfg).unwrap();
    rx.go_down();
    for seq in 0..20 {
        quiet(seq, "x");
    }
    assert!(!telemark::flush(telemark::QUERY_WAIT));
    // Retried with backoff until they are a second old, then given up: shutdown waits for that
    // (the backend never returns) and finds nothing left.
    let t0 = Instant::now();
    let delivered = guard.shutdown_within(telemark::QUERY_WAIT);
    println!("shutdown took {:?}", t0.elapsed());
    let d = spans(&before, &telemark::stats());
    assert!(!delivered, "{d:?}");
    assert_eq!((d.exported, d.retries_exhausted, d.dropped), (0, 20, 20), "{d:?}");
    rx.come_back();
    let _ = rx.take_errors();
}

#[test]
fn a_full_ring_counts_as_recorded_and_dropped() {
    let _t = turn();
    let rx = Receiver::start();
    let mut cfg = config(&rx, Protocol::Grpc, 512);
    cfg.logging.level = "off".parse().unwrap();
    cfg.export.buffer_per_thread = 16;
    let before = telemark::stats();
    let guard = telemark::init(cfg).unwrap();
    // A fresh thread gets a ring of the configured (tiny) size; a flood overflows it.
    std::thread::spawn(|| {
        for seq in 0..20_000 {
            quiet(seq, "x");
        }
    })
    .join()
    .unwrap();
    // False when the ring dropped: that is a loss too.
    let _ = guard.shutdown_within(telemark::QUERY_WAIT);
    let d = spans(&before, &telemark::stats());
    assert_eq!(d.recorded, 20_000, "every span is recorded, delivered or not: {d:?}");
    assert_eq!(d.dropped, d.buffer_full, "{d:?}");
    assert_eq!(d.exported as usize, rx.spans().len(), "{d:?}");
    println!("ring of 16: {} of 20000 dropped (buffer_full)", d.buffer_full);
}

#[test]
fn the_counts_are_telemarks_own_metrics_on_the_prometheus_endpoint() {
    use std::io::{Read as _, Write as _};
    let _t = turn();
    let rx = Receiver::start();
    let mut cfg = config(&rx, Protocol::Grpc, 64);
    cfg.metrics.prometheus.listen = Some("127.0.0.1:0".into());
    let guard = telemark::init(cfg).unwrap();
    rx.fail_next(1, 200, None, tonic::Code::Unavailable);
    for seq in 0..10 {
        step(seq);
    }
    // The first flush may or may not see the failed attempt (false, or true once the retry
    // went through); the second has nothing left that fails.
    let _ = telemark::flush(telemark::QUERY_WAIT);
    assert!(telemark::flush(telemark::QUERY_WAIT), "delivered");
    let s = telemark::stats();
    let mut conn = std::net::TcpStream::connect(guard.prometheus_address().unwrap()).unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    let value = |series: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '));
        line.and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    assert_eq!(value("otel_sdk_exporter_span_exported_total"), s.spans_exported);
    assert_eq!(value("otel_sdk_exporter_log_exported_total"), s.logs_exported);
    assert_eq!(
        value("otel_sdk_exporter_span_exported_total{error_type=\"queue_full\"}"),
        s.spans_dropped_by.queue_full
    );
    assert_eq!(value("telemark_exporter_failures_total{error_type=\"status\"}"), s.export_failures_by.status);
    assert_eq!(value("otel_sdk_processor_span_queue_size"), 0);
    assert_eq!(value("telemark_exporter_queue_capacity_bytes"), 64 << 20);
    assert!(value("otel_sdk_exporter_operation_duration_seconds_count") >= 2, "spans and logs delivered");
    assert_eq!(
        value("otel_sdk_exporter_operation_duration_seconds_count{error_type=\"status\"}"),
        s.export_failures_by.status,
        "each failed attempt is timed, by its error.type"
    );
    assert!(text.contains("# TYPE otel_sdk_exporter_operation_duration_seconds histogram"), "{text}");
    assert!(guard.shutdown_within(telemark::QUERY_WAIT));
    let _ = rx.take_errors();
}

#[test]
fn a_signal_being_retried_does_not_hold_back_another() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let _t = turn();
        let rx = Receiver::start();
        // Spans are refused (503 / UNAVAILABLE: retried) for as long as it lasts; logs are taken.
        rx.fail_only(Some(support::Signal::Traces));
        rx.set_http_status(503);
        rx.set_grpc_error(Some(tonic::Code::Unavailable));
        let before = telemark::stats();
        let guard = telemark::init(config(&rx, protocol, 10)).unwrap();
        for seq in 0..100 {
            step(seq);
        }
        assert!(!telemark::flush(telemark::QUERY_WAIT), "{protocol:?}: spans are failing");
        // The logs went through while the spans were being retried.
        assert_eq!(rx.wait_log_count(100).len(), 100, "{protocol:?}");
        let held = telemark::stats();
        assert_eq!(held.spans_exported - before.spans_exported, 0, "{protocol:?}: {held:?}");
        assert_eq!(held.queue_depth, 100, "{protocol:?}: the spans are kept: {held:?}");
        rx.set_http_status(200);
        rx.set_grpc_error(None);
        // An attempt already in flight when the receiver recovered still fails, and `flush`
        // reports the first failure it sees: the next ones find the receiver healthy.
        assert!((0..5).any(|_| telemark::flush(telemark::QUERY_WAIT)), "{protocol:?}");
        assert!(guard.shutdown_within(telemark::QUERY_WAIT));
        let after = telemark::stats();
        let (s, l) = (spans(&before, &after), logs(&before, &after));
        assert_eq!((s.exported, s.dropped, l.exported, l.dropped), (100, 0, 100, 0), "{protocol:?}");
        let _ = rx.take_errors();
    }
}

#[test]
fn shutdown_delivers_one_signal_and_counts_the_other_it_could_not() {
    let _t = turn();
    let rx = Receiver::start();
    // Log records are refused (retried until the deadline); spans are taken at once (and their
    // sender is done before the logs' is given up).
    rx.fail_only(Some(support::Signal::Logs));
    rx.set_grpc_error(Some(tonic::Code::Unavailable));
    let mut cfg = config(&rx, Protocol::Grpc, 10);
    cfg.metrics.enabled = true;
    let before = telemark::stats();
    let guard = telemark::init(cfg).unwrap();
    for seq in 0..50 {
        step(seq);
    }
    let t0 = Instant::now();
    assert!(!guard.shutdown_within(Duration::from_millis(500)));
    println!("shutdown took {:?} (timeout 500ms)", t0.elapsed());
    let after = telemark::stats();
    let (s, l) = (spans(&before, &after), logs(&before, &after));
    assert_eq!((s.exported, s.dropped), (50, 0), "{s:?}");
    assert_eq!((l.exported, l.shutdown, l.dropped), (0, 50, 50), "{l:?}");
    assert_eq!(
        after.metric_pushes_exported - before.metric_pushes_exported,
        1,
        "the final push went through"
    );
    assert_eq!(after.queue_depth, 0);
    let _ = rx.take_errors();
}

/// An exporter of the program's own that blocks in `export` until released: telemark's thread
/// stuck in it. Says when it is dropped (telemark's thread ended).
struct Stuck(std::sync::Arc<(Mutex<bool>, std::sync::Condvar)>, std::sync::mpsc::Sender<()>);

impl Drop for Stuck {
    fn drop(&mut self) {
        let _ = self.1.send(());
    }
}

impl telemark::export::Exporter for Stuck {
    fn export(
        &mut self,
        spans: &[telemark::export::FinishedSpan],
        _: &[telemark::export::LogEntry],
    ) -> Result<(), telemark::export::ExportError> {
        if !spans.is_empty() {
            let (released, changed) = &*self.0;
            let mut r = released.lock().unwrap();
            while !*r {
                r = changed.wait(r).unwrap();
            }
        }
        Ok(())
    }
}

#[test]
fn shutdown_with_telemarks_thread_stuck_returns_by_its_deadline() {
    let _t = turn();
    let gate = std::sync::Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let (ended_tx, ended) = std::sync::mpsc::channel();
    let mut cfg = Config::default().service_name("stuck").exporter(Stuck(gate.clone(), ended_tx));
    cfg.exporters.console.enabled = telemark::config::Switch::Off;
    cfg.metrics.enabled = false;
    let timeout = Duration::from_millis(300);
    cfg.export.shutdown_timeout = timeout;
    let guard = telemark::init(cfg).unwrap();
    quiet(1, "x");
    let t0 = Instant::now();
    // The barrier, then the shutdown, are not answered: one deadline for both.
    let delivered = guard.shutdown_within(timeout);
    let took = t0.elapsed();
    println!("shutdown with telemark's thread stuck took {took:?} (timeout {timeout:?})");
    assert!(!delivered, "telemark's thread never answered");
    let (released, changed) = &*gate;
    *released.lock().unwrap() = true;
    changed.notify_all();
    // Released, the old thread finishes its shutdown and ends before the next test starts one.
    ended.recv_timeout(support::WAIT).expect("telemark's old thread ended");
}

/// The measurements behind RELIABILITY.md (not tests: nothing is asserted but the accounting).
/// Each scenario runs in a child process of its own (a fresh pipeline, its own peak RSS, its
/// stderr read for telemark's lines); `figures` runs them all and prints the results:
///
/// `cargo test --release -p telemark-tests --test reliability -- --ignored --nocapture figures`
mod figures {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Per-call latencies: 10 ns buckets up to 100 µs, the rest counted past it (and the max).
    #[derive(Clone)]
    struct Hist {
        counts: Vec<u64>,
        over: u64,
        max: u64,
        n: u64,
    }

    impl Hist {
        fn new() -> Hist {
            Hist { counts: vec![0; 10_000], over: 0, max: 0, n: 0 }
        }
        fn record(&mut self, ns: u64) {
            self.n += 1;
            self.max = self.max.max(ns);
            match self.counts.get_mut((ns / 10) as usize) {
                Some(c) => *c += 1,
                None => self.over += 1,
            }
        }
        fn merge(&mut self, o: &Hist) {
            for (a, b) in self.counts.iter_mut().zip(&o.counts) {
                *a += b;
            }
            self.over += o.over;
            self.max = self.max.max(o.max);
            self.n += o.n;
        }
        /// The `q` quantile in ns (`>100000` past the buckets).
        fn quantile(&self, q: f64) -> String {
            let want = (self.n as f64 * q).ceil() as u64;
            let mut seen = 0;
            for (i, c) in self.counts.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return format!("{}", (i + 1) * 10);
                }
            }
            ">100000".into()
        }
    }

    fn vmhwm_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn fig(key: &str, value: impl std::fmt::Display) {
        println!("FIG {key} = {value}");
    }

    fn base(rx: &Receiver) -> Config {
        let mut cfg = Config::default().service_name("figures").otlp(rx.grpc_endpoint(), Protocol::Grpc);
        cfg.metrics.enabled = false;
        cfg.logging.level = "off".parse().unwrap();
        cfg
    }

    fn accounting(before: &Stats, after: &Stats) {
        let s = spans(before, after);
        fig("spans recorded", s.recorded);
        fig("spans exported", s.exported);
        fig(
            "spans dropped (buffer_full / queue_full / retries_exhausted / rejected / shutdown)",
            format!(
                "{} ({} / {} / {} / {} / {})",
                s.dropped, s.buffer_full, s.queue_full, s.retries_exhausted, s.rejected, s.shutdown
            ),
        );
        fig("export failures (timeout / connection / status)", {
            let (a, b) = (&after.export_failures_by, &before.export_failures_by);
            format!(
                "{} ({} / {} / {})",
                after.export_failures - before.export_failures,
                a.timeout - b.timeout,
                a.connection - b.connection,
                a.status - b.status
            )
        });
    }

    /// Two threads record `per_thread` spans a second each, in ticks of 1 ms, timing every
    /// call into the histogram of the phase it falls in.
    fn load(
        per_thread: u64,
        phase: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
    ) -> Vec<std::thread::JoinHandle<Vec<Hist>>> {
        (0..2)
            .map(|_| {
                let (phase, stop) = (phase.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut hists = vec![Hist::new(); 3];
                    let start = Instant::now();
                    let mut done = 0u64;
                    let mut seq = 0i64;
                    while !stop.load(SeqCst) {
                        let due = start.elapsed().as_micros() as u64 * per_thread / 1_000_000;
                        let p = phase.load(SeqCst);
                        while done < due {
                            let t = Instant::now();
                            quiet(seq, "payload");
                            hists[p].record(t.elapsed().as_nanos() as u64);
                            seq += 1;
                            done += 1;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    hists
                })
            })
            .collect()
    }

    #[test]
    #[ignore = "a figure: run by `figures`"]
    fn figure_outage() {
        let down_for = Duration::from_secs(30);
        let per_thread = 12_500;
        let mut rx = Receiver::start();
        // The receiver shares the process: it keeps nothing, so the peak RSS is telemark's.
        rx.set_count_only(true);
        let mut cfg = base(&rx);
        cfg.export.shutdown_timeout = Duration::from_secs(60);
        let before = telemark::stats();
        let guard = telemark::init(cfg).unwrap();
        let rss_start = vmhwm_kib();
        let phase = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = load(per_thread, phase.clone(), stop.clone());
        std::thread::sleep(Duration::from_secs(10));
        let up = telemark::stats();
        rx.go_down();
        phase.store(1, SeqCst);
        let t_down = Instant::now();
        let mut most_bytes = 0;
        while t_down.elapsed() < down_for {
            std::thread::sleep(Duration::from_millis(500));
            most_bytes = most_bytes.max(telemark::stats().queue_bytes);
        }
        let accepted = rx.requests().iter().filter(|r| r.accepted).count();
        let rss_down = vmhwm_kib();
        let during = telemark::stats().spans_recorded - up.spans_recorded;
        rx.come_back();
        let back = Instant::now();
        phase.store(2, SeqCst);
        rx.wait_requests(|r| r.iter().filter(|r| r.accepted).count() > accepted);
        let first = back.elapsed();
        // The backlog drained: the queue holds no more than the last second's spans.
        let drained = loop {
            let s = telemark::stats();
            if s.queue_depth <= 2 * per_thread {
                break back.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_secs(5));
        stop.store(true, SeqCst);
        let mut hists = vec![Hist::new(); 3];
        for t in threads {
            for (h, o) in hists.iter_mut().zip(t.join().unwrap()) {
                h.merge(&o);
            }
        }
        let flushed = telemark::flush(Duration::from_secs(60));
        let t = Instant::now();
        let delivered = guard.shutdown_within(Duration::from_secs(60));
        let shutdown = t.elapsed();
        let after = telemark::stats();
        fig("rate (spans/s, two threads)", 2 * per_thread);
        fig("outage", format!("{down_for:?}"));
        for (i, name) in ["up", "down", "back"].iter().enumerate() {
            let h = &hists[i];
            fig(
                &format!("caller ns per span, collector {name}: p50 / p99 / p99.9 / max (n)"),
                format!(
                    "{} / {} / {} / {} ({})",
                    h.quantile(0.5),
                    h.quantile(0.99),
                    h.quantile(0.999),
                    h.max,
                    h.n
                ),
            );
        }
        fig("spans recorded before the outage", up.spans_recorded - before.spans_recorded);
        fig("largest queue during the outage (bytes)", most_bytes);
        fig("spans recorded during the outage", during);
        fig(
            "peak RSS VmHWM (KiB) after init / at the end of the outage / at the end",
            format!("{rss_start} / {rss_down} / {}", vmhwm_kib()),
        );
        fig("collector back -> first delivered request", format!("{first:?}"));
        fig("collector back -> backlog drained", format!("{drained:?}"));
        fig(
            "flush / shutdown delivered everything",
            format!("{flushed} / {delivered} (shutdown {shutdown:?})"),
        );
        accounting(&before, &after);
        let _ = rx.take_errors();
    }

    #[test]
    #[ignore = "a figure: run by `figures`"]
    fn figure_burst() {
        let n = 100_000;
        let mut rx = Receiver::start();
        rx.black_hole();
        let mut cfg = base(&rx);
        let timeout = Duration::from_secs(2);
        cfg.export.shutdown_timeout = timeout;
        let before = telemark::stats();
        let guard = telemark::init(cfg).unwrap();
        let mut h = Hist::new();
        let t0 = Instant::now();
        for seq in 0..n {
            let t = Instant::now();
            quiet(seq, "payload");
            h.record(t.elapsed().as_nanos() as u64);
        }
        let burst = t0.elapsed();
        let t = Instant::now();
        drop(guard);
        let shutdown = t.elapsed();
        let after = telemark::stats();
        fig("burst", format!("{n} spans in {burst:?} on one thread"));
        fig(
            "caller ns per span: p50 / p99 / p99.9 / longest",
            format!("{} / {} / {} / {}", h.quantile(0.5), h.quantile(0.99), h.quantile(0.999), h.max),
        );
        fig("drop(guard)", format!("{shutdown:?} (shutdown_timeout {timeout:?})"));
        accounting(&before, &after);
        rx.come_back();
        let _ = rx.take_errors();
    }

    /// Shutdown with a black-holed collector, the guard dropped `how`.
    fn shutdown_from(how: &str) {
        let mut rx = Receiver::start();
        rx.black_hole();
        let mut cfg = base(&rx);
        cfg.metrics.enabled = true;
        let timeout = Duration::from_secs(1);
        cfg.export.shutdown_timeout = timeout;
        let before = telemark::stats();
        let guard = telemark::init(cfg).unwrap();
        for seq in 0..1000 {
            quiet(seq, "payload");
        }
        let took = match how {
            "no runtime" => {
                let t = Instant::now();
                drop(guard);
                t.elapsed()
            }
            "current-thread runtime" => {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    let t = Instant::now();
                    drop(guard);
                    t.elapsed()
                })
            }
            "one-worker runtime" => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let t = Instant::now();
                    drop(guard);
                    t.elapsed()
                })
            }
            "inside tokio::spawn" => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let t = Instant::now();
                        drop(guard);
                        t.elapsed()
                    })
                    .await
                    .unwrap()
                })
            }
            _ => {
                static GUARD: Mutex<Option<telemark::Guard>> = Mutex::new(None);
                static TOOK: Mutex<Option<Duration>> = Mutex::new(None);
                *GUARD.lock().unwrap() = Some(guard);
                let previous = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    let t = Instant::now();
                    drop(GUARD.lock().unwrap().take());
                    *TOOK.lock().unwrap() = Some(t.elapsed());
                    previous(info);
                }));
                let _ = std::panic::catch_unwind(|| panic!("figures: a panic whose hook drops the guard"));
                let _ = std::panic::take_hook();
                TOOK.lock().unwrap().unwrap()
            }
        };
        let after = telemark::stats();
        fig(&format!("shutdown from {how}"), format!("{took:?} (shutdown_timeout {timeout:?})"));
        let s = spans(&before, &after);
        fig(&format!("shutdown from {how}: dropped(shutdown) of 1000"), s.shutdown);
        rx.come_back();
        let _ = rx.take_errors();
    }

    #[test]
    #[ignore = "a figure: run by `figures`"]
    fn figure_shutdown_no_runtime() {
        shutdown_from("no runtime");
    }
    #[test]
    #[ignore = "a figure: run by `figures`"]
    fn figure_shutdown_current_thread() {
        shutdown_from("current-thread runtime");
    }
    #[test]
    #[ignore = "a figure: run by `figures`"]
    fn figure_shutdown_one_worker() {
        shutdown_from("one-worker runtime");
    }
    #[test]
    #[ignore = "a figure: run by `figures`"]
    fn figure_shutdown_spawn() {
        shutdown_from("inside tokio::spawn");
    }
    #[test]
    #[ignore = "a figure: run by `figures`"]
    fn figure_shutdown_panic_hook() {
        shutdown_from("a panic hook");
    }

    /// Runs every figure in a child process and prints what each measured, and how many lines
    /// telemark wrote on its stderr.
    #[test]
    #[ignore = "the figures of RELIABILITY.md; run with --release --ignored --nocapture"]
    fn figures() {
        for name in [
            "figure_outage",
            "figure_burst",
            "figure_shutdown_no_runtime",
            "figure_shutdown_current_thread",
            "figure_shutdown_one_worker",
            "figure_shutdown_spawn",
            "figure_shutdown_panic_hook",
        ] {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    &format!("figures::{name}"),
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{name}:\n{stdout}\n{stderr}");
            println!("## {name}");
            // The first may follow the harness's `test … ` on the same line.
            for line in stdout.lines().filter_map(|l| l.find("FIG ").map(|i| &l[i + 4..])) {
                println!("{line}");
            }
            let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("telemark: ")).collect();
            println!("telemark's stderr lines = {}", lines.len());
            for l in lines {
                println!("  {l}");
            }
        }
    }
}
