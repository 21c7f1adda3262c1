//! telemark side by side with its peers, in one run: the same trivial function, plain and
//! instrumented by telemark `#[traced]`, `#[tracing::instrument]` (no subscriber; and
//! tracing-opentelemetry on the OpenTelemetry SDK), the OpenTelemetry SDK used directly, and
//! fastrace `#[trace]`.
//!
//! For every case it measures
//! - `caller/<case>`: ns per call on the caller's thread (criterion, wall clock, unpaced);
//! - `cpu/<case>`: CPU time per call over paced calls plus the library's flush: the caller's thread
//!   while in the calls, and every other thread (collectors, batch processors) all the time
//!   (criterion `iter_custom`); also the caller's share alone, when paced;
//! - heap allocations per span on the caller's thread in steady state (a counting global
//!   allocator with a thread-local counter);
//! - whether every span produced reached the exporter (or was counted as dropped);
//!
//! and, once, a saturation run: telemark spans from 2 threads as fast as they go, with peak RSS and
//! telemark's recorded/dropped counters.
//!
//! `cargo bench -p telemark-benches --bench spans` runs everything (about 2 minutes on 2 cores) and prints a markdown
//! report (also written to `target/telemark-bench/report.md`). A filter
//! (`cargo bench -p telemark-benches --bench spans -- telemark`) limits the cases; `saturation` selects that run.
//! Without `--bench` (`cargo test -p telemark-benches --benches`) every case runs once, quickly.
//!
//! Every instrumented function records no argument (`skip_all` for telemark and tracing; fastrace
//! and the SDK record none by default), so all of them do the same work. The one exception is the
//! extra row `telemark_child_1arg`, which records `x` to show what one attribute costs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, SamplingMode};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------------
// Counting allocator: a thread-local counter, so background threads (collectors, batch processors)
// are not counted.

mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    #[inline]
    fn bump() {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: forwards to the system allocator; the counter is a const-initialized thread-local
    // without a destructor, so touching it never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            bump();
            unsafe { System.alloc(l) }
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            bump();
            unsafe { System.alloc_zeroed(l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
            bump();
            unsafe { System.realloc(p, l, n) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) }
        }
    }

    /// Allocations (including reallocations) made by this thread so far.
    pub fn count() -> u64 {
        ALLOCS.try_with(|c| c.get()).unwrap_or(0)
    }
}

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

// ------------------------------------------------------------------------------------------------
// The function under test, once per flavour. Same body everywhere; never inlined, so every case
// pays the same call.

#[inline(never)]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// A hand-rolled span: two clock reads and a record written into a thread-local ring.
mod floor {
    use super::black_box;
    use std::cell::RefCell;

    const CAP: usize = 4096;

    // Written, never read back here (a collector would).
    #[allow(dead_code)]
    #[derive(Clone, Copy)]
    struct Record<T: Copy> {
        start: T,
        end: T,
        id: u64,
    }

    struct Ring<T: Copy> {
        at: usize,
        records: Box<[Record<T>]>,
    }

    impl<T: Copy> Ring<T> {
        fn new(zero: T) -> Self {
            Ring { at: 0, records: vec![Record { start: zero, end: zero, id: 0 }; CAP].into_boxed_slice() }
        }
        #[inline(always)]
        fn put(&mut self, start: T, end: T, id: u64) {
            let at = self.at;
            self.records[at & (CAP - 1)] = Record { start, end, id };
            self.at = at.wrapping_add(1);
        }
    }

    thread_local! {
        static MINSTANT: RefCell<Ring<minstant::Instant>> = RefCell::new(Ring::new(minstant::Instant::ZERO));
        static TSC: RefCell<Ring<u64>> = RefCell::new(Ring::new(0));
    }

