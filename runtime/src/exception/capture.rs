//! Capturing an exception: on the caller's thread only what must be taken there (type, message,
//! chain, an unresolved backtrace, the trace context), then a report to telemark's collector
//! thread, which symbolises the backtrace, fingerprints, groups and exports it.
//!
//! The report travels through the thread's ring like a finished span, and the tracker is only touched
//! by the collector (and by [`groups`]). The one lock a caller may take is std's global backtrace
//! lock, while it captures a backtrace (a few µs): it waits there if telemark's thread is
//! symbolising another backtrace at that moment (see `backtrace`).

use super::backtrace::{self, StackFrame};
use super::fingerprint::{fnv1a, hex};
use super::model::Exception;
use super::tracker::{Group, Limits, Seen, Tracker};
use crate::caller::callsite::STATUS_CAPTURED;
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::level::Level;
use crate::caller::span;
use crate::caller::thread::{self, Record, Site};
use crate::caller::value::{Recorder, Value};
use crate::export::LogEntry;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::SystemTime;

static TRACKER: Mutex<Option<Tracker>> = Mutex::new(None);
static IGNORE: Mutex<Vec<String>> = Mutex::new(Vec::new());
static IGNORED: AtomicU64 = AtomicU64::new(0);
static BACKTRACES: AtomicBool = AtomicBool::new(true);
static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

/// Replaces the tracker's limits, the ignore patterns and the backtrace default (from `init`);
/// known groups are kept.
pub(crate) fn configure(limits: Limits, ignore: Vec<String>, capture_backtrace: bool) {
    if let Ok(mut t) = TRACKER.lock() {
        match t.as_mut() {
            Some(t) => t.set_limits(limits),
            None => *t = Some(Tracker::new(limits)),
        }
    }
    if let Ok(mut i) = IGNORE.lock() {
        *i = ignore;
    }
    BACKTRACES.store(capture_backtrace, Relaxed);
}

/// Whether `pattern` matches an exception: a type path (`io::ErrorKind::WouldBlock`, `DbError::NotFound`)
/// matches the end of its type; anything else is looked for in its type and its message.
pub(crate) fn pattern_matches(pattern: &str, e: &Exception) -> bool {
    if pattern.contains("::") {
        let last = pattern.rsplit("::").next().unwrap_or(pattern);
        e.type_name.ends_with(pattern) || e.type_name.ends_with(&format!("::{last}"))
    } else {
        e.type_name.contains(pattern) || e.message.contains(pattern)
    }
}

/// Why an ignore pattern is not valid, if it is not: it must not be empty, and a type path
/// (`io::ErrorKind::WouldBlock`) must be identifiers joined by `::`.
pub(crate) fn pattern_error(pattern: &str) -> Option<&'static str> {
    telemark_grammar::ignore_pattern_error(pattern)
}

#[doc(hidden)] // for telemark's own tests and generated code, not a program's API
/// What `#[capture_exceptions]` says about one function (generated code builds it as a static).
#[derive(Debug)]
pub struct CaptureSite {
    /// `module::function`.
    pub function: &'static str,
    /// The source file.
    pub file: &'static str,
    /// The line of the function's name.
    pub line: u32,
    /// `ignore = [..]`: errors matching one of these are counted, never exported.
    pub ignore: &'static [&'static str],
    /// `backtrace = ..`; `None` follows the config (`exceptions.capture_backtrace`).
    pub backtrace: Option<bool>,
    /// `level = ..`: the severity of the exported log record.
    pub level: Level,
    /// `fingerprint = ..`: the user's own grouping key.
    pub fingerprint: Option<fn() -> String>,
}

impl CaptureSite {
    #[doc(hidden)] // generated code
    /// A function's capture site with the defaults (const, for generated code): `function` is
    /// `module::path::name`; no ignore pattern, the config's backtrace setting, level error, no
    /// fingerprint of the user's. The builder methods below change what the options change.
    pub const fn function(function: &'static str, file: &'static str, line: u32) -> CaptureSite {
        CaptureSite {
            function,
            file,
            line,
            ignore: &[],
            backtrace: None,
            level: Level::Error,
            fingerprint: None,
        }
    }

