//! What `#[capture_exceptions]` costs the caller, in one criterion run: the `Ok` path next to a
//! plain function (target: within 2 ns) and next to `#[traced]` alone; the `Err` path without and
//! with a backtrace, the floor of the latter (std's unresolved capture alone), and the peer:
//! `tracing::error!` in an entered `info_span!` on tracing-opentelemetry. All in ns per call on the
//! caller's thread. Captured errors go to telemark's collector thread; a full per-thread ring drops
//! and counts them, and the table says how many. Every exporter discards.
//!
//! Only the first 16 calls per second of one error take a backtrace (a burst limit), so the
//! criterion case `capture_err_backtrace` mostly measures the calls past it; `..._first16` times
//! each of the first 16 calls of a clock second by hand, over 8 seconds.
//!
//! std's `Backtrace` has one global lock for capturing and symbolising, so a capture waits while
//! telemark's thread symbolises another backtrace. Also timed by hand: one symbolisation as
//! telemark's thread does it (the process's first, then warm), and the capture while another thread
//! symbolises back to back (the worst case: a storm of distinct errors).
//!
//! `cargo bench -p telemark-benches --bench exceptions` (under a minute) prints a markdown table, also written to
//! `target/telemark-bench/exceptions.md`; `cargo test -p telemark-benches --bench exceptions` runs every case once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::Criterion;
use std::backtrace::Backtrace;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Occurrences of one group exported per minute; the rest are only counted (the default).
const RATE_LIMIT: u32 = 10;

#[derive(Debug, thiserror::Error)]
enum MyError {
    #[error("query {0} timed out")]
    Timeout(u64),
}

/// The body of every function: `Ok` for even inputs, `Err(MyError::Timeout(x))` for odd ones.
#[inline(always)]
fn work(x: u64) -> Result<u64, MyError> {
    let x = black_box(x);
    if x & 1 == 1 {
        Err(MyError::Timeout(x))
    } else {
        Ok(x.wrapping_mul(3))
    }
}

/// The functions under test: the same body, never inlined, under different attributes.
macro_rules! functions {
    ($($(#[$attr:meta])* fn $name:ident;)*) => {$(
        $(#[$attr])*
        #[inline(never)]
        fn $name(x: u64) -> Result<u64, MyError> {
            work(x)
        }
    )*};
}

functions! {
    fn plain;
    #[telemark::capture_exceptions] fn capture;
    #[telemark::traced(skip_all)] fn traced;
    #[telemark::traced(skip_all)] #[telemark::capture_exceptions] fn traced_capture;
    #[telemark::capture_exceptions(backtrace = false)] fn capture_no_backtrace;
    #[telemark::traced(skip_all)]
    #[telemark::capture_exceptions(backtrace = false)] fn traced_capture_no_backtrace;
    #[telemark::capture_exceptions(backtrace = true)] fn capture_backtrace;
}

/// The capture telemark does when it takes a backtrace: std's `Backtrace::force_capture`, the
/// return addresses of this stack, no symbols (those are looked up on telemark's thread).
#[inline(never)]
fn backtrace_floor() {
    drop(black_box(Backtrace::force_capture()));
}

/// A backtrace taken `depth` calls deeper than the caller.
#[inline(never)]
fn deeper(depth: u32) -> Backtrace {
    if depth == 0 {
        return black_box(Backtrace::force_capture());
    }
    black_box(deeper(black_box(depth - 1)))
}

/// One symbolisation as telemark's thread does it (std resolves the backtrace under its global lock
/// and writes its full form), on a thread of its own: the first of the process (which loads the
/// debug info), then the median of `n` more, in µs; and how many frames one has.
fn symbolise(n: usize) -> (f64, f64, usize) {
    std::thread::spawn(move || {
        let bt = deeper(10);
        let t = Instant::now();
        let text = format!("{bt:#}");
        let first = t.elapsed().as_secs_f64() * 1e6;
        let frames = text.lines().filter(|l| !l.trim_start().starts_with("at ")).count();
        let mut warm: Vec<f64> = (0..n)
            .map(|_| {
                let bt = deeper(10);
                let t = Instant::now();
                drop(black_box(format!("{bt:#}")));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        warm.sort_by(f64::total_cmp);
        (first, warm.get(n / 2).copied().unwrap_or(f64::NAN), frames)
    })
    .join()
    .unwrap()
}

/// The median, 99th percentile and worst of `backtrace_floor`, in ns, timed for as long as
/// `more()` says; and how many were timed.
fn time_floor(more: impl Fn(usize) -> bool) -> ([f64; 3], usize) {
    let mut ns = Vec::new();
    while more(ns.len()) {
        let t = Instant::now();
        backtrace_floor();
        ns.push(t.elapsed().as_nanos() as f64);
    }
    ns.sort_by(f64::total_cmp);
    let at = |q: f64| ns.get((ns.len() as f64 * q) as usize).copied().unwrap_or(f64::NAN);
    ([at(0.5), at(0.99), ns.last().copied().unwrap_or(f64::NAN)], ns.len())
}

/// [`time_floor`] while another thread symbolises `n` backtraces back to back, as telemark's thread
/// would in a storm of distinct errors (without the work it does between two: parsing, grouping,
/// exporting); and, before, as many captures with nothing else running.
fn capture_while_symbolising(n: usize) -> (([f64; 3], usize), ([f64; 3], usize)) {
    use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
    // 0: capturing the backtraces to symbolise, 1: symbolising them, 2: done.
    let stage = AtomicU8::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let stacks: Vec<Backtrace> = (0..n).map(|_| deeper(10)).collect();
            stage.store(1, SeqCst);
            for bt in stacks {
                drop(black_box(format!("{bt:#}")));
            }
            stage.store(2, SeqCst);
        });
        while stage.load(SeqCst) == 0 {
            std::hint::spin_loop();
        }
        let contended = time_floor(|_| stage.load(SeqCst) == 1);
        let quiet = time_floor(|i| i < contended.1);
        (quiet, contended)
    })
}

