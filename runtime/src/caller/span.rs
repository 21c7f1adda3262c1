//! Spans on the caller's thread: starting, entering, ending — for sync code, for futures, for the
//! manual API — and recording a function's outcome.

use crate::caller::baggage::Baggage;
use crate::caller::callsite::{
    Callsite, SpanContext, SpanKind, Status, STATUS_ERROR, STATUS_OK, STATUS_UNSET,
};
use crate::caller::clock;
use crate::caller::ids::{new_span_id, new_trace_id, SpanId};
use crate::caller::sampling;
use crate::caller::thread::{self, Frame, Local, Record, Site};
use crate::caller::value::{Recorder, Value};
use crate::metrics::Meter;
use crate::stats::STATS;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

/// Deepest span nesting recorded on one thread; deeper spans are passed through unrecorded.
const MAX_DEPTH: usize = 512;

/// Which span a new span is the child of.
#[derive(Clone, Debug, Default)]
pub enum Parent {
    /// The current span on this thread or task (the default).
    #[default]
    Current,
    /// None: start a new trace.
    Root,
    /// This context (from `parent = …` or an incoming request); `None` starts a new trace.
    Explicit(Option<SpanContext>),
}

/// The settings a span starts with.
pub(crate) struct Start {
    pub site: Site,
    pub kind: SpanKind,
    pub parent: Parent,
    pub ratio: f64,
}

impl Start {
    fn callsite(cs: &'static Callsite, parent: Parent) -> Start {
        Start { site: Site::Callsite(cs), kind: cs.meta.kind, parent, ratio: cs.meta.sample }
    }
}

/// Where a new span goes: its trace, its parent and whether it is sampled.
pub(crate) struct Decision {
    trace_id: crate::caller::ids::TraceId,
    parent: SpanId,
    parent_remote: bool,
    sampled: bool,
    trace_state: Option<std::sync::Arc<str>>,
    baggage: Option<Baggage>,
}

/// Decides whether and how a span starts. `None`: nothing to push (inside an unsampled span).
/// Inlined, so that the decision stays in registers: returned through memory, its narrow
/// fields were written and then read back wider, a store-forwarding stall on some CPUs (Zen 4).
#[inline(always)]
fn decide(l: &Local, parent: Parent, ratio: f64) -> Option<Decision> {
    let (trace_id, parent, parent_remote, sampled, trace_state, baggage) = match parent {
        Parent::Current => {
            let stack = l.stack.try_borrow().ok()?;
            match stack.last() {
                Some(top) => {
                    if !top.sampled || stack.len() >= MAX_DEPTH {
                        return root_with_baggage(top, stack.len()).map(|mut d| {
                            d.sampled = d.sampled && (ratio >= 1.0 || sampling::sample_ratio(ratio));
                            d
                        });
                    }
                    let sampled = sampling::sample_child(top.trace_id, true);
                    (top.trace_id, top.span_id, false, sampled, top.trace_state.clone(), top.baggage.clone())
                }
                None => {
                    let t = new_trace_id();
                    (t, SpanId::INVALID, false, sampling::sample_root(t), None, None)
                }
            }
        }
        Parent::Explicit(Some(ctx)) if ctx.is_valid() => {
            let sampled = sampling::sample_child(ctx.trace_id, ctx.sampled);
            (ctx.trace_id, ctx.span_id, ctx.remote, sampled, ctx.trace_state, ctx.baggage)
        }
        Parent::Root | Parent::Explicit(_) => {
            // A context with baggage but no span (a request with `baggage` and no `traceparent`)
            // starts a new trace that carries its baggage.
            let baggage = match parent {
                Parent::Explicit(Some(ctx)) => ctx.baggage,
                _ => None,
            };
            let t = new_trace_id();
            (t, SpanId::INVALID, false, sampling::sample_root(t), None, baggage)
        }
    };
    let sampled = sampled && (ratio >= 1.0 || sampling::sample_ratio(ratio));
    Some(Decision { trace_id, parent, parent_remote, sampled, trace_state, baggage })
}

/// The current frame is unsampled or too deep: nothing to push, unless it is a baggage-only
/// context (no span), whose children start a new trace with its baggage.
#[cold]
#[inline(never)]
fn root_with_baggage(top: &Frame, depth: usize) -> Option<Decision> {
    if top.trace_id != crate::caller::ids::TraceId::INVALID || depth >= MAX_DEPTH {
        return None;
    }
    let t = new_trace_id();
    Some(Decision {
        trace_id: t,
        parent: SpanId::INVALID,
        parent_remote: false,
        sampled: sampling::sample_root(t),
        trace_state: None,
        baggage: top.baggage.clone(),
    })
}

/// For a function whose span is not recorded (filtered out, or telemark not running) but whose
/// `parent =` carries baggage: a frame that only makes that context current, so the baggage is
/// readable inside. `None` without baggage (the function is then transparent, as before).
#[cold]
#[inline(never)]
fn baggage_frame(ctx: &SpanContext) -> Option<Frame> {
    ctx.baggage.as_ref()?;
    let mut f = Frame::borrowed(ctx);
    if f.span_id == SpanId::INVALID {
        // A baggage-only context: an id of its own, so that the guard can take it off the stack.
        f.span_id = new_span_id();
    }
    Some(f)
}

/// [`baggage_frame`], entered on this thread; its id, or `INVALID` when there is none.
#[cold]
#[inline(never)]
fn enter_baggage_of(ctx: &SpanContext) -> SpanId {
    let Some(f) = baggage_frame(ctx) else { return SpanId::INVALID };
    let id = f.span_id;
    thread::with(|l| match l.stack.try_borrow_mut() {
        Ok(mut s) => {
            thread::push(&mut s, f);
            id
        }
        Err(_) => SpanId::INVALID,
    })
    .unwrap_or(SpanId::INVALID)
}