    #[doc(hidden)] // generated code: `ignore = [..]`
    /// Errors matching one of these are counted, never exported.
    pub const fn ignore(mut self, patterns: &'static [&'static str]) -> CaptureSite {
        self.ignore = patterns;
        self
    }

    #[doc(hidden)] // generated code: `backtrace = ..`
    /// Whether to capture a backtrace, whatever the config says.
    pub const fn backtrace(mut self, on: bool) -> CaptureSite {
        self.backtrace = Some(on);
        self
    }

    #[doc(hidden)] // generated code: `level = ..`
    /// The severity of the exported log record.
    pub const fn level(mut self, level: Level) -> CaptureSite {
        self.level = level;
        self
    }

    #[doc(hidden)] // generated code: `fingerprint = ..`
    /// The user's own grouping key.
    pub const fn fingerprint(mut self, key: fn() -> String) -> CaptureSite {
        self.fingerprint = Some(key);
        self
    }
}

thread_local! {
    static SCOPE: Cell<Option<&'static CaptureSite>> = const { Cell::new(None) };
}

/// The innermost `#[capture_exceptions]` function running on this thread (for the panic hook).
fn scope() -> Option<&'static CaptureSite> {
    SCOPE.try_with(Cell::get).ok().flatten()
}

#[doc(hidden)] // for telemark's own tests and generated code, not a program's API
/// Makes a `#[capture_exceptions]` function the current capture scope until dropped, so a panic
/// inside it is captured with its options (generated code).
#[derive(Debug)]
#[must_use]
pub struct CaptureScope {
    prev: Option<&'static CaptureSite>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl CaptureScope {
    /// Enters `site`.
    #[inline(always)]
    pub fn enter(site: &'static CaptureSite) -> CaptureScope {
        let prev = SCOPE.try_with(|s| s.replace(Some(site))).ok().flatten();
        CaptureScope { prev, _not_send: std::marker::PhantomData }
    }

    /// Runs `fut` with `site` as the capture scope during each poll. Generated code names `R`,
    /// the function's return type, so that `?` and `return` in the async block infer.
    #[inline]
    pub fn future<R, F: Future<Output = R>>(site: &'static CaptureSite, fut: F) -> Scoped<F> {
        Scoped { site, fut }
    }
}

impl Drop for CaptureScope {
    #[inline(always)]
    fn drop(&mut self) {
        let _ = SCOPE.try_with(|s| s.set(self.prev));
    }
}

pin_project_lite::pin_project! {
    #[doc(hidden)] // generated code
    /// A future polled inside a capture scope (see [`CaptureScope::future`]).
    #[derive(Debug)]
    pub struct Scoped<F> {
        site: &'static CaptureSite,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _scope = CaptureScope::enter(this.site);
        this.fut.poll(cx)
    }
}

/// A backtrace on its way to the collector.
pub(crate) enum Trace {
    /// Taken here (std's `Backtrace::force_capture`), not yet symbolised.
    Captured(std::backtrace::Backtrace),
    /// Already text (an `anyhow::Error`'s own backtrace).
    #[cfg_attr(not(feature = "anyhow"), allow(dead_code))]
    Text(String),
}

/// One captured exception, as it travels to the collector.
pub(crate) struct Report {
    exception: Exception,
    user_fingerprint: bool,
    backtrace: Option<Trace>,
    /// A backtrace was wanted but skipped (a burst): group like the last one that had it.
    throttled: bool,
    trace: Option<(TraceId, SpanId)>,
    /// The span event waiting for the stacktrace and fingerprint (0: none).
    event: u64,
    level: Level,
    escaped: bool,
    time: SystemTime,
    function: Option<&'static str>,
    file: Option<Cow<'static, str>>,
    line: Option<u32>,
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report").field("exception", &self.exception).finish_non_exhaustive()
    }
}

/// A `Debug` rendering cut at 256 bytes: enough to see an enum variant.
fn short_debug(v: &dyn fmt::Debug) -> String {
    struct Cap(String);
    impl fmt::Write for Cap {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if self.0.len() + s.len() > 256 {
                return Err(fmt::Error);
            }
            self.0.push_str(s);
            Ok(())
        }
    }
    let mut c = Cap(String::new());
    let _ =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fmt::write(&mut c, format_args!("{v:?}"))));
    c.0
}

/// The current `#[traced]` function (`module::function`), if the current span is one.
fn current_function() -> Option<&'static str> {
    thread::with(|l| {
        l.stack.try_borrow().ok().and_then(|s| {
            s.last().and_then(|f| match f.site {
                Site::Callsite(c) => Some(c.meta.function),
                _ => None,
            })
        })
    })
    .flatten()
}

