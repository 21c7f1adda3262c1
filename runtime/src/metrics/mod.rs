//! Per-function metrics (`telemark::metrics`): every call of a `#[traced]` function (and of a
//! function with `#[alert_on]`) counted by outcome, with its latency in a histogram.
//!
//! On the caller's thread a call costs a few plain stores into a table only that thread writes
//! (no lock, no atomic read-modify-write, no allocation); telemark's own threads sum the tables
//! when they export or evaluate. A thread's table is handed to the next thread when it exits, so
//! thread churn does not grow memory, and counts are never lost.

pub(crate) mod prometheus;

use crate::caller::callsite::Callsite;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds of the latency buckets in nanoseconds: 1-2-5 steps from 1 µs to 100 s (the last
/// bucket, past 100 s, is `+Inf`).
pub const BOUNDS_NS: [u64; 25] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
    20_000_000_000,
    50_000_000_000,
    100_000_000_000,
];

/// Buckets, with `+Inf`.
pub const BUCKETS: usize = BOUNDS_NS.len() + 1;

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// Returned (an `Ok`, or anything that is not a `Result`).
    Ok = 0,
    /// Returned an `Err`.
    Error = 1,
    /// Panicked.
    Panic = 2,
}

impl CallOutcome {
    /// `ok`, `error` or `panic`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Panic => "panic",
        }
    }
}

/// One call site's counters in one thread's table. Only the owning thread writes (a load and a
/// store, no read-modify-write); other threads only read.
#[derive(Default)]
struct Shard {
    calls: [AtomicU64; 3],
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

#[inline(always)]
fn bump(c: &AtomicU64, by: u64) {
    c.store(c.load(Relaxed).wrapping_add(by), Relaxed);
}

const CHUNK: usize = 64;
const CHUNKS: usize = 64;
/// Most call sites with metrics in one program; past it calls are not counted (see `overflow`).
pub const MAX_SITES: usize = CHUNK * CHUNKS;

/// One thread's counters, in chunks allocated as call sites first record.
struct Table {
    chunks: [OnceLock<Box<[Shard]>>; CHUNKS],
}

impl Table {
    fn new() -> Table {
        Table { chunks: [const { OnceLock::new() }; CHUNKS] }
    }

    #[inline(always)]
    fn shard(&self, id: usize) -> Option<&Shard> {
        let chunk = self.chunks.get(id / CHUNK)?;
        let c = match chunk.get() {
            Some(c) => c,
            None => chunk.get_or_init(|| (0..CHUNK).map(|_| Shard::default()).collect()),
        };
        c.get(id % CHUNK)
    }
}

/// Every table ever made (they live as long as the program), and those free for a new thread.
static TABLES: Mutex<Vec<&'static Table>> = Mutex::new(Vec::new());
static FREE: Mutex<Vec<&'static Table>> = Mutex::new(Vec::new());
/// Call sites by id (index + 1 is the id stored in the call site).
static SITES: Mutex<Vec<&'static Callsite>> = Mutex::new(Vec::new());
static ON: AtomicBool = AtomicBool::new(true);
static OVERFLOW: AtomicU64 = AtomicU64::new(0);

/// Returns this thread's table to the pool when the thread exits.
struct Holder(&'static Table);
impl Drop for Holder {
    fn drop(&mut self) {
        let _ = MINE.try_with(|m| m.set(None));
        if let Ok(mut f) = FREE.lock() {
            f.push(self.0);
        }
    }
}

thread_local! {
    static MINE: Cell<Option<&'static Table>> = const { Cell::new(None) };
    static HOLDER: std::cell::RefCell<Option<Holder>> = const { std::cell::RefCell::new(None) };
}

#[cold]
#[inline(never)]
fn adopt() -> Option<&'static Table> {
    let table = FREE.lock().ok().and_then(|mut f| f.pop()).or_else(|| {
        let t: &'static Table = Box::leak(Box::new(Table::new()));
        TABLES.lock().ok()?.push(t);
        Some(t)
    })?;
    // Without the holder (thread teardown) the table is not taken: nothing would give it back.
    HOLDER
        .try_with(|h| {
            if let Ok(mut h) = h.try_borrow_mut() {
                *h = Some(Holder(table));
            }
        })
        .ok()?;
    MINE.try_with(|m| m.set(Some(table))).ok()?;
    Some(table)
}

/// Whether metrics are recorded (config `metrics.enabled`).
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Relaxed)
}

pub(crate) fn set_enabled(on: bool) {
    started();
    ON.store(on, Relaxed);
    // Call sites cache whether calls are measured: they ask again.
    crate::caller::sampling::GENERATION.fetch_add(1, Relaxed);
}