    /// Two `minstant::Instant::now()` (what telemark reads) and a thread-local write.
    #[inline(never)]
    pub fn minstant_span(x: u64) -> u64 {
        let start = minstant::Instant::now();
        let r = black_box(x).wrapping_mul(3);
        let end = minstant::Instant::now();
        MINSTANT.with(|b| b.borrow_mut().put(start, end, x));
        r
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    #[allow(unused_unsafe)]
    fn tsc() -> u64 {
        // SAFETY: RDTSC is available on every x86_64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn tsc() -> u64 {
        minstant::Instant::now().as_unix_nanos(&minstant::Anchor::new())
    }

    /// Two raw `rdtsc` and a thread-local write.
    #[inline(never)]
    pub fn rdtsc_span(x: u64) -> u64 {
        let start = tsc();
        let r = black_box(x).wrapping_mul(3);
        let end = tsc();
        TSC.with(|b| b.borrow_mut().put(start, end, x));
        r
    }
}

#[telemark::traced(skip_all)]
#[inline(never)]
fn tm_work(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// The only function here that records its argument (the extra row `telemark_child_1arg`).
#[telemark::traced]
#[inline(never)]
fn tm_work_1arg(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[telemark::traced(level = "trace", skip_all)]
#[inline(never)]
fn tm_disabled(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[telemark::traced(skip_all)]
#[inline(never)]
fn tm_root4(x: u64) -> u64 {
    tm_work(x) ^ tm_work(x.wrapping_add(1)) ^ tm_work(x.wrapping_add(2))
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tr_work(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tr_root4(x: u64) -> u64 {
    tr_work(x) ^ tr_work(x.wrapping_add(1)) ^ tr_work(x.wrapping_add(2))
}

#[fastrace::trace]
#[inline(never)]
fn fr_work(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// fastrace has no attribute for a root: a `Span::root` around the body.
#[inline(never)]
fn fr_root(x: u64) -> u64 {
    let _root = fastrace::Span::root("fr_root", fastrace::collector::SpanContext::random());
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
fn fr_root4(x: u64) -> u64 {
    let root = fastrace::Span::root("fr_root4", fastrace::collector::SpanContext::random());
    let _parent = root.set_local_parent();
    fr_work(x) ^ fr_work(x.wrapping_add(1)) ^ fr_work(x.wrapping_add(2))
}

mod sdk {
    use super::black_box;
    use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _};
    use opentelemetry::Context;
    use opentelemetry_sdk::trace::SdkTracer;

    /// A root span: `tracer.start` + `end` around the body.
    #[inline(never)]
    pub fn root(t: &SdkTracer, x: u64) -> u64 {
        let mut span = t.start("sdk_work");
        let r = black_box(x).wrapping_mul(3);
        span.end();
        r
    }

    /// A child of the span in `parent`.
    #[inline(never)]
    pub fn child(t: &SdkTracer, parent: &Context, x: u64) -> u64 {
        let mut span = t.start_with_context("sdk_work", parent);
        let r = black_box(x).wrapping_mul(3);
        span.end();
        r
    }

    #[inline(never)]
    pub fn root4(t: &SdkTracer, x: u64) -> u64 {
        let cx = Context::new().with_span(t.start("sdk_root4"));
        let r = child(t, &cx, x) ^ child(t, &cx, x.wrapping_add(1)) ^ child(t, &cx, x.wrapping_add(2));
        cx.span().end();
        r
    }

    /// A context holding a new sampled root span (ended when the last clone drops).
    pub fn root_context(t: &SdkTracer) -> Context {
        Context::new().with_span(t.start("sdk_root"))
    }
}

// ------------------------------------------------------------------------------------------------
// The peers' pipelines, with exporters that count and discard.

static OTEL_EXPORTED: AtomicU64 = AtomicU64::new(0);
static FASTRACE_REPORTED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
struct CountingSpanExporter;

impl opentelemetry_sdk::trace::SpanExporter for CountingSpanExporter {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        OTEL_EXPORTED.fetch_add(batch.len() as u64, Relaxed);
        std::future::ready(Ok(()))
    }
}

struct CountingReporter;

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        FASTRACE_REPORTED.fetch_add(spans.len() as u64, Relaxed);
    }
}

struct Otel {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::SdkTracer,
    off_provider: opentelemetry_sdk::trace::SdkTracerProvider,
    off_tracer: opentelemetry_sdk::trace::SdkTracer,
    /// registry + tracing-opentelemetry (default settings) on `tracer`; used through
    /// `tracing::dispatcher::with_default`, never installed globally.
    dispatch: tracing::Dispatch,
}

static OTEL: OnceLock<Otel> = OnceLock::new();

/// Built on first use: creating the `Dispatch` registers it with `tracing`, which turns every
/// `tracing` call site's interest to "always" for the rest of the process, so the
/// "no subscriber" case has to run before.
fn otel() -> &'static Otel {
    OTEL.get_or_init(|| {
        use opentelemetry::trace::TracerProvider as _;
        use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
        use tracing_subscriber::layer::SubscriberExt as _;
        let provider = SdkTracerProvider::builder().with_batch_exporter(CountingSpanExporter).build();
        let tracer = provider.tracer("telemark-bench");
        let off_provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOff)
            .with_batch_exporter(CountingSpanExporter)
            .build();
        let off_tracer = off_provider.tracer("telemark-bench");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer.clone()));
        Otel { provider, tracer, off_provider, off_tracer, dispatch: tracing::Dispatch::new(subscriber) }
    })
}

fn telemark_config(sampler_off: bool) -> telemark::Config {
    // `install_subscriber(false)`: telemark's `tracing` bridge would otherwise become the global
    // `tracing` subscriber, and `#[instrument]` would no longer run "without a subscriber".
    // `#[traced]` does not go through `tracing`, so this changes nothing for telemark's rows.
    // Metrics off: this bench measures spans alone; `benches/metrics.rs` measures what the
    // per-function metrics (on by default) add.
    let mut c = telemark::Config::default()
        .console(false)
        .exporter(telemark::export::Discard)
        .install_subscriber(false);
    c.metrics.enabled = false;
    if sampler_off {
        c.sampler(telemark::config::SamplerName::ParentBasedAlwaysOff, 1.0)
    } else {
        c
    }
}

// ------------------------------------------------------------------------------------------------
// Loops. Each case is `fn(calls) -> spans that should reach the exporter`.

/// Child spans run under a root that is replaced every `CHUNK` calls, the same for every library:
/// fastrace keeps a root's children on the caller's thread until the root ends (and silently
/// stops recording after 10,240 of them), so a root that lives for the whole benchmark would
/// measure its "queue full" path. The root's own cost is included, amortized over 1,024 children.
const CHUNK: u64 = 1024;

#[inline(always)]
fn flat(calls: u64, f: impl Fn(u64) -> u64) {
    for i in 0..calls {
        black_box(f(black_box(i)));
    }
}