/// What an error is, before it is captured.
pub(crate) enum Subject<'a> {
    /// An `Error` of a known type.
    Error { error: &'a (dyn Error + 'a), type_name: &'a str, debug: Option<&'a dyn fmt::Debug> },
    /// A boxed or wrapped `dyn Error` (`Box<dyn Error>`, `anyhow::Error`): the type comes from
    /// its `Debug` (Sentry's approach), else from `container`.
    Dyn { error: &'a (dyn Error + 'static), container: &'a str },
    /// Anything `Display` (a panic message, an `E: Display` that is not an `Error`).
    Display { value: &'a dyn fmt::Display, type_name: &'a str, debug: Option<&'a dyn fmt::Debug> },
}

/// How one capture should be done.
pub(crate) struct Options {
    pub site: Option<&'static CaptureSite>,
    pub escaped: bool,
    pub own_backtrace: Option<Trace>,
    pub file: Option<Cow<'static, str>>,
    pub line: Option<u32>,
    /// A grouping key given at run time (over the site's `fingerprint = ..`).
    pub fingerprint: Option<String>,
}

/// Captures `subject` and sends it to the collector; returns the span event's fields for the
/// caller to record (type, message, fingerprint or pending id), or `None` when telemark is off.
fn capture(subject: Subject<'_>, opts: Options) -> Option<Captured> {
    if !crate::caller::sampling::active() || thread::is_internal() {
        return None;
    }
    let site = opts.site;
    let user_fp = opts.fingerprint.or_else(|| {
        site.and_then(|s| s.fingerprint).map(|f| {
            std::panic::catch_unwind(f).unwrap_or_else(|_| "fingerprint expression panicked".to_string())
        })
    });
    let where_ = site
        .map(|s| s.function)
        .or_else(current_function)
        .map(Cow::Borrowed)
        .or_else(|| opts.file.clone())
        .unwrap_or_default();
    // What only this thread can see of the error; the fingerprint (a pass over the message) is
    // left to telemark's thread unless the user gave one.
    let mut e = match subject {
        Subject::Error { error, type_name, debug } => {
            Exception::unkeyed(error, type_name, debug.map(short_debug).as_deref(), &where_)
        }
        Subject::Dyn { error, container } => {
            Exception::dyn_unkeyed(error, container, &short_debug(&error), &where_)
        }
        Subject::Display { value, type_name, debug } => {
            Exception::display_unkeyed(value, type_name, debug.map(short_debug).as_deref(), &where_)
        }
    };
    if user_fp.is_some() {
        e = e.keyed(user_fp.as_deref());
    }
    let ignored = site.is_some_and(|s| s.ignore.iter().any(|p| pattern_matches(p, &e)))
        || IGNORE.try_lock().map(|i| i.iter().any(|p| pattern_matches(p, &e))).unwrap_or(false);
    if ignored {
        IGNORED.fetch_add(1, Relaxed);
        return Some(Captured {
            type_name: e.type_name,
            message: e.message,
            event: 0,
            escaped: opts.escaped,
            ignored: true,
        });
    }
    let wants_backtrace = opts.own_backtrace.is_some()
        || site.and_then(|s| s.backtrace).unwrap_or_else(|| BACKTRACES.load(Relaxed));
    // In a burst of one error (its type, from one function), only the first few per second pay for
    // a backtrace; the rest are grouped by the fingerprint their backtrace gave (the collector
    // remembers it). This also bounds how often telemark's thread symbolises, holding std's
    // backtrace lock, which a capture takes too.
    let throttled = wants_backtrace && opts.own_backtrace.is_none() && burst(&e.type_name, &e.site);
    let backtrace = opts
        .own_backtrace
        .or_else(|| (wants_backtrace && !throttled).then(backtrace::capture).flatten().map(Trace::Captured));
    let ctx = thread::with(|l| l.current()).flatten().filter(crate::SpanContext::is_valid);
    // The span event's fingerprint (and stacktrace) are filled in on telemark's thread.
    let event = if ctx.as_ref().is_some_and(|c| c.sampled) { NEXT_EVENT.fetch_add(1, Relaxed) } else { 0 };
    let captured = Captured {
        type_name: e.type_name.clone(),
        message: e.message.clone(),
        event,
        escaped: opts.escaped,
        ignored: false,
    };
    let report = Report {
        user_fingerprint: user_fp.is_some(),
        exception: e,
        backtrace,
        throttled,
        trace: ctx.map(|c| (c.trace_id, c.span_id)),
        event,
        level: site.map_or(Level::Error, |s| s.level),
        escaped: opts.escaped,
        time: SystemTime::now(),
        function: site.map(|s| s.function).or_else(current_function),
        file: opts.file.or_else(|| site.map(|s| Cow::Borrowed(s.file))),
        line: opts.line.or_else(|| site.map(|s| s.line)),
    };
    thread::with(|l| l.submit(Record::Exception(Box::new(report))));
    Some(captured)
}

