//! The per-thread side of the pipeline: the stack of current spans and the ring that carries
//! finished spans and log records to telemark's collector thread.
//!
//! Nothing here locks or does I/O on the hot path. A thread's first record registers its ring with
//! the collector (one mutex, once per thread); after that, handing over a span is one write into a
//! single-producer ring. A full ring drops the record and counts it.

use crate::caller::callsite::{Callsite, SpanContext, SpanKind, STATUS_UNSET};
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::level::Level;
use crate::stats::STATS;
use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Where a span was declared.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Site {
    Callsite(&'static Callsite),
    Tracing(&'static tracing::Metadata<'static>),
    /// A manual span; its name travels in its data (so the site stays one pointer).
    Manual(&'static Location<'static>),
}

impl Site {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Site::Callsite(c) => c.meta.name,
            Site::Tracing(m) => m.name(),
            Site::Manual(_) => "",
        }
    }
}

/// One entry of the current-span stack.
#[derive(Debug)]
pub(crate) struct Frame {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: SpanId,
    pub parent_remote: bool,
    pub sampled: bool,
    /// Owns a span that is recorded when it ends; false for a borrowed context or an unsampled span.
    pub recording: bool,
    pub kind: SpanKind,
    pub start: minstant::Instant,
    /// Set when the span ends.
    pub end: minstant::Instant,
    pub site: Site,
    pub status: u8,
    /// Dropped (a future) before it finished.
    pub cancelled: bool,
    /// Attributes dropped (the span's data was full, or a value's formatting failed).
    pub dropped: u32,
    /// Events dropped.
    pub dropped_events: u32,
    pub data: Vec<u8>,
    pub trace_state: Option<Arc<str>>,
    /// W3C baggage, inherited by child spans (`None` unless some was set or extracted).
    pub baggage: Option<crate::caller::baggage::Baggage>,
}

impl Frame {
    /// A frame with nothing in it, written into the stack's next slot before the span's own
    /// fields are stored there one by one: a frame built elsewhere and copied in would be read
    /// back 16 bytes at a time right after its narrow fields were written, which stalls store
    /// forwarding (tens of cycles per span on Zen 4).
    pub(crate) const BLANK: Frame = Frame {
        trace_id: TraceId::INVALID,
        span_id: SpanId::INVALID,
        parent: SpanId::INVALID,
        parent_remote: false,
        sampled: false,
        recording: false,
        kind: SpanKind::Internal,
        start: minstant::Instant::ZERO,
        end: minstant::Instant::ZERO,
        site: Site::Manual(Location::caller()),
        status: STATUS_UNSET,
        cancelled: false,
        dropped: 0,
        dropped_events: 0,
        data: Vec::new(),
        trace_state: None,
        baggage: None,
    };

    pub(crate) fn context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            sampled: self.sampled,
            remote: false,
            trace_state: self.trace_state.clone(),
            baggage: self.baggage.clone(),
        }
    }

    /// A frame that only makes `ctx` current (for tasks and threads started inside a span).
    pub(crate) fn borrowed(ctx: &SpanContext) -> Frame {
        Frame {
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            parent_remote: ctx.remote,
            sampled: ctx.sampled,
            trace_state: ctx.trace_state.clone(),
            baggage: ctx.baggage.clone(),
            ..Frame::BLANK
        }
    }
}

/// A finished span as it travels to the collector: the frame itself, so ending a span copies
/// nothing but the frame into the ring.
pub(crate) type SpanRecord = Frame;

/// Where a log record comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LogSource {
    /// A `tracing` event.
    Tracing(&'static tracing::Metadata<'static>),
}

/// A log record (a `tracing` event or an exception) as it travels to the collector.
#[derive(Debug)]
pub(crate) struct LogRecord {
    pub time: minstant::Instant,
    pub level: Level,
    pub source: LogSource,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// Attributes dropped (a value's formatting failed, or limits on telemark's thread).
    pub dropped: u32,
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub(crate) enum Record {
    Span(SpanRecord),
    Log(LogRecord),
    /// A captured exception (rare: boxed, so it does not make every record bigger).
    Exception(Box<crate::exception::Report>),
}

/// State shared by both ends of one thread's ring.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub wake_requested: AtomicBool,
    /// Records this thread dropped because its ring was full; written only by the owning thread,
    /// folded into the global counters by the collector (no shared cache line on the hot path).
    pub spans_dropped: AtomicU64,
    pub logs_dropped: AtomicU64,
}

/// The collector's end of one thread's ring.
pub(crate) struct ThreadChannel {
    pub records: rtrb::Consumer<Record>,
    pub recycle: rtrb::Producer<Vec<u8>>,
    pub shared: Arc<Shared>,
}

struct ProducerSide {
    records: rtrb::Producer<Record>,
    recycle: rtrb::Consumer<Vec<u8>>,
    /// Buffers taken from `recycle` in a batch, so the shared ring is touched once per batch.
    spare: Vec<Vec<u8>>,
    shared: Arc<Shared>,
    half: usize,
}