/// Returns how many roots it made.
#[inline(always)]
fn chunked<G>(calls: u64, mut root: impl FnMut() -> G, f: impl Fn(&G, u64) -> u64) -> u64 {
    let mut i = 0;
    let mut roots = 0;
    while i < calls {
        let end = (i + CHUNK).min(calls);
        let g = root();
        while i < end {
            black_box(f(&g, black_box(i)));
            i += 1;
        }
        drop(g);
        roots += 1;
    }
    roots
}

fn unsampled_parent() -> telemark::SpanContext {
    telemark::SpanContext::remote(
        telemark::TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        telemark::SpanId(0x00f0_67aa_0ba9_02b7),
        false,
    )
}

fn run_plain(n: u64) -> u64 {
    flat(n, plain);
    0
}
fn run_floor(n: u64) -> u64 {
    flat(n, floor::minstant_span);
    0
}
fn run_floor_rdtsc(n: u64) -> u64 {
    flat(n, floor::rdtsc_span);
    0
}
fn run_tm_disabled(n: u64) -> u64 {
    flat(n, tm_disabled);
    0
}
fn run_tm_sampled_out_child(n: u64) -> u64 {
    let parent = unsampled_parent();
    chunked(n, || telemark::ContextScope::enter(&parent), |_, x| tm_work(x));
    0
}
/// Under the sampler `parentbased_always_off` (the case re-initializes telemark with it).
fn run_tm_sampled_out_root(n: u64) -> u64 {
    flat(n, tm_work);
    0
}
fn run_tm_child(n: u64) -> u64 {
    n + chunked(n, || telemark::span("root"), |_, x| tm_work(x))
}
fn run_tm_child_1arg(n: u64) -> u64 {
    n + chunked(n, || telemark::span("root"), |_, x| tm_work_1arg(x))
}
fn run_tm_root(n: u64) -> u64 {
    flat(n, tm_work);
    n
}
fn run_tm_root4(n: u64) -> u64 {
    flat(n, tm_root4);
    4 * n
}
fn run_tr_nosub(n: u64) -> u64 {
    flat(n, tr_work);
    0
}
fn run_tr_child(n: u64) -> u64 {
    tracing::dispatcher::with_default(&otel().dispatch, || {
        n + chunked(n, || tracing::info_span!("root").entered(), |_, x| tr_work(x))
    })
}
fn run_tr_root(n: u64) -> u64 {
    tracing::dispatcher::with_default(&otel().dispatch, || flat(n, tr_work));
    n
}
fn run_tr_root4(n: u64) -> u64 {
    tracing::dispatcher::with_default(&otel().dispatch, || flat(n, tr_root4));
    4 * n
}
fn run_sdk_child(n: u64) -> u64 {
    let t = &otel().tracer;
    n + chunked(n, || sdk::root_context(t), |cx, x| sdk::child(t, cx, x))
}
fn run_sdk_root(n: u64) -> u64 {
    let t = &otel().tracer;
    flat(n, |x| sdk::root(t, x));
    n
}
fn run_sdk_unsampled(n: u64) -> u64 {
    let t = &otel().off_tracer;
    flat(n, |x| sdk::root(t, x));
    0
}
fn run_sdk_root4(n: u64) -> u64 {
    let t = &otel().tracer;
    flat(n, |x| sdk::root4(t, x));
    4 * n
}
fn run_fr_child(n: u64) -> u64 {
    let roots = chunked(
        n,
        || {
            let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
            let parent = root.set_local_parent();
            (parent, root) // the guard drops first
        },
        |_, x| fr_work(x),
    );
    n + roots
}
fn run_fr_noroot(n: u64) -> u64 {
    flat(n, fr_work);
    0
}
fn run_fr_root(n: u64) -> u64 {
    flat(n, fr_root);
    n
}
fn run_fr_root4(n: u64) -> u64 {
    flat(n, fr_root4);
    4 * n
}

// ------------------------------------------------------------------------------------------------
// Cases.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Baseline,
    Telemark,
    Tracing,
    Sdk,
    Fastrace,
}

impl Lib {
    fn flush(self) {
        match self {
            Lib::Baseline => {}
            Lib::Telemark => {
                telemark::flush(Duration::from_secs(30));
            }
            // Not `otel()`: building the pipeline here, before the "no subscriber" case has
            // registered its call site, would leave that call site disabled for good.
            Lib::Tracing | Lib::Sdk => {
                if let Some(o) = OTEL.get() {
                    let _ = o.provider.force_flush();
                }
            }
            Lib::Fastrace => fastrace::flush(),
        }
    }

    /// (spans that reached the exporter, spans the library says it dropped)
    fn delivered(self) -> (u64, Option<u64>) {
        match self {
            Lib::Baseline => (0, None),
            Lib::Telemark => {
                let s = telemark::stats();
                (s.spans_recorded, Some(s.spans_dropped))
            }
            Lib::Tracing | Lib::Sdk => (OTEL_EXPORTED.load(Relaxed), None),
            Lib::Fastrace => (FASTRACE_REPORTED.load(Relaxed), None),
        }
    }
}

/// What a case is, for matching it with its peers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plain,
    Floor,
    /// Disabled, sampled out, no subscriber, no root: nothing is recorded.
    Off,
    Child,
    Root,
    Root4,
    Extra,
}

struct Case {
    id: &'static str,
    label: &'static str,
    lib: Lib,
    kind: Kind,
    /// Spans per call (for per-span figures); 0 when nothing is recorded.
    spans: u32,
    /// Runs under telemark's sampler `parentbased_always_off`.
    sampler_off: bool,
    run: fn(u64) -> u64,
}