/// Backtraces taken per second for one error type from one site at most.
const BACKTRACES_PER_SECOND: u32 = 16;

/// Whether this occurrence is past [`BACKTRACES_PER_SECOND`] for its type and site: a small table
/// of (second, count) slots indexed by their hash; collisions only make it stricter.
fn burst(type_name: &str, site: &str) -> bool {
    static SLOTS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
    let slot = &SLOTS[(fnv1a(&[type_name, site]) % 64) as usize];
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as u32;
    let v = slot.load(Relaxed);
    let (second, count) = ((v >> 32) as u32, v as u32);
    if second != now {
        slot.store(u64::from(now) << 32 | 1, Relaxed);
        return false;
    }
    if count >= BACKTRACES_PER_SECOND {
        return true;
    }
    slot.store(v + 1, Relaxed);
    false
}

/// The fields of a captured exception's span event.
pub(crate) struct Captured {
    type_name: String,
    message: String,
    event: u64,
    escaped: bool,
    /// Matched an ignore pattern: the span is marked failed, with no `exception` event.
    ignored: bool,
}

impl Captured {
    /// Adds the `exception` event to a span's data. `fails` marks the span failed: the span is
    /// the capturing function's own (or the exception was recorded by hand); an `Err` merely seen
    /// by a function called inside the span does not fail it.
    pub(crate) fn write(&self, rec: &mut Recorder<'_>, status: &mut u8, fails: bool) {
        if self.ignored {
            if fails {
                rec.status_message(&self.message);
                *status = STATUS_CAPTURED;
            }
            return;
        }
        let mut attrs = vec![
            ("exception.type", Value::from(self.type_name.clone())),
            ("exception.message", Value::from(self.message.clone())),
            ("exception.escaped", Value::Bool(self.escaped)),
        ];
        if self.event != 0 {
            attrs.push((PENDING_EVENT, Value::I64(self.event as i64)));
        }
        rec.event("exception", crate::caller::clock::now_unix_nanos(), &attrs);
        if fails {
            rec.status_message(&self.message);
            *status = STATUS_CAPTURED;
        }
    }
}

/// The attribute of a span event whose stacktrace and fingerprint the collector fills in.
pub(crate) const PENDING_EVENT: &str = "telemark.exception.pending";

/// Captures `subject` and records it on the current span; `site` (a `#[capture_exceptions]`
/// function) fails the span only if the span is that function's own.
fn capture_on_current(subject: Subject<'_>, opts: Options) {
    let site = opts.site;
    if let Some(c) = capture(subject, opts) {
        if let Some(ctx) = thread::with(|l| l.current()).flatten() {
            let fails = site.is_none_or(|s| current_function() == Some(s.function));
            span::with_frame_data(ctx.span_id, |rec, status| c.write(rec, status, fails));
        }
    }
}

/// Records `error` as an exception: an `exception` event and error status on the current span, a
/// count in its group (see [`groups`]), and — unless its group is over its rate limit — a log
/// record with `exception.*` attributes (and a backtrace, when enabled) and the current trace and
/// span ids. Errors matching an ignore pattern are only counted ([`ignored`]).
#[track_caller]
pub fn record<E: Error + 'static>(error: &E) {
    let at = Location::caller();
    let subject = Subject::Error { error, type_name: std::any::type_name::<E>(), debug: Some(error) };
    capture_on_current(subject, located(at, false));
}

/// Like [`record`], for a `dyn Error` (`Box<dyn Error>`, `anyhow::Error` through its `as_ref()`):
/// its type is read from its `Debug` output.
#[track_caller]
pub fn record_dyn(error: &(dyn Error + 'static)) {
    let at = Location::caller();
    capture_on_current(Subject::Dyn { error, container: "dyn Error" }, located(at, false));
}

/// Like [`record`], grouped by `fingerprint` (your own key) instead of the computed one.
#[track_caller]
pub fn record_with_fingerprint<E: Error + 'static>(error: &E, fingerprint: &str) {
    let at = Location::caller();
    let subject = Subject::Error { error, type_name: std::any::type_name::<E>(), debug: Some(error) };
    let mut opts = located(at, false);
    opts.fingerprint = Some(fingerprint.to_string());
    capture_on_current(subject, opts);
}