/// When counting started: the first `init` (or the first use) in this process.
pub(crate) fn started() -> std::time::SystemTime {
    static START: OnceLock<std::time::SystemTime> = OnceLock::new();
    *START.get_or_init(std::time::SystemTime::now)
}

#[cold]
#[inline(never)]
fn register(cs: &'static Callsite) -> usize {
    let Ok(mut sites) = SITES.lock() else { return 0 };
    let id = cs.metrics_id.load(Relaxed) as usize;
    if id != 0 {
        return id;
    }
    if sites.len() >= MAX_SITES {
        return 0;
    }
    sites.push(cs);
    let id = sites.len();
    cs.metrics_id.store(id as u32, Relaxed);
    id
}

/// The bucket of a latency: its upper bound is the first bound ≥ `nanos`. A scan with early exits
/// on purpose: a function's latencies usually fall in the same few buckets, so the branches are
/// predicted and the counter's address is known before the clock has been read — a binary search
/// or a table lookup puts the clock on the store's critical path (about 20 ns more per call).
#[inline(always)]
pub fn bucket(nanos: u64) -> usize {
    let mut i = 0;
    while i < BOUNDS_NS.len() {
        if nanos <= BOUNDS_NS[i] {
            return i;
        }
        i += 1;
    }
    BOUNDS_NS.len()
}

/// Counts one call of `cs` that took `nanos` and ended with `outcome`.
#[inline]
pub(crate) fn record(cs: &'static Callsite, nanos: u64, outcome: CallOutcome) {
    let mut id = cs.metrics_id.load(Relaxed) as usize;
    if id == 0 {
        id = register(cs);
        if id == 0 {
            OVERFLOW.fetch_add(1, Relaxed);
            return;
        }
    }
    let table = match MINE.try_with(Cell::get) {
        Ok(Some(t)) => t,
        Ok(None) => match adopt() {
            Some(t) => t,
            None => return,
        },
        Err(_) => return,
    };
    let Some(s) = table.shard(id - 1) else { return };
    bump(&s.calls[outcome as usize], 1);
    bump(&s.buckets[bucket(nanos)], 1);
    bump(&s.sum_ns, nanos);
}

/// Metrics for one function since the program started (cumulative).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionMetrics {
    /// `module::function`.
    pub function: &'static str,
    /// The module path.
    pub module: &'static str,
    /// Calls that returned normally (`ok`), with an `Err` (`error`), or panicked (`panic`).
    pub calls: [u64; 3],
    /// Calls per latency bucket (upper bounds [`BOUNDS_NS`], then `+Inf`); not cumulative.
    pub buckets: [u64; BUCKETS],
    /// Total latency of all calls.
    pub sum: Duration,
    /// Exceptions captured in the function.
    pub exceptions: u64,
}

impl FunctionMetrics {
    /// Every call.
    pub fn total(&self) -> u64 {
        self.calls.iter().sum()
    }

    /// Failed calls (`error` and `panic`).
    pub fn failed(&self) -> u64 {
        self.calls[1] + self.calls[2]
    }
}

/// Exceptions per function (counted on telemark's thread as they are grouped).
static EXCEPTIONS: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

/// Counts one captured exception in `function` (telemark's thread).
pub(crate) fn count_exception(function: &str) {
    if let Ok(mut e) = EXCEPTIONS.lock() {
        match e.iter_mut().find(|(f, _)| f == function) {
            Some((_, n)) => *n += 1,
            None => e.push((function.to_string(), 1)),
        }
    }
}