const fn case(
    id: &'static str,
    label: &'static str,
    lib: Lib,
    kind: Kind,
    spans: u32,
    run: fn(u64) -> u64,
) -> Case {
    Case { id, label, lib, kind, spans, sampler_off: false, run }
}

/// In run order: the tracing "no subscriber" case comes before anything that builds the
/// OpenTelemetry `Dispatch`; the case that re-initializes telemark comes last.
fn cases() -> Vec<Case> {
    use Kind::*;
    use Lib::*;
    vec![
        case("plain", "plain call", Baseline, Plain, 0, run_plain),
        case(
            "floor",
            "floor: 2× minstant::Instant::now() + thread-local write",
            Baseline,
            Floor,
            0,
            run_floor,
        ),
        case("floor_rdtsc", "floor: 2× _rdtsc + thread-local write", Baseline, Floor, 0, run_floor_rdtsc),
        case("tracing_nosub", "tracing #[instrument], no subscriber", Tracing, Off, 0, run_tr_nosub),
        case("telemark_disabled", "telemark, disabled by level", Telemark, Off, 0, run_tm_disabled),
        case(
            "telemark_sampled_out_child",
            "telemark, sampled out (child in an unsampled trace)",
            Telemark,
            Off,
            0,
            run_tm_sampled_out_child,
        ),
        case("telemark_child", "telemark, sampled child span", Telemark, Child, 1, run_tm_child),
        case("telemark_root", "telemark, root span", Telemark, Root, 1, run_tm_root),
        case("telemark_root4", "telemark, root + 3 children", Telemark, Root4, 4, run_tm_root4),
        case(
            "telemark_child_1arg",
            "telemark, sampled child recording 1 u64 arg (extra)",
            Telemark,
            Extra,
            1,
            run_tm_child_1arg,
        ),
        case("fastrace_noroot", "fastrace #[trace], no root (not recorded)", Fastrace, Off, 0, run_fr_noroot),
        case(
            "fastrace_child",
            "fastrace #[trace], child in a sampled root",
            Fastrace,
            Child,
            1,
            run_fr_child,
        ),
        case("fastrace_root", "fastrace, root span (Span::root)", Fastrace, Root, 1, run_fr_root),
        case("fastrace_root4", "fastrace, root + 3 #[trace] children", Fastrace, Root4, 4, run_fr_root4),
        case(
            "tracing_otel_child",
            "tracing + tracing-opentelemetry + SDK batch, sampled child",
            Tracing,
            Child,
            1,
            run_tr_child,
        ),
        case(
            "tracing_otel_root",
            "tracing + tracing-opentelemetry + SDK batch, root",
            Tracing,
            Root,
            1,
            run_tr_root,
        ),
        case(
            "tracing_otel_root4",
            "tracing + tracing-opentelemetry + SDK batch, root + 3 children",
            Tracing,
            Root4,
            4,
            run_tr_root4,
        ),
        case("sdk_child", "OTel SDK direct (start + end), sampled child", Sdk, Child, 1, run_sdk_child),
        case("sdk_root", "OTel SDK direct (start + end), sampled root", Sdk, Root, 1, run_sdk_root),
        case(
            "sdk_unsampled",
            "OTel SDK direct (start + end), not sampled (AlwaysOff)",
            Sdk,
            Off,
            0,
            run_sdk_unsampled,
        ),
        case("sdk_root4", "OTel SDK direct, root + 3 children", Sdk, Root4, 4, run_sdk_root4),
        Case {
            sampler_off: true,
            ..case(
                "telemark_sampled_out_root",
                "telemark, sampled out (root under parentbased_always_off)",
                Telemark,
                Off,
                0,
                run_tm_sampled_out_root,
            )
        },
    ]
}

// ------------------------------------------------------------------------------------------------
// Measurements.

/// Paced runs (CPU and allocations) let the libraries' background threads keep up, so that every
/// span is exported rather than dropped or queued without bound: about `PACE_SPANS` spans, then a
/// sleep. Cases that record nothing run unpaced.
const PACE_SPANS: u64 = 1024;
const PACE_SLEEP: Duration = Duration::from_micros(100);