/// Pushes the frame of a span that starts `at` (its data still empty), written field by field
/// where it lives (see [`Frame::BLANK`]).
#[inline(always)]
fn push_in_place(
    s: &mut Vec<Frame>,
    d: &mut Decision,
    span_id: SpanId,
    kind: SpanKind,
    site: Site,
    at: minstant::Instant,
) {
    s.push(Frame::BLANK);
    let Some(f) = s.last_mut() else { return };
    f.trace_id = d.trace_id;
    f.span_id = span_id;
    f.parent = d.parent;
    f.parent_remote = d.parent_remote;
    f.sampled = d.sampled;
    f.recording = d.sampled;
    f.kind = kind;
    f.start = at;
    f.site = site;
    // Read where the decision was made, not moved first (a move copied it wholesale).
    if d.trace_state.is_some() {
        f.trace_state = d.trace_state.take();
    }
    if d.baggage.is_some() {
        f.baggage = d.baggage.take();
    }
}

/// Builds the frame of a span that starts `at`, its data still empty.
#[inline(always)]
fn frame(d: Decision, span_id: SpanId, kind: SpanKind, site: Site, at: minstant::Instant) -> Frame {
    Frame {
        trace_id: d.trace_id,
        span_id,
        parent: d.parent,
        parent_remote: d.parent_remote,
        sampled: d.sampled,
        recording: d.sampled,
        kind,
        start: at,
        site,
        trace_state: d.trace_state,
        baggage: d.baggage,
        ..Frame::BLANK
    }
}

/// Takes the frame `id` off the stack if its arguments' formatting panics: a span that never
/// started must not stay current.
struct Unwinding<'a> {
    l: &'a Local,
    id: SpanId,
}

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.l.stack.try_borrow_mut() {
            thread::pop(&mut s, self.id);
        }
    }
}