/// The metrics of every function that has been called, summed over all threads, sorted by
/// function. A snapshot, cheap enough to take every few seconds.
///
/// Calls are counted on the calling thread; exceptions on telemark's thread, and this first waits
/// until every exception captured before the call is counted (at most
/// [`QUERY_WAIT`](crate::QUERY_WAIT), a bound reached only when that thread is stuck).
pub fn snapshot() -> Vec<FunctionMetrics> {
    crate::collector::barrier();
    let sites: Vec<&'static Callsite> = SITES.lock().map(|s| s.clone()).unwrap_or_default();
    let tables: Vec<&'static Table> = TABLES.lock().map(|t| t.clone()).unwrap_or_default();
    let exceptions = EXCEPTIONS.lock().map(|e| e.clone()).unwrap_or_default();
    let mut out: Vec<FunctionMetrics> = sites
        .iter()
        .enumerate()
        .map(|(i, cs)| {
            let mut m = FunctionMetrics {
                function: cs.meta.function,
                module: cs.meta.target,
                calls: [0; 3],
                buckets: [0; BUCKETS],
                sum: Duration::ZERO,
                exceptions: 0,
            };
            let mut sum_ns: u64 = 0;
            for t in &tables {
                let Some(chunk) = t.chunks.get(i / CHUNK).and_then(OnceLock::get) else { continue };
                let Some(s) = chunk.get(i % CHUNK) else { continue };
                for (k, c) in s.calls.iter().enumerate() {
                    m.calls[k] += c.load(Relaxed);
                }
                for (k, b) in s.buckets.iter().enumerate() {
                    m.buckets[k] += b.load(Relaxed);
                }
                sum_ns = sum_ns.wrapping_add(s.sum_ns.load(Relaxed));
            }
            m.sum = Duration::from_nanos(sum_ns);
            m
        })
        .collect();
    // Several call sites can be one function (a function `#[traced]` twice is not allowed, but
    // the same name in two modules is not the same function): merge exact duplicates only.
    out.sort_by(|a, b| a.function.cmp(b.function));
    out.dedup_by(|later, first| {
        if later.function != first.function {
            return false;
        }
        for k in 0..3 {
            first.calls[k] += later.calls[k];
        }
        for k in 0..BUCKETS {
            first.buckets[k] += later.buckets[k];
        }
        first.sum += later.sum;
        true
    });
    for m in &mut out {
        m.exceptions = exceptions.iter().find(|(f, _)| f == m.function).map_or(0, |(_, n)| *n);
    }
    out
}

/// Exceptions captured per function (`module::function`, or the file when the exception was
/// recorded outside an instrumented function), sorted by function; waits as [`snapshot`] does.
#[doc(hidden)] // the alerts read it; `snapshot` has the same counts per function
pub fn exception_counts() -> Vec<(String, u64)> {
    crate::collector::barrier();
    let mut v = EXCEPTIONS.lock().map(|e| e.clone()).unwrap_or_default();
    v.sort();
    v
}

/// Calls not counted because the program has more than [`MAX_SITES`] instrumented functions.
pub fn overflow() -> u64 {
    OVERFLOW.load(Relaxed)
}

/// A call being measured: where, when it started, and whether it returned an `Err` (generated
/// code reports that through the span guard).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meter {
    pub cs: Option<&'static Callsite>,
    pub start: minstant::Instant,
    /// Whether the call failed, 0 or 1: a whole word, because a `bool`'s seven bytes of padding,
    /// copied with the guard that holds this, were written and read back in pieces that stall
    /// store forwarding (Zen 4).
    pub failed: u64,
}

impl Meter {
    pub(crate) const OFF: Meter = Meter { cs: None, start: minstant::Instant::ZERO, failed: 0 };

    /// Starts measuring a call of `cs` (at `start`, or now) if metrics are on.
    ///
    /// Only the check is inlined into instrumented functions: reading the clock is compiled once.
    #[inline(always)]
    pub(crate) fn start(cs: &'static Callsite, start: Option<minstant::Instant>) -> Meter {
        if !on() {
            return Meter::OFF;
        }
        Meter::started(cs, start)
    }

    fn started(cs: &'static Callsite, start: Option<minstant::Instant>) -> Meter {
        Meter { cs: Some(cs), start: start.unwrap_or_else(minstant::Instant::now), failed: 0 }
    }

    /// Ends the call at `end` (`None`: now).
    #[inline(always)]
    pub(crate) fn stop(&self, end: Option<minstant::Instant>) {
        let Some(cs) = self.cs else { return };
        let end = end.unwrap_or_else(minstant::Instant::now);
        let nanos = end.checked_duration_since(self.start).map_or(0, |d| d.as_nanos() as u64);
        let outcome = if std::thread::panicking() {
            CallOutcome::Panic
        } else if self.failed != 0 {
            CallOutcome::Error
        } else {
            CallOutcome::Ok
        };
        record(cs, nanos, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_bucket_agrees_with_a_search_everywhere() {
        let search = |n: u64| BOUNDS_NS.partition_point(|&b| b < n);
        let mut probes = vec![0, 1, u64::MAX, u64::MAX - 1];
        for b in BOUNDS_NS {
            probes.extend([b - 1, b, b + 1]);
        }
        for bits in 0..64 {
            let p = 1u64 << bits;
            probes.extend([p - 1, p, p + 1]);
        }
        for n in probes {
            assert_eq!(bucket(n), search(n), "{n}");
        }
    }

    #[test]
    fn buckets_are_upper_bounds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1_000), 0, "le=1µs includes 1µs");
        assert_eq!(bucket(1_001), 1);
        assert_eq!(bucket(200_000_000), 16, "200ms");
        assert_eq!(bucket(u64::MAX), BUCKETS - 1, "+Inf");
    }
}