/// Runs `calls` calls, paced; returns (spans produced, the caller's thread CPU spent in the calls,
/// sleeps excluded).
fn paced(case: &Case, calls: u64) -> (u64, Duration) {
    if case.spans == 0 {
        let t = thread_cpu();
        let spans = (case.run)(calls);
        return (spans, thread_cpu() - t);
    }
    let step = (PACE_SPANS / u64::from(case.spans)).max(1);
    let mut done = 0;
    let mut spans = 0;
    let mut cpu = Duration::ZERO;
    while done < calls {
        let n = (calls - done).min(step);
        let t = thread_cpu();
        spans += (case.run)(n);
        cpu += thread_cpu() - t;
        done += n;
        std::thread::sleep(PACE_SLEEP);
    }
    (spans, cpu)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid pointer to a timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of every thread of the process.
fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[derive(Default, Clone, Copy)]
struct Delivery {
    produced: u64,
    delivered: u64,
    /// What the library itself reports as dropped (telemark only).
    dropped: Option<u64>,
}

struct Measured {
    caller_ns: Option<f64>,
    cpu_ns: Option<f64>,
    /// Means over every paced run of (b): the caller's thread (sleeps excluded) and every other
    /// thread, ns per call.
    cpu_caller_ns: Option<f64>,
    cpu_background_ns: Option<f64>,
    allocs_per_call: Option<f64>,
    caller_delivery: Delivery,
    /// How much the process's peak RSS grew during (a).
    caller_peak_rss_kb: u64,
    cpu_delivery: Delivery,
}

struct Settings {
    full: bool,
    criterion_dir: PathBuf,
}

/// Flushes until everything produced so far has reached the exporter. fastrace needs more than
/// `fastrace::flush()`: when its per-thread command ring is full, a thread queues further commands
/// in an unbounded local queue that moves to the ring only when that thread sends again, so
/// here the calling thread sends (a root span) and flushes until nothing more arrives. Returns how
/// many spans it made itself.
fn settle(lib: Lib) -> u64 {
    lib.flush();
    if lib != Lib::Fastrace {
        return 0;
    }
    let mut pokes = 0;
    let mut last = lib.delivered().0;
    for _ in 0..100_000 {
        drop(fastrace::Span::root("settle", fastrace::collector::SpanContext::random()));
        pokes += 1;
        lib.flush();
        let now = lib.delivered().0;
        if now - last <= 1 {
            break;
        }
        last = now;
    }
    pokes
}

fn measured(lib: Lib, f: impl FnOnce() -> u64) -> Delivery {
    settle(lib);
    let (d0, x0) = lib.delivered();
    let produced = f();
    let pokes = settle(lib);
    let (d1, x1) = lib.delivered();
    Delivery { produced: produced + pokes, delivered: d1 - d0, dropped: x0.zip(x1).map(|(a, b)| b - a) }
}

fn measure(c: &mut Criterion, s: &Settings, case: &Case) -> Measured {
    let run = case.run;
    let lib = case.lib;

    // (a) ns per call on the caller's thread: wall clock, back to back.
    let mut caller_peak_rss_kb = 0;
    let caller_delivery = measured(lib, || {
        let mut produced = 0;
        release_free_memory();
        reset_peak_rss();
        let rss_before = status_kb("VmRSS:");
        let mut g = c.benchmark_group("caller");
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .nresamples(20_000);
        g.bench_function(case.id, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                produced += run(iters);
                t.elapsed()
            })
        });
        g.finish();
        caller_peak_rss_kb = status_kb("VmHWM:").saturating_sub(rss_before);
        produced
    });

    // (b) CPU per call, every thread: paced calls and the library's flush; the caller's thread
    // counts only while it is in the calls (not while it sleeps or waits for the flush), every
    // other thread counts all the time.
    let (mut caller_cpu, mut background_cpu, mut cpu_calls) = (Duration::ZERO, Duration::ZERO, 0u64);
    let cpu_delivery = measured(lib, || {
        let mut produced = 0;
        let mut g = c.benchmark_group("cpu");
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .nresamples(20_000);
        g.bench_function(case.id, |b| {
            b.iter_custom(|iters| {
                let (p0, t0) = (process_cpu(), thread_cpu());
                let (spans, caller) = paced(case, iters);
                lib.flush();
                let (p1, t1) = (process_cpu(), thread_cpu());
                let background = (p1 - p0).saturating_sub(t1 - t0);
                produced += spans;
                caller_cpu += caller;
                background_cpu += background;
                cpu_calls += iters;
                caller + background
            })
        });
        g.finish();
        produced
    });
    let per_call = |d: Duration| (cpu_calls > 0).then(|| d.as_nanos() as f64 / cpu_calls as f64);

    // (c) allocations per call on this thread, steady state (after a warm-up and a flush).
    let allocs_per_call = if case_selected(case.id) {
        let calls = if s.full { 100 * CHUNK } else { 2 * CHUNK };
        paced(case, calls / 4);
        settle(lib);
        std::thread::sleep(Duration::from_millis(20));
        let a0 = counting::count();
        paced(case, calls);
        let a1 = counting::count();
        settle(lib);
        Some((a1 - a0) as f64 / calls as f64)
    } else {
        None
    };

    let estimate = |group: &str| if s.full { median(&s.criterion_dir, group, case.id) } else { None };
    Measured {
        caller_ns: estimate("caller"),
        cpu_ns: estimate("cpu"),
        cpu_caller_ns: per_call(caller_cpu),
        cpu_background_ns: per_call(background_cpu),
        allocs_per_call,
        caller_delivery,
        caller_peak_rss_kb,
        cpu_delivery,
    }
}

/// Criterion's median (ns per iteration) for `group/id` from this run.
fn median(dir: &Path, group: &str, id: &str) -> Option<f64> {
    let p = dir.join(group).join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(p).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn filters() -> &'static [String] {
    static F: OnceLock<Vec<String>> = OnceLock::new();
    F.get_or_init(|| {
        // Criterion's positional argument is a filter; flags with a value are skipped.
        let mut out = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            if a.starts_with('-') {
                if matches!(
                    a.as_str(),
                    "--save-baseline"
                        | "--baseline"
                        | "--load-baseline"
                        | "--profile-time"
                        | "--sample-size"
                        | "--warm-up-time"
                        | "--measurement-time"
                        | "--nresamples"
                        | "--noise-threshold"
                        | "--confidence-level"
                        | "--significance-level"
                        | "--color"
                        | "--output-format"
                        | "--format"
                        | "--plotting-backend"
                        | "-b"
                        | "-s"
                        | "-c"
                ) {
                    args.next();
                }
            } else {
                out.push(a);
            }
        }
        out
    })
}