/// Records a new span's arguments while its frame `id` is the current span, so that whatever
/// formatting them does (a `Display` that logs, a traced call) belongs to the span.
#[inline]
fn record_args(l: &Local, id: SpanId, args: impl FnOnce(&mut Recorder<'_>)) -> (Vec<u8>, u32) {
    let unwinding = Unwinding { l, id };
    let mut buf = Vec::new();
    let mut rec = Recorder::recycling(&mut buf, l);
    args(&mut rec);
    let dropped = rec.dropped;
    std::mem::forget(unwinding);
    (buf, dropped)
}

/// Decides whether and how a span starts and builds its frame. `None`: nothing to push. When
/// sampled, the frame is the current span while its arguments are recorded.
#[inline]
pub(crate) fn begin(
    l: &Local,
    start: Start,
    args: impl FnOnce(&mut Recorder<'_>),
    detached: bool,
) -> Option<Frame> {
    let d = decide(l, start.parent, start.ratio)?;
    let span_id = new_span_id();
    if !d.sampled {
        return Some(frame(d, span_id, start.kind, start.site, minstant::Instant::ZERO));
    }
    let mut f = frame(d, span_id, start.kind, start.site, minstant::Instant::now());
    // Arguments that format nothing of the caller's: nothing to make current for.
    if detached {
        (f.data, f.dropped) = record_args_detached(l, args);
        return Some(f);
    }
    let Ok(mut s) = l.stack.try_borrow_mut() else {
        // Not reachable from a span's own formatting; record without making it current.
        (f.data, f.dropped) = record_args_detached(l, args);
        return Some(f);
    };
    thread::push(&mut s, f);
    drop(s);
    let (data, dropped) = record_args(l, span_id, args);
    let mut f = l.stack.try_borrow_mut().ok().and_then(|mut s| thread::pop(&mut s, span_id))?;
    (f.data, f.dropped) = (data, dropped);
    Some(f)
}

/// [`record_args`] with no frame current.
#[inline]
fn record_args_detached(l: &Local, args: impl FnOnce(&mut Recorder<'_>)) -> (Vec<u8>, u32) {
    let mut buf = Vec::new();
    let mut rec = Recorder::recycling(&mut buf, l);
    args(&mut rec);
    let dropped = rec.dropped;
    (buf, dropped)
}

/// Starts a sync span and builds its frame directly on the stack; its arguments are recorded
/// once it is the current span.
#[inline(always)]
fn begin_on_stack(
    l: &Local,
    start: Start,
    args: impl FnOnce(&mut Recorder<'_>),
    detached: bool,
) -> (SpanId, minstant::Instant) {
    let Some(mut d) = decide(l, start.parent, start.ratio) else {
        return (SpanId::INVALID, minstant::Instant::ZERO);
    };
    let sampled = d.sampled;
    let at = if sampled { minstant::Instant::now() } else { minstant::Instant::ZERO };
    let span_id = new_span_id();
    // Arguments that format nothing of the caller's (`detached`: a closure that captures nothing)
    // are recorded before the push, as it costs least.
    let later = sampled && !detached;
    if sampled && !later {
        // A call site with no keys records nothing (`skip_all`, no fields): no call of `args`,
        // and no empty buffer handed back through memory.
        let records = !matches!(start.site, Site::Callsite(cs) if cs.meta.keys.is_empty());
        let recorded = if records { Some(record_args_detached(l, args)) } else { None };
        let Ok(mut s) = l.stack.try_borrow_mut() else { return (SpanId::INVALID, minstant::Instant::ZERO) };
        // Built where it lives: no copy of a frame whose fields were just written.
        push_in_place(&mut s, &mut d, span_id, start.kind, start.site, at);
        if let (Some((data, dropped)), Some(f)) = (recorded, s.last_mut()) {
            (f.data, f.dropped) = (data, dropped);
        }
        thread::sync_top(&s);
        return (span_id, at);
    }
    let Ok(mut s) = l.stack.try_borrow_mut() else { return (SpanId::INVALID, minstant::Instant::ZERO) };
    push_in_place(&mut s, &mut d, span_id, start.kind, start.site, at);
    thread::sync_top(&s);
    drop(s);
    if later {
        let (data, dropped) = record_args(l, span_id, args);
        if let Ok(mut s) = l.stack.try_borrow_mut() {
            // The top, unless the arguments' formatting left a span open (a guard it leaked).
            if let Some(f) = s.iter_mut().rev().find(|f| f.span_id == span_id) {
                (f.data, f.dropped) = (data, dropped);
            }
        }
    }
    (span_id, at)
}

/// Ends a recording frame: status for a panic in flight, then hands it to the collector.
#[inline]
pub(crate) fn finish(l: &Local, mut f: Frame, end: minstant::Instant, cancelled: bool) {
    if std::thread::panicking() {
        record_panic(l, &mut f);
    } else if cancelled {
        // Only when set: a byte written just before the frame is copied into the ring would
        // stall that copy's wider loads (store forwarding).
        f.cancelled = true;
    }
    if f.dropped > 0 {
        STATS.attributes_dropped.fetch_add(f.dropped as u64, Relaxed);
    }
    if f.dropped_events > 0 {
        STATS.events_dropped.fetch_add(f.dropped_events as u64, Relaxed);
    }
    f.end = end;
    l.submit(Record::Span(f));
}

/// A panic is unwinding through this span: status error and an `exception` event (with the
/// stacktrace and fingerprint the panic hook's capture gets on telemark's thread).
#[cold]
#[inline(never)]
fn record_panic(l: &Local, f: &mut Frame) {
    let note = l.panic_note.try_borrow().ok().and_then(|m| m.clone()).unwrap_or_default();
    let message = if note.message.is_empty() { "panic".to_string() } else { note.message };
    let mut attrs = vec![
        ("exception.type", Value::from("panic")),
        ("exception.message", Value::from(message.clone())),
        ("exception.escaped", Value::Bool(true)),
    ];
    if note.event != 0 {
        attrs.push((crate::exception::PENDING_EVENT, Value::I64(note.event as i64)));
    }
    let mut rec = Recorder::new(&mut f.data);
    rec.event("exception", clock::now_unix_nanos(), &attrs);
    rec.status_message(&message);
    f.dropped_events += rec.dropped_events;
    f.status = STATUS_ERROR;
}

/// Sets the kind of the recording frame `id` on this thread's stack (a `tracing` span's
/// `otel.kind` recorded while it is entered).
pub(crate) fn set_kind(id: SpanId, kind: SpanKind) {
    thread::with(|l| {
        if let Ok(mut s) = l.stack.try_borrow_mut() {
            if let Some(fr) = s.iter_mut().rev().find(|fr| fr.span_id == id && fr.recording) {
                fr.kind = kind;
            }
        }
    });
}

/// Runs `f` on the recording frame `id` of this thread's stack, with the frame's data taken out so
/// that `f` may run user code (a `Display` impl) without holding the stack borrowed.
pub(crate) fn with_frame_data(id: SpanId, f: impl FnOnce(&mut Recorder<'_>, &mut u8)) {
    thread::with(|l| {
        let taken = {
            let Ok(mut s) = l.stack.try_borrow_mut() else {
                return;
            };
            let Some(fr) = s.iter_mut().rev().find(|fr| fr.span_id == id && fr.recording) else {
                return;
            };
            (std::mem::take(&mut fr.data), fr.status)
        };
        let (mut data, mut status) = taken;
        let mut rec = Recorder::new(&mut data);
        f(&mut rec, &mut status);
        let (dropped, dropped_events) = (rec.dropped, rec.dropped_events);
        if let Ok(mut s) = l.stack.try_borrow_mut() {
            if let Some(fr) = s.iter_mut().rev().find(|fr| fr.span_id == id) {
                // Anything written meanwhile (by a nested call) goes after what was there.
                let meanwhile = std::mem::replace(&mut fr.data, data);
                fr.data.extend_from_slice(&meanwhile);
                fr.status = status;
                fr.dropped += dropped;
                fr.dropped_events += dropped_events;
            }
        }
    });
}

/// What a function's return value says about its span (`err`, `ret`).
pub struct Outcome<'a, 'b> {
    rec: &'a mut Recorder<'b>,
    status: &'a mut u8,
}

impl<'b> Outcome<'_, 'b> {
    /// Marks the span failed with an `exception` event (`exception.type`, `exception.message`).
    pub fn error(&mut self, type_name: &str, message: &dyn fmt::Display) {
        if *self.status == crate::caller::callsite::STATUS_CAPTURED {
            // `#[capture_exceptions]` recorded it already, with more detail.
            return;
        }
        let message = display_to_string(message);
        record_exception(self.rec, type_name, &message);
        *self.status = STATUS_ERROR;
    }

    /// The attribute recorder (for `ret`).
    pub fn recorder(&mut self) -> &mut Recorder<'b> {
        self.rec
    }

    /// Sets the span's status without an `exception` event (an HTTP server's 5xx: status error,
    /// and an empty `Status::Error` message sets none).
    pub fn set_status(&mut self, status: Status) {
        match status {
            Status::Unset => *self.status = STATUS_UNSET,
            Status::Ok => *self.status = STATUS_OK,
            Status::Error(msg) => {
                if !msg.is_empty() {
                    self.rec.status_message(&msg);
                }
                *self.status = STATUS_ERROR;
            }
        }
    }
}

pub(crate) fn record_exception(rec: &mut Recorder<'_>, type_name: &str, message: &str) {
    rec.event(
        "exception",
        clock::now_unix_nanos(),
        &[
            ("exception.type", Value::from(type_name.to_string())),
            ("exception.message", Value::from(message.to_string())),
        ],
    );
    rec.status_message(message);
}

/// `to_string` that survives a panicking or failing `Display` impl.
pub(crate) fn display_to_string(v: &dyn fmt::Display) -> String {
    use std::fmt::Write;
    // Kept to the value length limit as it is written: a 10 MB message costs no more than that.
    struct Capped(String, usize);
    impl Write for Capped {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let left = self.1 - self.0.len();
            if s.len() <= left {
                self.0.push_str(s);
                return Ok(());
            }
            let mut end = left;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.0.push_str(&s[..end]);
            Err(fmt::Error)
        }
    }
    let cap = crate::caller::value::value_cap();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // One byte over the cap tells a value that was cut from one that fits exactly.
        let mut w = Capped(String::new(), cap + 1);
        let _ = write!(w, "{v}");
        crate::caller::value::cut(&w.0, cap).into_owned()
    }))
    .unwrap_or_else(|_| "<Display panicked>".to_string())
}