/// Recycled buffers taken from the ring at once.
const SPARE_BATCH: usize = 32;

/// What a thread whose ring fills up calls to have telemark's thread drain now: hung by the
/// collector when it starts (so that this side does not depend on it).
type Bell = Box<dyn Fn() + Send>;
static BELL: Mutex<Option<Bell>> = Mutex::new(None);

/// Hangs the bell (`None`: takes it down).
pub(crate) fn hang_bell(bell: Option<Bell>) {
    if let Ok(mut b) = BELL.lock() {
        *b = bell;
    }
}

/// Rings the bell, if one hangs; never waits for the lock.
#[cold]
fn ring_bell() {
    if let Ok(b) = BELL.try_lock() {
        if let Some(ring) = b.as_ref() {
            ring();
        }
    }
}

/// Every thread's ring, for the collector to drain.
pub(crate) static CHANNELS: Mutex<Vec<ThreadChannel>> = Mutex::new(Vec::new());
/// Ring capacity for threads that register from now on.
pub(crate) static RING_CAPACITY: AtomicUsize = AtomicUsize::new(4096);

pub(crate) struct Local {
    pub stack: RefCell<Vec<Frame>>,
    producer: RefCell<Option<ProducerSide>>,
    /// What telemark's panic hook captured of the panic in flight, for the spans it unwinds.
    pub panic_note: RefCell<Option<crate::exception::PanicNote>>,
    /// Set on telemark's own threads: what they do is never instrumented.
    pub internal: Cell<bool>,
}

thread_local! {
    pub(crate) static LOCAL: Local = const {
        Local {
            stack: RefCell::new(Vec::new()),
            producer: RefCell::new(None),
            panic_note: RefCell::new(None),
            internal: Cell::new(false),
        }
    };
}

impl Local {
    /// The current span's context, if any.
    #[inline]
    pub(crate) fn current(&self) -> Option<SpanContext> {
        self.stack.try_borrow().ok()?.last().map(Frame::context)
    }

    /// Hands a record to the collector; drops and counts it when the ring is full.
    #[inline]
    pub(crate) fn submit(&self, record: Record) {
        let Ok(mut p) = self.producer.try_borrow_mut() else {
            count_drop(&record);
            return;
        };
        if p.is_none() {
            *p = register();
        }
        let Some(side) = p.as_mut() else {
            count_drop(&record);
            return;
        };
        match side.records.push(record) {
            Ok(()) => {
                // Wake the collector when the ring passes a quarter full, once per drain.
                if side.records.cached_slots() < side.half
                    && !side.shared.wake_requested.load(Relaxed)
                    && side.records.slots() < side.half
                    && !side.shared.wake_requested.swap(true, Relaxed)
                {
                    ring_bell();
                }
            }
            Err(rtrb::PushError::Full(r)) => {
                let (counter, mut data) = match r {
                    Record::Span(s) => (&side.shared.spans_dropped, s.data),
                    Record::Log(l) => (&side.shared.logs_dropped, l.data),
                    Record::Exception(_) => (&STATS.exceptions_dropped, Vec::new()),
                };
                counter.fetch_add(1, Relaxed);
                // Keep the buffer for the next span, so overload does not turn into allocations.
                if data.capacity() > 0 && side.spare.len() < SPARE_BATCH {
                    data.clear();
                    side.spare.push(data);
                }
                if !side.shared.wake_requested.load(Relaxed)
                    && !side.shared.wake_requested.swap(true, Relaxed)
                {
                    ring_bell();
                }
            }
        }
    }

    /// Ends the span on top of `stack` at `end` and moves its frame straight from the stack
    /// into the ring: one copy, of what was written when the span started, with `end` written
    /// into the ring's slot afterwards. (Moved through `submit`, the frame was copied three
    /// times, each copy reading back 16 bytes at a time what the previous one had just written
    /// at another alignment: store-forwarding stalls, about a third of a child span's cost on
    /// Zen 4.) Returns false, leaving the stack as it was, when the ring is full or the thread
    /// has no ring: the caller then takes the frame off and goes the slow way, which counts it.
    #[inline]
    pub(crate) fn submit_top(&self, stack: &mut Vec<Frame>, end: minstant::Instant) -> bool {
        let Ok(mut p) = self.producer.try_borrow_mut() else { return false };
        let Some(side) = p.as_mut() else { return false };
        let len = stack.len();
        if len == 0 {
            return false;
        }
        let Ok(mut chunk) = side.records.write_chunk_uninit(1) else { return false };
        let (slots, _) = chunk.as_mut_slices();
        let Some(slot) = slots.first_mut() else { return false };
        // SAFETY: `len - 1` is the stack's last, initialised frame. It is read out once and the
        // stack's length shortened past it before anything else can touch the stack (we hold
        // its only borrow), so the frame is moved, not duplicated: it is dropped only through
        // the ring.
        let frame = unsafe {
            let f = std::ptr::read(stack.as_ptr().add(len - 1));
            stack.set_len(len - 1);
            f
        };
        let record = slot.write(Record::Span(frame));
        if let Record::Span(f) = record {
            f.end = end;
        }
        // SAFETY: the chunk's one slot was initialised just above.
        unsafe { chunk.commit_all() };
        // Wake the collector when the ring passes a quarter full, once per drain.
        if side.records.cached_slots() < side.half
            && !side.shared.wake_requested.load(Relaxed)
            && side.records.slots() < side.half
            && !side.shared.wake_requested.swap(true, Relaxed)
        {
            ring_bell();
        }
        true
    }

