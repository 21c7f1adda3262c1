//! telemark's collector thread: drains every thread's ring and hands what it finds to the
//! exporters — to the OTLP exporter as views of the records where they lie (nothing decoded, nothing
//! allocated), to the others decoded into [`FinishedSpan`]s and [`LogEntry`]s.

mod decode;
pub(crate) use decode::set_code_attributes;

use crate::caller::clock;
use crate::caller::thread::{self, Record, CHANNELS};
use crate::caller::value;
use crate::export::{Exporter, FinishedSpan, LogEntry, RecordExporter};
use crate::sanitize::{Sanitizer, Signal};
use crate::stats::{Item, STATS};
use decode::{decode_log, decode_span, log_view, span_view};
use std::borrow::Cow;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) enum Command {
    Wake,
    /// Process everything handed over before this command and hand it to the exporters, without
    /// flushing them: the barrier behind the query APIs ([`barrier`]).
    Barrier(SyncSender<()>),
    Flush(SyncSender<()>, Instant),
    Shutdown(SyncSender<()>, Instant),
}

/// The longest a query API (`exceptions::groups()`, `metrics::snapshot()`, `alerts::active()`,
/// `stats()`, …) waits for telemark's thread to process what was recorded before it was called.
/// Processing takes microseconds to a few seconds (symbolising the first backtrace of a large
/// debug build); the bound is reached only when that thread is stuck, e.g. in an exporter of the
/// program's own that blocks.
pub const QUERY_WAIT: Duration = Duration::from_secs(30);

/// Waits until telemark's thread has processed every span, log and exception this thread (and,
/// in the order they synchronised with it, any other) handed over before the call — at most
/// [`QUERY_WAIT`]. Returns at once when telemark is not running, and on telemark's own threads
/// (which must never wait for the collector). False when the bound was reached.
pub fn barrier() -> bool {
    if !crate::caller::sampling::active() || thread::is_internal() {
        return true;
    }
    request(Command::Barrier, Instant::now() + QUERY_WAIT)
}

/// The running collector's inbox.
static WAKER: Mutex<Option<SyncSender<Command>>> = Mutex::new(None);

/// Sends a command and waits for its acknowledgement until `deadline`; false on timeout.
pub(crate) fn request(make: impl FnOnce(SyncSender<()>) -> Command, deadline: Instant) -> bool {
    let (ack_tx, ack_rx) = mpsc::sync_channel(1);
    let sent =
        WAKER.lock().ok().and_then(|w| w.as_ref().map(|tx| tx.send(make(ack_tx)).is_ok())).unwrap_or(false);
    sent && ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok()
}