/// An entered span on this thread: current until dropped, then ended and handed to the collector.
///
/// Returned by `#[traced]` expansions for sync functions and by [`span`]. It cannot leave its thread.
#[must_use = "the span ends when the guard is dropped"]
pub struct SpanGuard {
    id: SpanId,
    meter: Meter,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanGuard").field("span_id", &self.id).finish()
    }
}

impl SpanGuard {
    const INERT: SpanGuard = SpanGuard { id: SpanId::INVALID, meter: Meter::OFF, _not_send: PhantomData };

    #[doc(hidden)] // generated code
    /// Starts and enters a span for call site `cs`; `args` records attributes, only when sampled.
    /// The call is measured for the function's metrics whether or not the span is recorded.
    ///
    /// Only the checks that skip the span (the call site filtered out, an unsampled parent) are
    /// inlined into the function; starting a span is `SpanGuard::begin`, compiled once.
    #[inline(always)]
    pub fn enter<F: FnOnce(&mut Recorder<'_>)>(cs: &'static Callsite, parent: Parent, args: F) -> SpanGuard {
        let interest = cs.interest();
        if interest & Callsite::SPAN == 0 || (matches!(parent, Parent::Current) && thread::inside_unsampled())
        {
            // Disabled or sampled out, metrics off, no context to enter: nothing to do, nothing
            // to undo (the inline drop of an inert guard is two compares).
            if interest & Callsite::METRICS == 0 && !matches!(parent, Parent::Explicit(Some(_))) {
                return SpanGuard::INERT;
            }
            return Self::enter_unrecorded(cs, parent);
        }
        let detached = std::mem::size_of::<F>() == 0;
        let mut args = Some(args);
        let args = &mut |rec: &mut Recorder<'_>| args.take().map_or((), |a| a(rec));
        match parent {
            // Known where `enter` is inlined: no parent to pass through memory (a tag byte
            // written there and read back wider stalls store forwarding on Zen 4).
            Parent::Current => SpanGuard::begin_current(cs, args, detached),
            parent => SpanGuard::begin(cs, parent, args, detached),
        }
    }

    #[doc(hidden)] // generated code
    /// [`SpanGuard::enter`] with the current span as the parent (a function without `parent =` or
    /// `root`): nothing of a parent to branch on or drop in the function.
    #[inline(always)]
    pub fn enter_current<F: FnOnce(&mut Recorder<'_>)>(cs: &'static Callsite, args: F) -> SpanGuard {
        let interest = cs.interest();
        if interest & Callsite::SPAN == 0 || thread::inside_unsampled() {
            if interest & Callsite::METRICS == 0 {
                return SpanGuard::INERT;
            }
            return Self::enter_unrecorded(cs, Parent::Current);
        }
        let detached = std::mem::size_of::<F>() == 0;
        let mut args = Some(args);
        SpanGuard::begin_current(cs, &mut |rec| args.take().map_or((), |a| a(rec)), detached)
    }

    /// A call whose span is not recorded, but which is measured or enters an explicit parent's
    /// context (its baggage).
    #[inline(never)]
    fn enter_unrecorded(cs: &'static Callsite, parent: Parent) -> SpanGuard {
        let id = match &parent {
            Parent::Explicit(Some(ctx)) => enter_baggage_of(ctx),
            _ => SpanId::INVALID,
        };
        SpanGuard { id, meter: Meter::start(cs, None), ..SpanGuard::INERT }
    }

