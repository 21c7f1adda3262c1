//! Recording an error by hand (`telemark::exceptions::record`): on the current span, in the tracker,
//! and as a log record that carries the trace context.

use super::capture::Exception;
use super::tracker::{Group, Limits, Seen, Tracker};
use crate::ids::{SpanId, TraceId};
use crate::local::{self, LogRecord, LogSource, Record, Site};
use crate::span;
use crate::value::Recorder;
use crate::value::Value;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::SystemTime;

static TRACKER: Mutex<Option<Tracker>> = Mutex::new(None);
static IGNORE: Mutex<Vec<String>> = Mutex::new(Vec::new());
static IGNORED: AtomicU64 = AtomicU64::new(0);

/// Replaces the tracker's limits and ignore patterns (from `init`); known groups are kept.
pub(crate) fn configure(limits: Limits, ignore: Vec<String>) {
    if let Ok(mut t) = TRACKER.lock() {
        *t = Some(Tracker::new(limits));
    }
    if let Ok(mut i) = IGNORE.lock() {
        *i = ignore;
    }
}

/// Whether `pattern` matches an exception: a type path (`io::ErrorKind::WouldBlock`, `DbError::NotFound`)
/// matches the end of its type; anything else is looked for in its type and its message.
pub fn pattern_matches(pattern: &str, e: &Exception) -> bool {
    if pattern.contains("::") {
        let last = pattern.rsplit("::").next().unwrap_or(pattern);
        e.type_name.ends_with(pattern) || e.type_name.ends_with(&format!("::{last}"))
    } else {
        e.type_name.contains(pattern) || e.message.contains(pattern)
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
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write!(c, "{v:?}")));
    c.0
}

/// The current `#[traced]` function (`module::function`), if the current span is one.
fn current_function() -> Option<&'static str> {
    local::with(|l| {
        l.stack.try_borrow().ok().and_then(|s| {
            s.last().and_then(|f| match f.site {
                Site::Callsite(c) => Some(c.meta.function),
                _ => None,
            })
        })
    })
    .flatten()
}

/// Where an exception happened: the current `#[traced]` function, else the file.
fn site(file: Option<&str>) -> String {
    current_function().or(file).unwrap_or_default().to_string()
}

/// Records `error` as an exception: an `exception` event and error status on the current span, a
/// count in its group (see [`groups`]), and — unless its group is over its rate limit — a log
/// record with `exception.*` attributes and the current trace and span ids. Errors matching an
/// ignore pattern are only counted ([`ignored`]).
#[track_caller]
pub fn record<E: Error + 'static>(error: &E) {
    record_as(error, std::any::type_name::<E>(), None, Location::caller());
}

/// Like [`record`], grouped by `fingerprint` (your own key) instead of the computed one.
#[track_caller]
pub fn record_with_fingerprint<E: Error + 'static>(error: &E, fingerprint: &str) {
    record_as(error, std::any::type_name::<E>(), Some(fingerprint), Location::caller());
}