    /// A buffer for a span's data: a recycled one when the collector has sent one back.
    #[inline]
    pub(crate) fn buffer(&self) -> Vec<u8> {
        if let Ok(mut p) = self.producer.try_borrow_mut() {
            if let Some(side) = p.as_mut() {
                if side.spare.is_empty() {
                    let n = side.recycle.slots().min(SPARE_BATCH);
                    if let Ok(chunk) = side.recycle.read_chunk(n) {
                        side.spare.extend(chunk);
                    }
                }
                if let Some(v) = side.spare.pop() {
                    return v;
                }
            }
        }
        // Room for a handful of attributes, so a fresh buffer does not grow in steps.
        Vec::with_capacity(128)
    }
}

/// A record with no ring to go to (the thread could not register one): recorded, and dropped
/// as if its ring were full.
fn count_drop(record: &Record) {
    use crate::stats::{count_buffer_full, Item};
    match record {
        Record::Span(_) => count_buffer_full(Item::Span, 1),
        Record::Log(_) => count_buffer_full(Item::Log, 1),
        Record::Exception(_) => {
            STATS.exceptions_dropped.fetch_add(1, Relaxed);
        }
    }
}

#[cold]
fn register() -> Option<ProducerSide> {
    let cap = RING_CAPACITY.load(Relaxed).max(16);
    let (records_tx, records_rx) = rtrb::RingBuffer::new(cap);
    let (recycle_tx, recycle_rx) = rtrb::RingBuffer::new(cap.min(1024));
    let shared = Arc::new(Shared::default());
    let mut channels = CHANNELS.lock().ok()?;
    channels.push(ThreadChannel { records: records_rx, recycle: recycle_tx, shared: shared.clone() });
    Some(ProducerSide {
        records: records_tx,
        recycle: recycle_rx,
        spare: Vec::with_capacity(SPARE_BATCH),
        shared,
        half: cap - cap / 4,
    })
}

/// Runs `f` with this thread's state; `None` while the thread is being torn down.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    LOCAL.try_with(f).ok()
}

thread_local! {
    /// What the top of this thread's stack is (`TOP_*`), mirrored in a cell without a destructor so
    /// that a call inside an unsampled trace can bail out with one thread-local read.
    static TOP: Cell<u8> = const { Cell::new(TOP_NONE) };
}

const TOP_NONE: u8 = 0;
const TOP_SAMPLED: u8 = 1;
const TOP_UNSAMPLED: u8 = 2;

/// Whether the current span is an unsampled one (its children are not recorded either).
#[inline(always)]
pub(crate) fn inside_unsampled() -> bool {
    TOP.try_with(|t| t.get() == TOP_UNSAMPLED).unwrap_or(false)
}

#[inline]
pub(crate) fn sync_top(stack: &[Frame]) {
    let top = match stack.last() {
        None => TOP_NONE,
        Some(f) if f.sampled => TOP_SAMPLED,
        // A baggage-only context (no span): spans inside start a trace of their own.
        Some(f) if f.trace_id == TraceId::INVALID => TOP_NONE,
        Some(_) => TOP_UNSAMPLED,
    };
    let _ = TOP.try_with(|t| t.set(top));
}

/// Makes `frame` the current span.
#[inline]
pub(crate) fn push(stack: &mut Vec<Frame>, frame: Frame) {
    stack.push(frame);
    sync_top(stack);
}

/// Removes the frame with `id` from the stack (normally the top).
#[inline]
pub(crate) fn pop(stack: &mut Vec<Frame>, id: SpanId) -> Option<Frame> {
    let frame = if stack.last().is_some_and(|f| f.span_id == id) {
        stack.pop()
    } else {
        let at = stack.iter().rposition(|f| f.span_id == id)?;
        Some(stack.remove(at))
    };
    sync_top(stack);
    frame
}

/// Marks the current thread as telemark's own.
pub fn mark_internal() {
    let _ = with(|l| l.internal.set(true));
}

/// Whether the current thread is one of telemark's own.
pub fn is_internal() -> bool {
    with(|l| l.internal.get()).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_fits_two_cache_lines() {
        assert!(std::mem::size_of::<super::Record>() <= 128, "{}", std::mem::size_of::<super::Record>());
    }
}