    /// Starts a span for a call site that is enabled (see [`SpanGuard::enter`]). Not generic and
    /// never inlined: one copy for every function (a program's many instrumented functions do not
    /// each compile it), and the function that calls it keeps a small stack frame and few saved
    /// registers for its disabled and sampled-out paths.
    #[inline(never)]
    fn begin(
        cs: &'static Callsite,
        parent: Parent,
        args: &mut dyn FnMut(&mut Recorder<'_>),
        detached: bool,
    ) -> SpanGuard {
        Self::begin_with(cs, move || parent, args, detached)
    }

    /// [`SpanGuard::begin`] for `Parent::Current`.
    #[inline(never)]
    fn begin_current(
        cs: &'static Callsite,
        args: &mut dyn FnMut(&mut Recorder<'_>),
        detached: bool,
    ) -> SpanGuard {
        Self::begin_with(cs, || Parent::Current, args, detached)
    }

    /// `parent` is made inside the thread-local access: a constant there, not a value the
    /// closure carries through memory.
    #[inline(always)]
    fn begin_with(
        cs: &'static Callsite,
        parent: impl FnOnce() -> Parent,
        args: &mut dyn FnMut(&mut Recorder<'_>),
        detached: bool,
    ) -> SpanGuard {
        let (id, at) = thread::with(|l| begin_on_stack(l, Start::callsite(cs, parent()), args, detached))
            .unwrap_or((SpanId::INVALID, minstant::Instant::ZERO));
        // A recorded span lends its start time; otherwise the meter reads the clock; the guard
        // is built once, where it is returned.
        let meter = Meter::start(cs, (at != minstant::Instant::ZERO).then_some(at));
        SpanGuard { id, meter, _not_send: PhantomData }
    }

    #[inline]
    fn start(start: Start, args: impl FnOnce(&mut Recorder<'_>)) -> SpanGuard {
        Self::start_at(start, args).0
    }

    #[inline(always)]
    fn start_at(start: Start, args: impl FnOnce(&mut Recorder<'_>)) -> (SpanGuard, minstant::Instant) {
        let detached = std::mem::size_of_val(&args) == 0;
        let (id, at) = thread::with(|l| begin_on_stack(l, start, args, detached))
            .unwrap_or((SpanId::INVALID, minstant::Instant::ZERO));
        (SpanGuard { id, meter: Meter::OFF, _not_send: PhantomData }, at)
    }

    #[doc(hidden)] // generated code
    /// Tells the function's metrics whether the call returned an `Err` (generated code).
    #[inline(always)]
    pub fn failed(&mut self, failed: bool) {
        self.meter.failed = u64::from(failed);
    }

    #[doc(hidden)] // generated code
    /// Records what the function returned (generated code; see [`Outcome`]).
    pub fn outcome(&mut self, f: impl FnOnce(&mut Outcome<'_, '_>)) {
        if self.id == SpanId::INVALID {
            return;
        }
        with_frame_data(self.id, |rec, status| f(&mut Outcome { rec, status }));
    }

    /// Whether this span is being recorded.
    pub fn is_recording(&self) -> bool {
        self.id != SpanId::INVALID
            && thread::with(|l| {
                l.stack
                    .try_borrow()
                    .ok()
                    .and_then(|s| s.iter().rev().find(|f| f.span_id == self.id).map(|f| f.recording))
            })
            .flatten()
            .unwrap_or(false)
    }

    /// This span's context (`None` when telemark is not running or the span was filtered out).
    pub fn context(&self) -> Option<SpanContext> {
        if self.id == SpanId::INVALID {
            return None;
        }
        thread::with(|l| {
            l.stack
                .try_borrow()
                .ok()
                .and_then(|s| s.iter().rev().find(|f| f.span_id == self.id).map(Frame::context))
        })
        .flatten()
        .filter(SpanContext::is_valid)
    }

    /// Sets an attribute on this span.
    pub fn set_attribute(&self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        with_frame_data(self.id, |rec, _| rec.value(key, &value));
    }

    /// Adds an event with attributes to this span.
    pub fn add_event(&self, name: &str, attributes: &[(&str, Value)]) {
        let now = clock::now_unix_nanos();
        with_frame_data(self.id, |rec, _| rec.event(name, now, attributes));
    }

    /// Records an error: an `exception` event and status error.
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        record_error_on(self.id, std::any::type_name::<E>(), &error);
    }

    /// Sets this span's status.
    pub fn set_status(&self, status: Status) {
        set_status_on(self.id, status);
    }
}

fn record_error_on(id: SpanId, type_name: &str, error: &dyn fmt::Display) {
    let message = display_to_string(error);
    with_frame_data(id, |rec, status| {
        record_exception(rec, type_name, &message);
        *status = STATUS_ERROR;
    });
}

fn set_status_on(id: SpanId, s: Status) {
    with_frame_data(id, |rec, status| match s {
        Status::Unset => *status = STATUS_UNSET,
        Status::Ok => *status = STATUS_OK,
        Status::Error(msg) => {
            rec.status_message(&msg);
            *status = STATUS_ERROR;
        }
    });
}

impl Drop for SpanGuard {
    /// Inline, two compares: a guard of a disabled or sampled-out span with metrics off does
    /// nothing, and must not cost a call (an out-of-line drop doubled the disabled path's cost).
    #[inline(always)]
    fn drop(&mut self) {
        if self.id != SpanId::INVALID || self.meter.cs.is_some() {
            self.end();
        }
    }
}

impl SpanGuard {
    /// Ends the span (when recorded) and the call's measurement (when metrics are on).
    #[inline(never)]
    fn end(&mut self) {
        let end = if self.id != SpanId::INVALID { end_sync(self.id) } else { None };
        self.meter.stop(end);
    }
}

/// Ends a sync span; returns its end time when it was recorded.
#[inline]
fn end_sync(id: SpanId) -> Option<minstant::Instant> {
    thread::with(|l| {
        // The common case: the top frame, recording, nothing dropped, no panic: straight from
        // the stack into the ring.
        if let Ok(mut s) = l.stack.try_borrow_mut() {
            let fast = s
                .last()
                .is_some_and(|f| f.span_id == id && f.recording && f.dropped == 0 && f.dropped_events == 0)
                && !std::thread::panicking();
            if fast {
                let end = minstant::Instant::now();
                if l.submit_top(&mut s, end) {
                    thread::sync_top(&s);
                    return Some(end);
                }
            }
        }
        let frame = match l.stack.try_borrow_mut() {
            Ok(mut s) => thread::pop(&mut s, id),
            Err(_) => None,
        };
        frame.filter(|f| f.recording).map(|f| {
            let end = minstant::Instant::now();
            finish(l, f, end, false);
            end
        })
    })
    .flatten()
}

/// Starts and enters a span named `name` on this thread, current until the guard drops.
///
/// For async code use [`in_span`] instead: a guard must not be held across `.await`.
#[track_caller]
pub fn span(name: impl Into<Cow<'static, str>>) -> SpanGuard {
    if !sampling::active() {
        return SpanGuard::INERT;
    }
    let name = name.into();
    let start = Start {
        site: Site::Manual(Location::caller()),
        kind: SpanKind::Internal,
        parent: Parent::Current,
        ratio: 1.0,
    };
    SpanGuard::start(start, |rec| rec.name(&name))
}

/// A handle on whatever span is current on this thread or task.
#[derive(Debug)]
pub struct CurrentSpan {
    _not_send: PhantomData<*const ()>,
}

/// The current span (a `#[traced]` function's, a manual span's or a `tracing` span's).
///
/// Every method is a no-op when there is none or it is not recorded.
pub fn current_span() -> CurrentSpan {
    CurrentSpan { _not_send: PhantomData }
}

impl CurrentSpan {
    fn top_id(&self) -> SpanId {
        thread::with(|l| l.stack.try_borrow().ok().and_then(|s| s.last().map(|f| f.span_id)))
            .flatten()
            .unwrap_or(SpanId::INVALID)
    }

    /// The current span's context (`None` when only baggage is current, no span).
    pub fn context(&self) -> Option<SpanContext> {
        thread::with(|l| l.current()).flatten().filter(SpanContext::is_valid)
    }
    /// The current trace id.
    pub fn trace_id(&self) -> Option<crate::TraceId> {
        self.context().map(|c| c.trace_id)
    }
    /// The current span id.
    pub fn span_id(&self) -> Option<SpanId> {
        self.context().map(|c| c.span_id)
    }
    /// Whether the current span is recorded.
    pub fn is_recording(&self) -> bool {
        thread::with(|l| l.stack.try_borrow().ok().and_then(|s| s.last().map(|f| f.recording)))
            .flatten()
            .unwrap_or(false)
    }
    /// Sets an attribute on the current span.
    pub fn set_attribute(&self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        with_frame_data(self.top_id(), |rec, _| rec.value(key, &value));
    }
    /// Adds an event to the current span.
    pub fn add_event(&self, name: &str, attributes: &[(&str, Value)]) {
        let now = clock::now_unix_nanos();
        with_frame_data(self.top_id(), |rec, _| rec.event(name, now, attributes));
    }
    /// Records an error on the current span (an `exception` event and status error).
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        record_error_on(self.top_id(), std::any::type_name::<E>(), &error);
    }
    /// Sets the current span's status.
    pub fn set_status(&self, status: Status) {
        set_status_on(self.top_id(), status);
    }
}

pin_project_lite::pin_project! {
    /// A future run inside its own span: current on every poll, ended when the future completes
    /// (or marked `telemark.cancelled = true` when it is dropped first).
    ///
    /// Its output is the inner output and a [`Finish`] that ends the span when dropped, so that
    /// generated code can record the outcome first.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Traced<F> {
        #[pin]
        fut: F,
        frame: Option<Frame>,
        meter: Meter,
    }

    impl<F> PinnedDrop for Traced<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A panic while polling ends the call; a future dropped early is not counted.
            if std::thread::panicking() {
                std::mem::replace(this.meter, Meter::OFF).stop(None);
            }
            if let Some(frame) = this.frame.take() {
                if frame.recording {
                    let end = minstant::Instant::now();
                    let mut frame = frame;
                    if !std::thread::panicking() {
                        Recorder::new(&mut frame.data).bool("telemark.cancelled", true);
                    }
                    thread::with(|l| finish(l, frame, end, true));
                }
            }
        }
    }
}