fn record_as(
    error: &(dyn Error + 'static),
    type_name: &str,
    fingerprint: Option<&str>,
    at: &'static Location<'static>,
) {
    if !crate::state::active() {
        return;
    }
    let debug = short_debug(&error);
    let e = Exception::capture(error, type_name, Some(&debug), &site(Some(at.file())), fingerprint);
    if IGNORE.try_lock().map(|i| i.iter().any(|p| pattern_matches(p, &e))).unwrap_or(false) {
        IGNORED.fetch_add(1, Relaxed);
        return;
    }
    // On the current span.
    let top = local::with(|l| l.current()).flatten();
    if let Some(ctx) = &top {
        span::with_frame_data(ctx.span_id, |rec, status| {
            rec.event(
                "exception",
                crate::clock::now_unix_nanos(),
                &[
                    ("exception.type", Value::from(e.type_name.clone())),
                    ("exception.message", Value::from(e.message.clone())),
                    ("exception.escaped", Value::Bool(false)),
                    ("exception.fingerprint", Value::from(e.fingerprint.clone())),
                ],
            );
            rec.status_message(&e.message);
            *status = crate::context::STATUS_ERROR;
        });
    }
    export(&e, top.as_ref().map(|c| (c.trace_id, c.span_id)), LogSource::Exception(at), &[]);
}

/// Counts `e` in its group and, under the group's rate limit, exports it as a log record.
/// Never blocks: if the tracker is busy (a panic while it was locked), the occurrence is only
/// exported.
fn export(e: &Exception, trace: Option<(TraceId, SpanId)>, source: LogSource, extra: &[(&str, Value)]) {
    let seen = TRACKER.try_lock().ok().map(|mut t| {
        let t = t.get_or_insert_with(|| Tracker::new(Limits::default()));
        let seen = t.observe(e, SystemTime::now(), trace);
        (seen, t.count(&e.fingerprint))
    });
    let (seen, count) = seen.unwrap_or((Seen::Export, 0));
    if seen == Seen::Suppressed {
        return;
    }
    let time = minstant::Instant::now();
    local::with(|l| {
        let mut data = l.buffer();
        let mut rec = Recorder::new(&mut data);
        rec.str("message", &e.message);
        rec.str("exception.type", &e.type_name);
        rec.str("exception.message", &e.message);
        rec.str("exception.fingerprint", &e.fingerprint);
        rec.i64("exception.group_count", i64::try_from(count).unwrap_or(i64::MAX));
        rec.bool("exception.new_group", seen == Seen::New);
        if !e.chain.is_empty() {
            rec.str("exception.chain", &e.chain.join(": "));
            rec.bool("exception.chain_truncated", e.chain_truncated);
        }
        for (k, v) in extra {
            rec.value(k, v);
        }
        let (trace_id, span_id) = trace.unwrap_or((TraceId::INVALID, SpanId::INVALID));
        l.submit(Record::Log(LogRecord {
            time,
            level: crate::Level::Error,
            source,
            trace_id,
            span_id,
            data,
        }));
    });
}

/// Records a panic (from telemark's panic hook, on the panicking thread, before it unwinds).
pub(crate) fn record_panic_message(message: &str, location: Option<(&str, u32)>) {
    if !crate::state::active() {
        return;
    }
    let e = Exception::capture_display(&message, "panic", None, &site(location.map(|(f, _)| f)), None);
    if IGNORE.try_lock().map(|i| i.iter().any(|p| pattern_matches(p, &e))).unwrap_or(false) {
        IGNORED.fetch_add(1, Relaxed);
        return;
    }
    let trace = local::with(|l| l.current()).flatten().map(|c| (c.trace_id, c.span_id));
    let mut extra = vec![("exception.escaped", Value::Bool(true))];
    if let Some((file, line)) = location {
        extra.push(("code.file.path", Value::from(file.to_string())));
        extra.push(("code.line.number", Value::I64(i64::from(line))));
    }
    export(&e, trace, LogSource::Panic, &extra);
}

/// Records a panic payload caught with `std::panic::catch_unwind` (when telemark's hook did not see
/// it, e.g. a panic hook of your own replaced it).
#[track_caller]
pub fn record_panic(payload: &(dyn std::any::Any + Send)) {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string());
    let at = Location::caller();
    record_panic_message(&message, Some((at.file(), at.line())));
}

/// A snapshot of the exception groups, most frequent first.
pub fn groups() -> Vec<Group> {
    TRACKER.lock().ok().and_then(|t| t.as_ref().map(Tracker::groups)).unwrap_or_default()
}

/// Exceptions that matched an ignore pattern (counted, never exported).
pub fn ignored() -> u64 {
    IGNORED.load(Relaxed)
}

/// Groups evicted to stay within the configured maximum.
pub fn evicted() -> u64 {
    TRACKER.lock().ok().and_then(|t| t.as_ref().map(Tracker::evicted)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let x = Exception::capture(&err, "std::io::Error", None, &site(Some(a.file())), None);
        let y = Exception::capture(&err, "std::io::Error", None, &site(Some(b.file())), None);
        assert_eq!(x.fingerprint, y.fingerprint);
        let elsewhere = Exception::capture(&err, "std::io::Error", None, "other::function", None);
        assert_ne!(x.fingerprint, elsewhere.fingerprint, "another call site is another group");
    }
}