/// Starts telemark's thread. `direct` (OTLP) takes records as they lie in the rings; the
/// `exporters` take them decoded.
pub(crate) fn start(
    direct: Option<Box<dyn RecordExporter>>,
    exporters: Vec<Box<dyn Exporter>>,
    sanitizer: Sanitizer,
    interval: Duration,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::sync_channel(256);
    let mut c = Collector {
        direct,
        exporters,
        spans: Vec::new(),
        logs: Vec::new(),
        direct_spans: Vec::new(),
        direct_logs: Vec::new(),
        pending: false,
        pool: Vec::new(),
        exceptions: crate::exception::Processor::default(),
        sanitizer,
    };
    std::thread::Builder::new().name("telemark-collector".into()).spawn(move || {
        thread::mark_internal();
        let mut busy = false;
        loop {
            // While producers keep it busy, drain back to back; sleep only when a pass found
            // little, so a burst does not overflow the rings while this thread waits to be woken.
            let cmd = if busy {
                match rx.try_recv() {
                    Ok(cmd) => Ok(cmd),
                    Err(mpsc::TryRecvError::Empty) => Err(RecvTimeoutError::Timeout),
                    Err(mpsc::TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                }
            } else {
                rx.recv_timeout(interval)
            };
            // A command that answers for what was recorded before it takes all of it, not one pass.
            let pass = match cmd {
                Ok(Command::Barrier(_) | Command::Flush(..) | Command::Shutdown(..)) => Pass::Everything,
                _ => Pass::Bounded,
            };
            busy = c.drain(pass) >= BUSY;
            match cmd {
                Ok(Command::Wake) => {
                    let _ = c.dispatch();
                }
                Err(RecvTimeoutError::Timeout) => {
                    if !c.dispatch() {
                        c.idle();
                    }
                }
                Ok(Command::Barrier(ack)) => {
                    let _ = c.dispatch();
                    let _ = ack.send(());
                }
                Ok(Command::Flush(ack, deadline)) => {
                    let _ = c.dispatch();
                    let mut flushed = true;
                    for e in c.all() {
                        flushed &= e.flush(deadline);
                    }
                    // An exporter that did not deliver everything: the ack is dropped unsent,
                    // and `telemark::flush` returns false at once.
                    if flushed {
                        let _ = ack.send(());
                    }
                }
                Ok(Command::Shutdown(ack, deadline)) => {
                    let _ = c.dispatch();
                    for e in c.all() {
                        e.shutdown(deadline);
                    }
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    })?;
    // A thread whose ring fills up rings this bell: the collector drains now.
    let bell = tx.clone();
    thread::hang_bell(Some(Box::new(move || {
        let _ = bell.try_send(Command::Wake);
    })));
    if let Ok(mut w) = WAKER.lock() {
        *w = Some(tx);
    }
    Ok(())
}

/// Forgets the running collector (after it acknowledged shutdown or failed to).
pub(crate) fn detach() {
    thread::hang_bell(None);
    if let Ok(mut w) = WAKER.lock() {
        *w = None;
    }
}

struct Collector {
    /// The exporter that takes records where they lie (OTLP), if it is on.
    direct: Option<Box<dyn RecordExporter>>,
    /// The others (console, in-memory, the program's own).
    exporters: Vec<Box<dyn Exporter>>,
    /// Decoded for `exporters` (only when there are some).
    spans: Vec<FinishedSpan>,
    logs: Vec<LogEntry>,
    /// Decoded for `direct`: what could not be handed over where it lay.
    direct_spans: Vec<FinishedSpan>,
    direct_logs: Vec<LogEntry>,
    /// Records were taken since the last dispatch.
    pending: bool,
    /// Emptied attribute lists of exported spans, reused for the next ones.
    pool: Vec<Attributes>,
    /// Groups exceptions and completes the span events that wait for their stacktraces.
    exceptions: crate::exception::Processor,
    /// Masks secrets and applies the limits before anything is handed on.
    sanitizer: Sanitizer,
}

type Attributes = Vec<(Cow<'static, str>, value::Value)>;

/// Starts loading a record's data into this core's cache.
fn prefetch(record: &Record) {
    let data = match record {
        Record::Span(s) => &s.data,
        Record::Log(l) => &l.data,
        Record::Exception(_) => return,
    };
    if data.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of every x86_64 CPU, and a prefetch is a hint: it never faults
        // (whatever the address) and changes nothing the program can observe.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().cast()) };
    }
}

/// Runs an exporter's call, so that a panic in it cannot end telemark's thread.
fn guarded(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

/// Attribute lists kept for reuse at most.
const POOL: usize = 4096;

/// A pass that took at least this many records is followed by another one right away.
const BUSY: usize = 256;

/// Records taken from a ring at once, their data prefetched together.
const CHUNK: usize = 32;

/// Most records taken from one thread's ring per pass, so one busy thread cannot starve the rest.
const PER_PASS: usize = 4096;

/// How much of each ring one pass takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// At most [`PER_PASS`] records.
    Bounded,
    /// Every record the ring held when the pass reached it (and no more, so a producer running
    /// flat out cannot keep the pass going).
    Everything,
}

impl Collector {
    /// Takes what the rings hold (see [`Pass`]); returns how many records that was.
    fn drain(&mut self, pass: Pass) -> usize {
        let mut taken = 0;
        let anchor = clock::anchor();
        let Ok(mut channels) = CHANNELS.lock() else {
            return 0;
        };
        let (mut spans, mut logs, mut attributes_dropped, mut events_dropped) = (0u64, 0u64, 0u64, 0u64);
        let others = !self.exporters.is_empty();
        if let Some(d) = &mut self.direct {
            d.begin();
        }
        for ch in channels.iter_mut() {
            ch.shared.wake_requested.store(false, Relaxed);
            // What the ring could not take: recorded, and dropped (`buffer_full`).
            crate::stats::count_buffer_full(Item::Span, ch.shared.spans_dropped.swap(0, Relaxed));
            crate::stats::count_buffer_full(Item::Log, ch.shared.logs_dropped.swap(0, Relaxed));
            let limit = match pass {
                Pass::Bounded => PER_PASS,
                Pass::Everything => ch.records.slots(),
            };
            let mut left = limit;
            while left > 0 {
                let n = ch.records.slots().min(left).min(CHUNK);
                if n == 0 {
                    break;
                }
                let Ok(chunk) = ch.records.read_chunk(n) else { break };
                left -= n;
                // The records' data was written on other cores: ask for all of it at once, so
                // that it arrives while the first records are encoded.
                let (first, second) = chunk.as_slices();
                first.iter().chain(second).for_each(prefetch);
                for record in chunk {
                    taken += 1;
                    let data = match record {
                        Record::Span(mut s) => {
                            spans += 1;
                            let cut = self.sanitizer.data(&mut s.data, Signal::Span);
                            s.dropped += cut.attributes;
                            s.dropped_events += cut.events;
                            attributes_dropped += u64::from(cut.attributes);
                            events_dropped += u64::from(cut.events);
                            // The direct exporter takes it where it lies, unless it has events.
                            let handed = match (&mut self.direct, span_view(&s, &anchor)) {
                                (Some(d), Some(v)) => {
                                    guarded(|| d.span(&v));
                                    true
                                }
                                (Some(_), None) => false,
                                (None, _) => true,
                            };
                            if handed && !others {
                                s.data
                            } else {
                                let attributes = if s.data.is_empty() {
                                    Vec::new()
                                } else {
                                    self.pool.pop().unwrap_or_default()
                                };
                                let (mut span, data) = decode_span(s, &anchor, attributes);
                                if !span.events.is_empty() {
                                    self.exceptions.complete(&mut span.events);
                                }
                                match (handed, others) {
                                    (false, false) => self.direct_spans.push(span),
                                    (false, true) => {
                                        self.direct_spans.push(span.clone());
                                        self.spans.push(span);
                                    }
                                    (true, _) => self.spans.push(span),
                                }
                                data
                            }
                        }
                        Record::Exception(report) => {
                            if let Some(log) = self.exceptions.process(*report, &mut self.sanitizer) {
                                logs += 1;
                                match (self.direct.is_some(), others) {
                                    (true, false) => self.direct_logs.push(log),
                                    (true, true) => {
                                        self.direct_logs.push(log.clone());
                                        self.logs.push(log);
                                    }
                                    (false, _) => self.logs.push(log),
                                }
                            }
                            continue;
                        }
                        Record::Log(mut l) => {
                            logs += 1;
                            let cut = self.sanitizer.data(&mut l.data, Signal::Log);
                            l.dropped += cut.attributes;
                            attributes_dropped += u64::from(cut.attributes);
                            if let Some(d) = &mut self.direct {
                                guarded(|| d.log(&log_view(&l, &anchor)));
                            }
                            if others {
                                let attributes = self.pool.pop().unwrap_or_default();
                                let (log, data) = decode_log(l, &anchor, attributes);
                                self.logs.push(log);
                                data
                            } else {
                                l.data
                            }
                        }
                    };
                    if data.capacity() > 0 && data.capacity() <= 4096 {
                        let mut data = data;
                        data.clear();
                        let _ = ch.recycle.push(data);
                    }
                }
            }
        }
        channels.retain(|ch| {
            let gone = ch.records.is_abandoned() && ch.records.is_empty();
            if gone {
                // Its thread ended: what it dropped after this pass took its counts.
                crate::stats::count_buffer_full(Item::Span, ch.shared.spans_dropped.swap(0, Relaxed));
                crate::stats::count_buffer_full(Item::Log, ch.shared.logs_dropped.swap(0, Relaxed));
            }
            !gone
        });
        STATS.spans_recorded.fetch_add(spans, Relaxed);
        STATS.logs_recorded.fetch_add(logs, Relaxed);
        if attributes_dropped > 0 {
            STATS.attributes_dropped.fetch_add(attributes_dropped, Relaxed);
        }
        if events_dropped > 0 {
            STATS.events_dropped.fetch_add(events_dropped, Relaxed);
        }
        self.pending |= spans + logs > 0;
        taken
    }

    /// Lets the exporters send what they hold back.
    fn idle(&mut self) {
        for e in self.all() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.idle()));
        }
    }

    /// Hands what was drained to the exporters; false if there was nothing.
    fn dispatch(&mut self) -> bool {
        if !std::mem::take(&mut self.pending) {
            return false;
        }
        if let Some(d) = &mut self.direct {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                d.export(&self.direct_spans, &self.direct_logs)
            }));
            if !matches!(outcome, Ok(Ok(()))) {
                STATS.export_failures.fetch_add(1, Relaxed);
            }
        }
        if !self.spans.is_empty() || !self.logs.is_empty() {
            self.logs.sort_by_key(|l| l.time_unix_nanos);
            for e in &mut self.exporters {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    e.export(&self.spans, &self.logs)
                }));
                if !matches!(outcome, Ok(Ok(()))) {
                    STATS.export_failures.fetch_add(1, Relaxed);
                }
            }
        }
        let lists = self.spans.drain(..).chain(self.direct_spans.drain(..)).map(|s| s.attributes);
        let lists = lists.chain(self.logs.drain(..).chain(self.direct_logs.drain(..)).map(|l| l.attributes));
        for mut attributes in lists {
            if attributes.capacity() > 0 && attributes.capacity() <= 64 && self.pool.len() < POOL {
                attributes.clear();
                self.pool.push(attributes);
            }
        }
        true
    }

    /// Every exporter, the direct one first.
    fn all(&mut self) -> impl Iterator<Item = &mut dyn Exporter> {
        let direct = self.direct.as_mut().map(|d| {
            let d: &mut dyn Exporter = &mut **d;
            d
        });
        direct.into_iter().chain(self.exporters.iter_mut().map(|e| &mut **e as &mut dyn Exporter))
    }
}