impl<F> fmt::Debug for Traced<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traced").field("span", &self.frame.as_ref().map(|f| f.span_id)).finish()
    }
}

/// An async span that has started but not yet been given its future (generated code): the
/// arguments are recorded before the function body's future takes ownership of them.
#[derive(Debug)]
#[must_use]
pub struct Pending(Option<Frame>, Meter);

impl Pending {
    /// Starts a span for call site `cs`; `args` records attributes, only when sampled. As for
    /// [`SpanGuard::enter`], only the checks that skip the span are inlined.
    #[inline]
    pub fn start<A: FnOnce(&mut Recorder<'_>)>(cs: &'static Callsite, parent: Parent, args: A) -> Pending {
        let interest = cs.interest();
        if interest & Callsite::SPAN == 0 || (matches!(parent, Parent::Current) && thread::inside_unsampled())
        {
            if interest & Callsite::METRICS == 0 && !matches!(parent, Parent::Explicit(Some(_))) {
                return Pending(None, Meter::OFF);
            }
            let frame = match &parent {
                Parent::Explicit(Some(ctx)) => baggage_frame(ctx),
                _ => None,
            };
            return Pending(frame, Meter::start(cs, None));
        }
        let detached = std::mem::size_of::<A>() == 0;
        let mut args = Some(args);
        Pending::begin(cs, parent, &mut |rec| args.take().map_or((), |a| a(rec)), detached)
    }

    #[doc(hidden)] // generated code
    /// [`Pending::start`] with the current span as the parent (generated code, for a function
    /// without `parent =` or `root`).
    #[inline]
    pub fn start_current<A: FnOnce(&mut Recorder<'_>)>(cs: &'static Callsite, args: A) -> Pending {
        let interest = cs.interest();
        if interest & Callsite::SPAN == 0 || thread::inside_unsampled() {
            if interest & Callsite::METRICS == 0 {
                return Pending(None, Meter::OFF);
            }
            return Pending(None, Meter::start(cs, None));
        }
        let detached = std::mem::size_of::<A>() == 0;
        let mut args = Some(args);
        Pending::begin(cs, Parent::Current, &mut |rec| args.take().map_or((), |a| a(rec)), detached)
    }