/// Criterion's filter is a regular expression on `group/id`; the same here, for what runs outside
/// criterion (allocations, saturation).
fn case_selected(id: &str) -> bool {
    static RES: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    let res = RES.get_or_init(|| filters().iter().filter_map(|f| regex::Regex::new(f).ok()).collect());
    res.is_empty()
        || res.iter().any(|re| ["caller/", "cpu/", ""].iter().any(|g| re.is_match(&format!("{g}{id}"))))
}

// ------------------------------------------------------------------------------------------------
// Saturation: telemark spans from 2 threads, as fast as they go.

/// Hands memory that the allocator keeps after a library's backlog was freed back to the system,
/// so that the next case's RSS starts low.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resets the peak RSS (VmHWM) of the process (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Saturation {
    seconds: f64,
    produced: u64,
    recorded: u64,
    dropped: u64,
    rss_before_kb: u64,
    rss_peak_kb: u64,
    hwm_kb: u64,
    rss_after_kb: u64,
}

fn saturation(seconds: f64) -> Saturation {
    reset_peak_rss();
    let rss_before_kb = status_kb("VmRSS:");
    telemark::flush(Duration::from_secs(30));
    let s0 = telemark::stats();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut rss_peak_kb = rss_before_kb;
    let produced: u64 = std::thread::scope(|scope| {
        let producers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while !stop.load(Relaxed) {
                        // A root and 1,024 children that record one argument each.
                        let _root = telemark::span("saturation");
                        for i in 0..CHUNK {
                            black_box(tm_work_1arg(black_box(i)));
                        }
                        n += CHUNK + 1;
                    }
                    n
                })
            })
            .collect();
        while started.elapsed().as_secs_f64() < seconds {
            std::thread::sleep(Duration::from_millis(20));
            rss_peak_kb = rss_peak_kb.max(status_kb("VmRSS:"));
        }
        stop.store(true, Relaxed);
        producers.into_iter().map(|p| p.join().unwrap()).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    telemark::flush(Duration::from_secs(30));
    let s1 = telemark::stats();
    Saturation {
        seconds: elapsed,
        produced,
        recorded: s1.spans_recorded - s0.spans_recorded,
        dropped: s1.spans_dropped - s0.spans_dropped,
        rss_before_kb,
        rss_peak_kb,
        hwm_kb: status_kb("VmHWM:"),
        rss_after_kb: status_kb("VmRSS:"),
    }
}

// ------------------------------------------------------------------------------------------------
// Report.

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) => format!("{v:.digits$}"),
        None => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn delivery_cell(d: &Delivery) -> String {
    if d.produced == 0 && d.delivered == 0 {
        return "0 / 0".into();
    }
    let lost = d.produced.saturating_sub(d.delivered);
    let mut s = format!("{} / {}", d.delivered, d.produced);
    if let Some(x) = d.dropped {
        let _ = write!(s, " (dropped {x})");
    } else if lost > 0 {
        let _ = write!(s, " (lost {:.1} %)", 100.0 * lost as f64 / d.produced as f64);
    }
    s
}

/// What every table of the report was measured on: the CPU (model, family/model/stepping, the
/// flags `lscpu` shows), the date and the commit — CPUs differ enough (store forwarding, the cost
/// of reading the TSC) that a figure means little without them.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let run = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"]);
    format!(
        "Machine: {} CPUs, {} (family {}, model {}, stepping {}); minstant TSC: {}\n\
         Date: {}; commit: {}{}; {}\n\
         Flags: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        field("model name"),
        field("cpu family"),
        field("model"),
        field("stepping"),
        minstant::is_tsc_available(),
        run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        run("git", &["rev-parse", "--short", "HEAD"]),
        if dirty.is_empty() || dirty == "?" { "" } else { " (with uncommitted changes)" },
        run("rustc", &["--version"]),
        field("flags"),
    )
}