/// What people write today, run under [`peer`]'s subscriber.
#[inline(never)]
fn tracing_otel(x: u64) -> Result<u64, MyError> {
    let _span = tracing::info_span!("tracing_otel").entered();
    let r = work(x);
    if let Err(e) = &r {
        tracing::error!(error = %e, "failed");
    }
    r
}

/// The peer: registry + tracing-opentelemetry (default settings) on an SDK tracer (always on)
/// whose batch exporter discards. Used through `with_default`, never installed globally.
fn peer() -> (opentelemetry_sdk::trace::SdkTracerProvider, tracing::Dispatch) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[derive(Debug)]
    struct Discard;
    impl opentelemetry_sdk::trace::SpanExporter for Discard {
        fn export(
            &self,
            _: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
            std::future::ready(Ok(()))
        }
    }
    let provider =
        opentelemetry_sdk::trace::SdkTracerProvider::builder().with_batch_exporter(Discard).build();
    let tracer = provider.tracer("telemark-bench");
    let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    (provider, tracing::Dispatch::new(subscriber))
}

/// The report's rows: id, the case it compares to, and for telemark's `Err` cases the function
/// (to find its group).
const ROWS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("plain_ok", None, None),
    ("capture_ok", Some("plain_ok"), None),
    ("traced_ok", Some("plain_ok"), None),
    ("traced_capture_ok", Some("traced_ok"), None),
    ("capture_err_no_backtrace", Some("tracing_otel_error"), Some("capture_no_backtrace")),
    ("traced_capture_err_no_backtrace", Some("tracing_otel_error"), Some("traced_capture_no_backtrace")),
    ("capture_err_backtrace", Some("capture_err_no_backtrace"), Some("capture_backtrace")),
    (FIRST16, Some("backtrace_floor"), None),
    ("backtrace_floor", None, None),
    ("tracing_otel_error", None, None),
];
const FIRST16: &str = "capture_err_backtrace_first16";

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Runs one case; returns the exceptions dropped meanwhile (a full ring on this thread).
fn case<R>(g: &mut Group<'_>, id: &str, mut f: impl FnMut() -> R) -> u64 {
    let before = telemark::stats().exceptions_dropped;
    g.bench_function(id, |b| b.iter(|| black_box(f())));
    let dropped = telemark::stats().exceptions_dropped - before;
    // Start the next case with empty rings and an idle collector.
    telemark::flush(Duration::from_secs(60));
    dropped
}

/// `capture_err_backtrace` while it pays for a backtrace: the first 16 calls of each clock second
/// (the burst limit's clock), each timed, the thread kept busy with `backtrace_floor` in between.
/// Returns the median over all calls and the median of the first call of each second.
fn first16(rounds: usize) -> (Option<f64>, Option<f64>) {
    let second = || SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let mut all = Vec::new();
    let mut first = Vec::new();
    for _ in 0..rounds {
        let start = second();
        while second() == start {
            backtrace_floor();
        }
        for i in 0..16 {
            let t = Instant::now();
            drop(black_box(capture_backtrace(black_box(1))));
            let ns = t.elapsed().as_nanos() as f64;
            all.push(ns);
            if i == 0 {
                first.push(ns);
            }
        }
    }
    (median(all), median(first))
}

use telemark_benches::target_dir;