    /// Starts a span for a call site that is enabled (see [`Pending::start`]).
    #[inline]
    fn begin(
        cs: &'static Callsite,
        parent: Parent,
        args: &mut dyn FnMut(&mut Recorder<'_>),
        detached: bool,
    ) -> Pending {
        let frame = thread::with(|l| begin(l, Start::callsite(cs, parent), args, detached)).flatten();
        let at = frame.as_ref().map(|f| f.start).filter(|s| *s != minstant::Instant::ZERO);
        Pending(frame, Meter::start(cs, at))
    }

    /// The context of the span this will be: its ids (unsampled ones too, so that a request it
    /// sends carries the decision), its `tracestate` and baggage. `None` when no span starts
    /// (telemark not running, the call site filtered out) and no baggage is carried; a
    /// baggage-only context has invalid ids. What a client injects into its request.
    pub fn context(&self) -> Option<SpanContext> {
        self.0.as_ref().map(Frame::context)
    }

    /// Runs `fut` inside this span. Generated code names `R`, the function's return type, so that
    /// `?` and `return` in the body's async block infer.
    #[inline]
    pub fn instrument<R, F: Future<Output = R>>(self, fut: F) -> Traced<F> {
        let mut this = self;
        Traced { fut, frame: this.0.take(), meter: this.1 }
    }

    #[doc(hidden)] // generated code
    /// Runs `fut` inside this span, which ends when it completes: for a function whose return
    /// value says nothing to its span (generated code). `R` is the function's return type, named
    /// so that `?` and `return` in the body's async block infer.
    #[inline]
    pub fn run<R, F: Future<Output = R>>(self, fut: F) -> InSpan<F> {
        InSpan { traced: self.instrument(fut) }
    }
}

pin_project_lite::pin_project! {
    #[doc(hidden)] // generated code
    /// A future run inside its span, which ends when it completes (see [`Pending::run`]).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct InSpan<F> {
        #[pin]
        traced: Traced<F>,
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().traced.poll(cx).map(|(out, _finish)| out)
    }
}