fn report(results: &[(Case, Measured)], sat: Option<&Saturation>) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "{}\n", machine());

    let get = |id: &str| results.iter().find(|(c, _)| c.id == id).map(|(_, r)| r);
    let per_span = |c: &Case, v: Option<f64>| v.map(|v| v / f64::from(c.spans.max(1)));

    let _ = writeln!(w, "### All cases\n");
    let _ = writeln!(
        w,
        "| case | (a) caller's thread, ns/call | (a′) caller's thread CPU, paced, ns/call | (b) total CPU, ns/span | (b) of which other threads, ns/span | (c) allocations/span | delivered / produced during (a) | peak RSS growth during (a), MiB | delivered / produced during (b) |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---|---:|---|");
    for (c, r) in results {
        let allocs = r.allocs_per_call.map(|a| a / f64::from(c.spans.max(1)));
        let _ = writeln!(
            w,
            "| {} (`{}`) | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            c.id,
            fmt_opt(r.caller_ns, 1),
            fmt_opt(r.cpu_caller_ns, 1),
            fmt_opt(per_span(c, r.cpu_ns), 1),
            fmt_opt(per_span(c, r.cpu_background_ns), 1),
            fmt_opt(allocs, 3),
            delivery_cell(&r.caller_delivery),
            r.caller_peak_rss_kb / 1024,
            delivery_cell(&r.cpu_delivery),
        );
    }
    let _ = writeln!(
        w,
        "\n(a) criterion median, calls back to back (a root + 3 children call makes 4 spans). \
         (a′) mean CPU time of the caller's thread per call during (b), where calls are paced (a 100 µs sleep after \
         about 1,024 spans) so that the background threads keep up. (b) criterion median of CPU per call over paced calls plus \
         the library's flush: the caller's thread while it is in the calls, every other thread of the process all the time; \
         divided by the spans per call. \"Other threads\" is the mean of that second part. (c) per span (per call for cases \
         that record nothing), counted on the caller's thread over 102,400 paced calls after a warm-up.\n"
    );

    // Ratio tables: telemark against each peer, same kind of case.
    let peers: [(&str, Lib); 3] =
        [("tracing+otel", Lib::Tracing), ("OTel SDK", Lib::Sdk), ("fastrace", Lib::Fastrace)];
    let find = |lib: Lib, kind: Kind| -> Option<&(Case, Measured)> {
        results
            .iter()
            .find(|(c, _)| c.lib == lib && c.kind == kind && !(lib == Lib::Tracing && kind == Kind::Off))
    };
    type Metric = fn(&Case, &Measured) -> Option<f64>;
    let metrics: [(&str, Metric); 4] = [
        ("(a) caller's thread, ns per call", |_, r| r.caller_ns),
        ("(a′) caller's thread CPU when paced, ns per call", |_, r| r.cpu_caller_ns),
        ("(b) total CPU, ns per span", |c, r| r.cpu_ns.map(|v| v / f64::from(c.spans.max(1)))),
        ("(c) allocations per span", |c, r| r.allocs_per_call.map(|v| v / f64::from(c.spans.max(1)))),
    ];
    for (title, m) in metrics {
        let _ = writeln!(w, "### {title}: telemark and its ratio to each peer\n");
        let _ = writeln!(w, "| telemark case | telemark | tracing+otel | ratio | OTel SDK | ratio | fastrace | ratio | floor | ratio | plain | ratio |");
        let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (tc, tr) in results.iter().filter(|(c, _)| c.lib == Lib::Telemark) {
            let tv = m(tc, tr);
            let mut row = format!("| {} | {} ", tc.label.trim_start_matches("telemark, "), fmt_opt(tv, 2));
            let kind = if tc.kind == Kind::Extra { Kind::Child } else { tc.kind };
            for (_, lib) in peers {
                let peer = if kind == Kind::Off && lib == Lib::Tracing {
                    results.iter().find(|(c, _)| c.id == "tracing_nosub")
                } else {
                    find(lib, kind)
                };
                let pv = peer.and_then(|(c, r)| m(c, r));
                let _ = write!(row, "| {} | {} ", fmt_opt(pv, 2), ratio(tv, pv));
            }
            for id in ["floor", "plain"] {
                let pv = results.iter().find(|(c, _)| c.id == id).and_then(|(c, r)| m(c, r));
                let _ = write!(row, "| {} | {} ", fmt_opt(pv, 2), ratio(tv, pv));
            }
            row.push('|');
            let _ = writeln!(w, "{row}");
        }
        let _ = writeln!(
            w,
            "\nPeers for \"disabled / sampled out\": tracing without subscriber, the SDK with AlwaysOff, fastrace with no root.\n"
        );
    }

    // Targets.
    let _ = writeln!(w, "### Targets\n");
    let _ = writeln!(w, "| target | measured | verdict |");
    let _ = writeln!(w, "|---|---|---|");
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    };
    let v = |id: &str, f: fn(&Measured) -> Option<f64>| get(id).and_then(f);
    let caller = |r: &Measured| r.caller_ns;
    let plain = v("plain", caller);
    for id in ["telemark_disabled", "telemark_sampled_out_child", "telemark_sampled_out_root"] {
        let t = v(id, caller);
        let ok = t.zip(plain).map(|(t, p)| t <= p + 2.0);
        let _ = writeln!(
            w,
            "| `{id}` ≤ plain + 2 ns | {} vs {} + 2 | {} |",
            fmt_opt(t, 1),
            fmt_opt(plain, 1),
            verdict(ok)
        );
    }
    let child = v("telemark_child", caller);
    let fr_child = v("fastrace_child", caller);
    let floor = v("floor", caller);
    let _ = writeln!(
        w,
        "| sampled child ≤ fastrace's, caller's thread (a) | {} vs {} | {} |",
        fmt_opt(child, 1),
        fmt_opt(fr_child, 1),
        verdict(child.zip(fr_child).map(|(a, b)| a <= b))
    );
    let paced = |r: &Measured| r.cpu_caller_ns;
    let (pc, pf) = (v("telemark_child", paced), v("fastrace_child", paced));
    let _ = writeln!(
        w,
        "| sampled child ≤ fastrace's, caller's thread when paced (a′) | {} vs {} | {} |",
        fmt_opt(pc, 1),
        fmt_opt(pf, 1),
        verdict(pc.zip(pf).map(|(a, b)| a <= b))
    );
    let _ = writeln!(
        w,
        "| sampled child ≤ 2.5 × floor | {} vs 2.5 × {} = {} | {} |",
        fmt_opt(child, 1),
        fmt_opt(floor, 1),
        fmt_opt(floor.map(|f| 2.5 * f), 1),
        verdict(child.zip(floor).map(|(a, f)| a <= 2.5 * f))
    );
    for (tm, fr, what) in [
        ("telemark_child", "fastrace_child", "sampled child"),
        ("telemark_root", "fastrace_root", "root span"),
        ("telemark_root4", "fastrace_root4", "root + 3 children"),
    ] {
        let span_cpu =
            |id: &str| results.iter().find(|(c, _)| c.id == id).and_then(|(c, r)| per_span(c, r.cpu_ns));
        let (a, b) = (span_cpu(tm), span_cpu(fr));
        let _ = writeln!(
            w,
            "| total CPU per span ≤ fastrace's ({what}) | {} vs {} ns | {} |",
            fmt_opt(a, 1),
            fmt_opt(b, 1),
            verdict(a.zip(b).map(|(a, b)| a <= b))
        );
    }
    for (tm, fr, what) in [
        ("telemark_root", "fastrace_root", "root span"),
        ("telemark_root4", "fastrace_root4", "root + 3 children"),
    ] {
        let (a, b) = (v(tm, caller), v(fr, caller));
        let _ = writeln!(
            w,
            "| {what} no slower than fastrace's, caller's thread | {} vs {} ns | {} |",
            fmt_opt(a, 1),
            fmt_opt(b, 1),
            verdict(a.zip(b).map(|(a, b)| a <= b))
        );
    }
    let worst_alloc = results
        .iter()
        .filter(|(c, _)| c.lib == Lib::Telemark)
        .filter_map(|(c, r)| r.allocs_per_call.map(|a| (c.id, a / f64::from(c.spans.max(1)))))
        .fold(None::<(&str, f64)>, |m, x| if m.is_none_or(|m| x.1 > m.1) { Some(x) } else { m });
    let _ = writeln!(
        w,
        "| 0 allocations per span on the caller's thread | {} | {} |",
        worst_alloc.map_or_else(
            || "–".to_string(),
            |(id, a)| if a == 0.0 {
                "0 in every telemark case".to_string()
            } else {
                format!("worst {a:.4} (`{id}`)")
            }
        ),
        verdict(worst_alloc.map(|(_, a)| a == 0.0))
    );
    if let Some(s) = sat {
        let accounted = s.recorded + s.dropped == s.produced;
        let _ = writeln!(
            w,
            "| memory bounded under saturation, drops counted | peak RSS {} MiB; recorded + dropped {} produced | {} |",
            s.hwm_kb.max(s.rss_peak_kb) / 1024,
            if accounted { "=" } else { "≠" },
            verdict(Some(accounted && s.hwm_kb.max(s.rss_peak_kb) < s.rss_before_kb + 256 * 1024))
        );
    }

    if let Some(s) = sat {
        let _ = writeln!(w, "\n### Saturation: telemark, 2 producer threads, {:.1} s\n", s.seconds);
        let _ = writeln!(w, "| | |");
        let _ = writeln!(w, "|---|---:|");
        let _ = writeln!(
            w,
            "| spans produced | {} ({:.1} M/s) |",
            s.produced,
            s.produced as f64 / s.seconds / 1e6
        );
        let _ = writeln!(
            w,
            "| recorded (reached the collector) | {} ({:.1} %) |",
            s.recorded,
            100.0 * s.recorded as f64 / s.produced.max(1) as f64
        );
        let _ = writeln!(
            w,
            "| dropped (counted) | {} ({:.1} %) |",
            s.dropped,
            100.0 * s.dropped as f64 / s.produced.max(1) as f64
        );
        let _ = writeln!(
            w,
            "| recorded + dropped − produced | {} |",
            s.recorded as i64 + s.dropped as i64 - s.produced as i64
        );
        let _ = writeln!(w, "| RSS before | {} MiB |", s.rss_before_kb / 1024);
        let _ = writeln!(w, "| RSS peak (sampled every 20 ms) | {} MiB |", s.rss_peak_kb / 1024);
        let _ = writeln!(w, "| VmHWM (peak, reset before the run) | {} MiB |", s.hwm_kb / 1024);
        let _ = writeln!(w, "| RSS after | {} MiB |", s.rss_after_kb / 1024);
    }
    out
}