/// Criterion's median for `exceptions/<id>`, in ns.
fn median(dir: &Path, id: &str) -> Option<f64> {
    let text =
        std::fs::read_to_string(dir.join("exceptions").join(id).join("new").join("estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let full = has("--bench") && !has("--test") && !has("--list") && !has("--profile-time");
    // Before anything else symbolises: the process's first symbolisation.
    let (first_symbolise, warm_symbolise, frames) = symbolise(if full { 200 } else { 1 });
    let criterion_dir = target_dir().join("criterion");
    let mut c = Criterion::default()
        .output_directory(&criterion_dir)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    // The console off, an exporter that drops; telemark is not the `tracing` subscriber, so the
    // peer's events go only to the peer's subscriber.
    let mut config = telemark::Config::default()
        .console(false)
        .exporter(telemark::export::Discard)
        .install_subscriber(false);
    config.exceptions.rate_limit = RATE_LIMIT;
    let guard = telemark::init(config).unwrap();
    let (provider, dispatch) = peer();

    let (ok, err) = (2, 1);
    let mut g = c.benchmark_group("exceptions");
    let mut dropped = vec![
        case(&mut g, "plain_ok", || plain(black_box(ok))),
        case(&mut g, "capture_ok", || capture(black_box(ok))),
        case(&mut g, "traced_ok", || traced(black_box(ok))),
        case(&mut g, "traced_capture_ok", || traced_capture(black_box(ok))),
        case(&mut g, "capture_err_no_backtrace", || capture_no_backtrace(black_box(err))),
        case(&mut g, "traced_capture_err_no_backtrace", || traced_capture_no_backtrace(black_box(err))),
        case(&mut g, "capture_err_backtrace", || capture_backtrace(black_box(err))),
    ];
    let before = telemark::stats().exceptions_dropped;
    let (first16, first_of_second) =
        if has("--list") { (None, None) } else { first16(if full { 8 } else { 1 }) };
    dropped.push(telemark::stats().exceptions_dropped - before);
    dropped.push(case(&mut g, "backtrace_floor", backtrace_floor));
    let ((quiet, _), (contended, timed)) = capture_while_symbolising(if full { 4000 } else { 2 });
    dropped.push(tracing::dispatcher::with_default(&dispatch, || {
        case(&mut g, "tracing_otel_error", || tracing_otel(black_box(err)))
    }));
    g.finish();
    c.final_summary();
    if has("--list") {
        return;
    }

    let groups = telemark::exceptions::groups();
    let stats = telemark::stats();
    let mut w = String::new();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|s| s.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(w, "## `#[capture_exceptions]`: ns per call on the caller's thread\n");
    let _ = writeln!(
        w,
        "{} ({cores} cores); criterion median, warm-up 1 s, 3 s measured; `{FIRST16}`: by hand.\n",
        cpu.unwrap_or_default()
    );
    let _ =
        writeln!(w, "| case | ns/call | vs | Δ ns | ratio | reached the collector | dropped (ring full) |");
    let _ = writeln!(w, "|---|---:|---|---:|---:|---:|---:|");
    let ns = |id: &str| match id {
        FIRST16 => first16.filter(|_| full),
        _ => median(&criterion_dir, id).filter(|_| full),
    };
    let fmt = |v: Option<f64>, p: usize| v.map_or("–".to_string(), |v| format!("{v:.p$}"));
    for (&(id, baseline, site), dropped) in ROWS.iter().zip(dropped) {
        let me = ns(id);
        let base = baseline.and_then(ns);
        let delta = me.zip(base).map(|(a, b)| a - b);
        let ratio = me.zip(base).map(|(a, b)| format!("{:.2}×", a / b));
        let (reached, dropped) = match site {
            Some(f) => {
                let f = format!("::{f}");
                let n: u64 = groups.iter().filter(|g| g.site.ends_with(&f)).map(|g| g.count).sum();
                (n.to_string(), dropped.to_string())
            }
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            w,
            "| `{id}` | {} | {} | {} | {} | {reached} | {dropped} |",
            fmt(me, 1),
            baseline.map_or(String::new(), |b| format!("`{b}`")),
            fmt(delta, 1),
            ratio.unwrap_or_default(),
        );
    }
    let _ = writeln!(
        w,
        "\n`{FIRST16}`: the median of 16 calls × 8 seconds, each timed; the first call of each \
         second alone: {} ns. The rest of `capture_err_backtrace` take no backtrace (16 per second \
         per error).",
        fmt(first_of_second.filter(|_| full), 0)
    );
    let _ = writeln!(
        w,
        "\nstd's backtrace lock: symbolising one backtrace of {frames} frames as telemark's thread does \
         takes {} µs the first time in the process (it loads the debug info) and {} µs warm (median). \
         `backtrace_floor` ({timed} times, from a shallower stack than criterion's) while another \
         thread symbolises backtraces back to back: median {} ns, 99th percentile {} ns, worst {} ns; \
         with nothing else running: {} ns, {} ns, {} ns.",
        fmt(Some(first_symbolise), 0),
        fmt(Some(warm_symbolise), 1),
        fmt(Some(contended[0]), 0),
        fmt(Some(contended[1]), 0),
        fmt(Some(contended[2]), 0),
        fmt(Some(quiet[0]), 0),
        fmt(Some(quiet[1]), 0),
        fmt(Some(quiet[2]), 0),
    );
    let _ = writeln!(
        w,
        "`exceptions.rate_limit` = {RATE_LIMIT} per group per minute (the rest counted, not exported). \
         `telemark::stats()`: exceptions_dropped = {}, exceptions_suppressed = {}.",
        stats.exceptions_dropped, stats.exceptions_suppressed
    );
    println!("\n{w}");
    if full {
        let dir = target_dir().join("telemark-bench");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("exceptions.md"), &w);
    }
    let _ = provider.shutdown();
    drop(guard);
}