fn located(at: &'static Location<'static>, escaped: bool) -> Options {
    Options {
        site: None,
        escaped,
        own_backtrace: None,
        file: Some(Cow::Borrowed(at.file())),
        line: Some(at.line()),
        fingerprint: None,
    }
}

/// Captures the `Err` of a `#[capture_exceptions]` function (generated code, through
/// `spec::Captured`).
pub(crate) fn capture_returned(site: &'static CaptureSite, subject: Subject<'_>, own: Option<Trace>) {
    let opts = Options {
        site: Some(site),
        escaped: false,
        own_backtrace: own,
        file: None,
        line: None,
        fingerprint: None,
    };
    capture_on_current(subject, opts);
}

/// What the panic hook captured, for the spans the panic unwinds through.
#[derive(Clone, Debug, Default)]
pub(crate) struct PanicNote {
    pub message: String,
    pub event: u64,
}

/// Records a panic (from telemark's panic hook, on the panicking thread, before it unwinds);
/// returns what the spans it unwinds through record.
pub(crate) fn record_panic_message(message: &str, location: Option<(&str, u32)>) -> PanicNote {
    let opts = Options {
        site: scope(),
        escaped: true,
        own_backtrace: None,
        file: location.map(|(f, _)| Cow::Owned(f.to_string())),
        line: location.map(|(_, l)| l),
        fingerprint: None,
    };
    let subject = Subject::Display { value: &message, type_name: "panic", debug: None };
    match capture(subject, opts).filter(|c| !c.ignored) {
        Some(c) => PanicNote { message: message.to_string(), event: c.event },
        None => PanicNote { message: message.to_string(), ..PanicNote::default() },
    }
}

/// A panic's message: its `&str` or `String` payload, else `Box<dyn Any>`.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string())
}

/// Records a panic payload caught with `std::panic::catch_unwind` (when telemark's hook did not see
/// it, e.g. a panic hook of your own replaced it).
#[track_caller]
pub fn record_panic(payload: &(dyn std::any::Any + Send)) {
    let message = panic_message(payload);
    let at = Location::caller();
    let subject = Subject::Display { value: &message, type_name: "panic", debug: None };
    let mut opts = located(at, true);
    opts.site = scope();
    capture_on_current(subject, opts);
}

/// A snapshot of the exception groups, most frequent first.
///
/// Exceptions are grouped on telemark's own thread; this first waits until every exception
/// captured before the call has been grouped (at most [`QUERY_WAIT`](crate::QUERY_WAIT), a bound
/// reached only when that thread is stuck).
pub fn groups() -> Vec<Group> {
    crate::collector::barrier();
    TRACKER.lock().ok().and_then(|t| t.as_ref().map(Tracker::groups)).unwrap_or_default()
}

/// Exceptions that matched an ignore pattern (counted, never exported). They are counted on the
/// capturing thread, so every one captured before the call is included.
pub fn ignored() -> u64 {
    IGNORED.load(Relaxed)
}

/// Groups evicted to stay within the configured maximum (after the exceptions captured before
/// the call have been grouped, as [`groups`] waits).
pub fn evicted() -> u64 {
    crate::collector::barrier();
    TRACKER.lock().ok().and_then(|t| t.as_ref().map(Tracker::evicted)).unwrap_or(0)
}

/// The collector's side: symbolised stacktraces and final fingerprints of recent exceptions, for
/// the span events that wait for them.
#[derive(Default)]
pub(crate) struct Processor {
    done: HashMap<u64, (String, Option<String>)>,
    order: VecDeque<u64>,
    /// The frame-based fingerprint each computed fingerprint last turned into, for occurrences
    /// whose backtrace was skipped in a burst.
    refined: HashMap<String, String>,
}

/// Pending span events remembered at most (a span that never arrives must not leak).
const REMEMBERED: usize = 4096;