// ------------------------------------------------------------------------------------------------

use telemark_benches::target_dir;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let full = has("--bench") && !has("--test") && !has("--list") && !has("--profile-time");
    let criterion_dir = target_dir().join("criterion");
    let mut c = Criterion::default().output_directory(&criterion_dir).configure_from_args();
    let settings = Settings { full, criterion_dir };

    let mut guard = telemark::init(telemark_config(false)).unwrap();
    fastrace::set_reporter(CountingReporter, fastrace::collector::Config::default());

    // Saturation first, while the heap is small.
    let sat = if !has("--list") && (filters().is_empty() || case_selected("saturation")) {
        let s = saturation(if full { 4.0 } else { 0.2 });
        Some(s)
    } else {
        None
    };

    let mut results = Vec::new();
    let mut sampler_off = false;
    for case in cases() {
        if !case_selected(case.id) && !has("--list") {
            continue;
        }
        if case.sampler_off != sampler_off {
            // Replaces the running pipeline; the old guard's drop is then a no-op.
            guard = telemark::init(telemark_config(case.sampler_off)).unwrap();
            sampler_off = case.sampler_off;
        }
        let r = measure(&mut c, &settings, &case);
        results.push((case, r));
    }
    if sampler_off {
        guard = telemark::init(telemark_config(false)).unwrap();
    }
    c.final_summary();

    if !has("--list") {
        let text = report(&results, sat.as_ref());
        println!("\n{text}");
        if full {
            let dir = target_dir().join("telemark-bench");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join("report.md"), &text);
        }
    }

    if let Some(o) = OTEL.get() {
        let _ = o.provider.shutdown();
        let _ = o.off_provider.shutdown();
    }
    fastrace::flush();
    drop(guard);
}