impl<F: Future> Traced<F> {
    fn with_start(start: Start, args: impl FnOnce(&mut Recorder<'_>), fut: F) -> Self {
        let detached = std::mem::size_of_val(&args) == 0;
        let frame = thread::with(|l| begin(l, start, args, detached)).flatten();
        Traced { fut, frame, meter: Meter::OFF }
    }
}

struct Restore<'a> {
    id: SpanId,
    slot: &'a mut Option<Frame>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let id = self.id;
        if let Some(f) =
            thread::with(|l| l.stack.try_borrow_mut().ok().and_then(|mut s| thread::pop(&mut s, id)))
                .flatten()
        {
            *self.slot = Some(f);
        }
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = (F::Output, Finish);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(frame) = this.frame.take() else {
            return this
                .fut
                .poll(cx)
                .map(|out| (out, Finish(None, std::mem::replace(this.meter, Meter::OFF))));
        };
        let id = frame.span_id;
        let mut frame = Some(frame);
        thread::with(|l| {
            if let Ok(mut s) = l.stack.try_borrow_mut() {
                if let Some(f) = frame.take() {
                    thread::push(&mut s, f);
                }
            }
        });
        if frame.is_some() {
            // Could not make the span current (thread teardown): poll without it.
            *this.frame = frame;
            let polled = this.fut.poll(cx);
            return polled
                .map(|out| (out, Finish(this.frame.take(), std::mem::replace(this.meter, Meter::OFF))));
        }
        let restore = Restore { id, slot: this.frame };
        let polled = this.fut.poll(cx);
        drop(restore);
        match polled {
            Poll::Ready(out) => {
                Poll::Ready((out, Finish(this.frame.take(), std::mem::replace(this.meter, Meter::OFF))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[doc(hidden)] // generated code
/// What a function's return value tells its span and its metrics: [`SpanGuard`] for a sync
/// function, [`Finish`] for an async one (generated code, through `spec::ErrDisplay` and the
/// other `Err` dispatch traits).
pub trait End {
    /// The call returned an `Err` (for the function's metrics).
    fn failed(&mut self);
    /// Records what the function returned on its span, when it is recorded.
    fn outcome_dyn(&mut self, f: &mut dyn FnMut(&mut Outcome<'_, '_>));
}

impl End for SpanGuard {
    #[inline(always)]
    fn failed(&mut self) {
        self.meter.failed = 1;
    }
    fn outcome_dyn(&mut self, f: &mut dyn FnMut(&mut Outcome<'_, '_>)) {
        self.outcome(f);
    }
}

impl End for Finish {
    #[inline(always)]
    fn failed(&mut self) {
        self.1.failed = 1;
    }
    fn outcome_dyn(&mut self, f: &mut dyn FnMut(&mut Outcome<'_, '_>)) {
        self.outcome(f);
    }
}

/// Ends an async span when dropped, after generated code has recorded the outcome.
#[derive(Debug)]
pub struct Finish(Option<Frame>, Meter);

impl Finish {
    /// Tells the function's metrics whether the call returned an `Err` (generated code).
    #[inline(always)]
    pub fn failed(&mut self, failed: bool) {
        self.1.failed = u64::from(failed);
    }

    /// Records what the function returned (generated code).
    pub fn outcome(&mut self, f: impl FnOnce(&mut Outcome<'_, '_>)) {
        if let Some(frame) = self.0.as_mut().filter(|f| f.recording) {
            let mut rec = Recorder::new(&mut frame.data);
            f(&mut Outcome { rec: &mut rec, status: &mut frame.status });
            frame.dropped += rec.dropped;
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut end = None;
        if let Some(frame) = self.0.take() {
            if frame.recording {
                let at = minstant::Instant::now();
                thread::with(|l| finish(l, frame, at, false));
                end = Some(at);
            }
        }
        self.1.stop(end);
    }
}

/// Runs `fut` inside a new span named `name` (the async form of [`span`]).
#[track_caller]
pub fn in_span<F: Future>(name: &'static str, fut: F) -> impl Future<Output = F::Output> {
    let traced = if sampling::active() {
        Traced::with_start(
            Start {
                site: Site::Manual(Location::caller()),
                kind: SpanKind::Internal,
                parent: Parent::Current,
                ratio: 1.0,
            },
            |rec| rec.name(name),
            fut,
        )
    } else {
        Traced { fut, frame: None, meter: Meter::OFF }
    };
    async move { traced.await.0 }
}

pin_project_lite::pin_project! {
    /// A future that makes a span context current on every poll (see [`FutureExt::in_current_span`]).
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithContext<F> {
        #[pin]
        fut: F,
        ctx: Option<SpanContext>,
    }
}

impl<F> fmt::Debug for WithContext<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithContext").field("ctx", &self.ctx).finish()
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(ctx) = this.ctx.as_mut() else {
            return this.fut.poll(cx);
        };
        let scope = ContextScope::enter(ctx);
        let polled = this.fut.poll(cx);
        // Baggage the future set (`baggage::set`) lasts to its next poll.
        if let Some(frame) = scope.leave() {
            ctx.baggage = frame.baggage;
        }
        polled
    }
}

/// Makes a span context current on this thread until dropped (for threads started inside a span,
/// an extracted context, or baggage: see [`baggage::scope`](crate::baggage::scope)).
#[derive(Debug)]
pub struct ContextScope {
    id: SpanId,
    entered: bool,
    _not_send: PhantomData<*const ()>,
}

impl ContextScope {
    /// Makes `ctx` current (its span as the parent of spans started inside, its baggage readable).
    pub fn enter(ctx: &SpanContext) -> ContextScope {
        let entered = thread::with(|l| match l.stack.try_borrow_mut() {
            Ok(mut s) => {
                thread::push(&mut s, Frame::borrowed(ctx));
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false);
        ContextScope { id: ctx.span_id, entered, _not_send: PhantomData }
    }
}

impl ContextScope {
    /// Leaves the context, returning its frame (with the baggage `set` may have changed).
    fn leave(mut self) -> Option<Frame> {
        self.take()
    }

    fn take(&mut self) -> Option<Frame> {
        if !std::mem::replace(&mut self.entered, false) {
            return None;
        }
        let id = self.id;
        thread::with(|l| {
            let mut s = l.stack.try_borrow_mut().ok()?;
            // The borrowed frame, not a recording span with the same id under it.
            let at = s.iter().rposition(|f| f.span_id == id && !f.recording)?;
            let frame = s.remove(at);
            thread::sync_top(&s);
            Some(frame)
        })
        .flatten()
    }
}

impl Drop for ContextScope {
    fn drop(&mut self) {
        self.take();
    }
}

/// Carrying the current span into other tasks and threads.
pub trait FutureExt: Future + Sized {
    /// Makes the span that is current now the parent of whatever this future does, wherever it is
    /// polled (`tracing`'s `in_current_span`).
    fn in_current_span(self) -> WithContext<Self> {
        WithContext { fut: self, ctx: thread::with(|l| l.current()).flatten() }
    }
    /// Makes `ctx` current while this future runs.
    fn with_context(self, ctx: Option<SpanContext>) -> WithContext<Self> {
        WithContext { fut: self, ctx }
    }
    /// Runs this future in the current context with `entries` added to its baggage (the async
    /// form of [`baggage::scope`](crate::baggage::scope)).
    fn with_baggage<K: AsRef<str>, V: AsRef<str>>(
        self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> WithContext<Self> {
        WithContext { fut: self, ctx: Some(crate::caller::baggage::context_with(entries)) }
    }
}

impl<F: Future> FutureExt for F {}

/// Spawns `fut` on the current tokio runtime as a child of the current span.
///
/// Panics like `tokio::spawn` when called outside a tokio runtime.
#[track_caller]
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut.in_current_span())
}

/// Runs `f` on tokio's blocking pool as a child of the current span.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let f = with_current_context(f);
    tokio::task::spawn_blocking(f)
}

/// Wraps `f` so that it runs with the current span as its parent, on whatever thread calls it
/// (`std::thread::spawn(telemark::with_current_context(|| …))`).
pub fn with_current_context<F: FnOnce() -> R, R>(f: F) -> impl FnOnce() -> R {
    let ctx = thread::with(|l| l.current()).flatten();
    move || {
        let _scope = ctx.as_ref().map(ContextScope::enter);
        f()
    }
}

/// What `#[traced(parent = …)]` takes: a [`SpanContext`], an `Option<SpanContext>` (what
/// [`propagation::extract`](crate::propagation::extract) returns, `None` starting a new trace),
/// an OpenTelemetry `SpanContext`, or a reference to one of these.
#[diagnostic::on_unimplemented(
    message = "`parent = ...` needs a span context, not `{Self}`",
    label = "expected a `telemark::SpanContext` or `Option<telemark::SpanContext>`",
    note = "use `telemark::propagation::extract(&headers)` for an incoming request, or `span.context()`"
)]
pub trait IntoParent {
    #[doc(hidden)] // generated code
    fn to_parent(&self) -> Parent;
}

impl IntoParent for SpanContext {
    fn to_parent(&self) -> Parent {
        Parent::Explicit(Some(self.clone()))
    }
}
impl IntoParent for Option<SpanContext> {
    fn to_parent(&self) -> Parent {
        Parent::Explicit(self.clone())
    }
}
impl IntoParent for Option<&SpanContext> {
    fn to_parent(&self) -> Parent {
        Parent::Explicit(self.cloned())
    }
}
impl IntoParent for Parent {
    fn to_parent(&self) -> Parent {
        self.clone()
    }
}
impl<T: IntoParent + ?Sized> IntoParent for &T {
    fn to_parent(&self) -> Parent {
        (**self).to_parent()
    }
}
#[cfg(feature = "opentelemetry")]
impl IntoParent for opentelemetry::trace::SpanContext {
    fn to_parent(&self) -> Parent {
        if !self.is_valid() {
            return Parent::Explicit(None);
        }
        Parent::Explicit(Some(SpanContext {
            trace_id: crate::TraceId(u128::from_be_bytes(self.trace_id().to_bytes())),
            span_id: crate::SpanId(u64::from_be_bytes(self.span_id().to_bytes())),
            sampled: self.is_sampled(),
            remote: self.is_remote(),
            trace_state: Some(self.trace_state().header()).filter(|h| !h.is_empty()).map(Into::into),
            baggage: None,
        }))
    }
}