impl Processor {
    /// Groups one report; returns the log record to export, unless rate-limited.
    pub(crate) fn process(
        &mut self,
        r: Report,
        sanitizer: &mut crate::sanitize::Sanitizer,
    ) -> Option<LogEntry> {
        let Report {
            mut exception,
            user_fingerprint,
            backtrace,
            throttled,
            trace,
            event,
            level,
            escaped,
            time,
            function,
            file,
            line,
        } = r;
        // Masked before anything sees it: the fingerprint, the groups, the exporters.
        sanitizer.exception(&mut exception);
        if exception.fingerprint.is_empty() {
            exception = exception.keyed(None);
        }
        let frames: Vec<StackFrame> = match &backtrace {
            Some(Trace::Captured(bt)) => backtrace::frames_of(bt),
            Some(Trace::Text(t)) => backtrace::parse(t),
            None => Vec::new(),
        };
        let functions = backtrace::fingerprint_functions(&frames);
        if !user_fingerprint && !functions.is_empty() {
            // The capture site (known at compile time) is part of the key: in a release build
            // the capturing function is often inlined and has no frame of its own, and two
            // functions returning the same error type must still be two groups.
            let mut parts: Vec<&str> = vec!["frames", &exception.type_name, &exception.site];
            parts.extend(functions.iter().map(String::as_str));
            let refined = hex(fnv1a(&parts));
            if self.refined.len() >= REMEMBERED && !self.refined.contains_key(&exception.fingerprint) {
                self.refined.clear();
            }
            self.refined.insert(std::mem::replace(&mut exception.fingerprint, refined.clone()), refined);
        } else if throttled && !user_fingerprint {
            if let Some(f) = self.refined.get(&exception.fingerprint) {
                exception.fingerprint = f.clone();
            }
        }
        let stacktrace = (!frames.is_empty()).then(|| {
            let mut text = backtrace::render(&frames);
            sanitizer.text(None, &mut text, sanitizer.value_length(crate::sanitize::Signal::Log));
            text
        });
        if event != 0 {
            if self.order.len() >= REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.done.remove(&old);
                }
            }
            self.done.insert(event, (exception.fingerprint.clone(), stacktrace.clone()));
            self.order.push_back(event);
        }
        if let Some(f) = function {
            crate::metrics::count_exception(f);
        }
        let top: Vec<String> = functions.iter().take(5).cloned().collect();
        let (seen, count) = match TRACKER.lock() {
            Ok(mut t) => {
                let t = t.get_or_insert_with(|| Tracker::new(Limits::default()));
                let seen = t.observe_with_frames(&exception, time, trace, top);
                (seen, t.count(&exception.fingerprint))
            }
            Err(_) => (Seen::Export, 0),
        };
        if seen == Seen::Suppressed {
            crate::stats::STATS.exceptions_suppressed.fetch_add(1, Relaxed);
            return None;
        }
        let mut attributes: Vec<(Cow<'static, str>, Value)> = vec![
            ("exception.type".into(), Value::from(exception.type_name.clone())),
            ("exception.message".into(), Value::from(exception.message.clone())),
            ("exception.fingerprint".into(), Value::from(exception.fingerprint.clone())),
            ("exception.group_count".into(), Value::I64(i64::try_from(count).unwrap_or(i64::MAX))),
            ("exception.new_group".into(), Value::Bool(seen == Seen::New)),
            ("exception.escaped".into(), Value::Bool(escaped)),
        ];
        if !exception.chain.is_empty() {
            attributes.push(("exception.chain".into(), Value::from(chain_text(&exception.chain))));
            attributes.push(("exception.chain_truncated".into(), Value::Bool(exception.chain_truncated)));
        }
        if let Some(s) = stacktrace {
            attributes.push(("exception.stacktrace".into(), Value::from(s)));
        }
        if let Some(f) = function {
            attributes.push(("code.function.name".into(), Value::from(f)));
        }
        if let Some(f) = &file {
            attributes.push(("code.file.path".into(), Value::from(f.to_string())));
        }
        if let Some(l) = line {
            attributes.push(("code.line.number".into(), Value::I64(i64::from(l))));
        }
        Some(LogEntry {
            time_unix_nanos: time
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            level,
            target: "telemark::exception",
            message: exception.message,
            attributes,
            trace_id: trace.map(|t| t.0),
            span_id: trace.map(|t| t.1),
            // The location is in the attributes above (the file may be owned: a panic's); the
            // entry's own fields would make the exporters add it a second time.
            file: None,
            line: None,
            dropped_attributes: 0,
        })
    }

    /// Completes a span's `exception` events that wait for a stacktrace and fingerprint.
    pub(crate) fn complete(&self, events: &mut [crate::caller::value::Event]) {
        for ev in events.iter_mut().filter(|e| e.name == "exception") {
            let Some(i) = ev.attributes.iter().position(|(k, _)| k == PENDING_EVENT) else { continue };
            let (_, id) = ev.attributes.remove(i);
            let Some((fp, st)) = id.as_i64().and_then(|id| self.done.get(&(id as u64))) else { continue };
            ev.attributes.push(("exception.fingerprint".into(), Value::from(fp.clone())));
            if let Some(st) = st {
                ev.attributes.push(("exception.stacktrace".into(), Value::from(st.clone())));
            }
        }
    }
}

/// `exception.chain`: the causes one per line, outermost first. A line break inside a cause is
/// written as the two characters `\n` (`\r` for a carriage return), so that it cannot read as
/// another cause.
fn chain_text(chain: &[String]) -> String {
    let mut out = String::new();
    for (i, cause) in chain.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for c in cause.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_break_inside_a_cause_is_not_another_cause() {
        let chain = vec!["outer\r\nforged cause".to_string(), "inner".to_string()];
        assert_eq!(chain_text(&chain), "outer\\r\\nforged cause\ninner");
        assert_eq!(chain_text(&[]), "");
    }

    #[track_caller]
    fn here() -> &'static Location<'static> {
        Location::caller()
    }

    #[test]
    fn line_shifts_do_not_change_the_group() {
        // The same error captured from two different lines (as after adding lines above it): the
        // site comes from the file (or the current function), never the line.
        let a = here();
        let b = here();
        assert_ne!(a.line(), b.line());
        let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "query 17 timed out");
        let x = Exception::capture(&err, "std::io::Error", None, a.file(), None);
        let y = Exception::capture(&err, "std::io::Error", None, b.file(), None);
        assert_eq!(x.fingerprint, y.fingerprint);
        let elsewhere = Exception::capture(&err, "std::io::Error", None, "other::function", None);
        assert_ne!(x.fingerprint, elsewhere.fingerprint, "another call site is another group");
    }

    /// A report of `err` captured at `site` with the backtrace `bt`.
    fn report(err: &std::io::Error, site: &str, bt: std::backtrace::Backtrace) -> Report {
        Report {
            exception: Exception::unkeyed(err, "std::io::Error", Some(&format!("{err:?}")), site),
            user_fingerprint: false,
            backtrace: Some(Trace::Captured(bt)),
            throttled: false,
            trace: None,
            event: 0,
            level: Level::Error,
            escaped: false,
            time: SystemTime::now(),
            function: None,
            file: None,
            line: None,
        }
    }

    #[test]
    fn the_capture_site_separates_groups_whatever_the_stack_shows() {
        // Two `#[capture_exceptions]` functions inlined into one caller (a release build) leave the
        // same stack: only the site, known at compile time, tells them apart.
        // One stack (its lines differ, which fingerprints leave out).
        let stack = || backtrace::capture().expect("captured");
        let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream timed out");
        let mut p = Processor::default();
        let a = p
            .process(report(&err, "app::load_user", stack()), &mut crate::sanitize::Sanitizer::default())
            .expect("exported");
        let b = p
            .process(report(&err, "app::load_order", stack()), &mut crate::sanitize::Sanitizer::default())
            .expect("exported");
        let a_again = p
            .process(report(&err, "app::load_user", stack()), &mut crate::sanitize::Sanitizer::default())
            .expect("exported");
        let fp = |l: &LogEntry| {
            l.attributes.iter().find(|(k, _)| k == "exception.fingerprint").map(|(_, v)| v.to_string())
        };
        assert!(
            a.attributes.iter().any(|(k, _)| k == "exception.stacktrace"),
            "the frames are part of the key"
        );
        assert_ne!(fp(&a), fp(&b), "two sites, two groups");
        assert_eq!(fp(&a), fp(&a_again), "one site, one group");
    }

    #[test]
    fn ignore_patterns_are_checked() {
        assert!(pattern_error("NotFound").is_none());
        assert!(pattern_error("io::ErrorKind::WouldBlock").is_none());
        assert!(pattern_error("").is_some());
        assert!(pattern_error("io::").is_some());
        assert!(pattern_error("io::Error Kind").is_some());
    }
}
