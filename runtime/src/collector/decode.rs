//! Records as the caller's side wrote them → spans and log records as exporters see them: the
//! values decoded from the span's buffer, the call site's `code.*`, timestamps on the wall clock.

use super::Attributes;
use crate::caller::callsite::{Status, STATUS_CAPTURED, STATUS_ERROR, STATUS_OK};
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::thread::{LogRecord, LogSource, Site, SpanRecord};
use crate::caller::value::{self, Entry};
use crate::config::CodeAttributes;
use crate::export::view::{self, LogView, SpanView, StatusView};
use crate::export::{CodeLocation, FinishedSpan, LogEntry};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// `tracing.code_attributes`, as `init` set it: 0 short, 1 full, 2 off.
static CODE_ATTRIBUTES: AtomicU8 = AtomicU8::new(0);

/// Sets which `code.*` attributes spans carry (`init`).
pub(crate) fn set_code_attributes(c: CodeAttributes) {
    let v = match c {
        CodeAttributes::Short => 0,
        CodeAttributes::Full => 1,
        CodeAttributes::Off => 2,
    };
    CODE_ATTRIBUTES.store(v, Relaxed);
}

/// A span's `code.*` attributes, as `tracing.code_attributes` says (see [`CodeAttributes`]).
fn code_location(site: &Site) -> CodeLocation {
    let mode = CODE_ATTRIBUTES.load(Relaxed);
    if mode == 2 {
        return CodeLocation::default();
    }
    match site {
        // A call site made at run time for something that is not a function (an HTTP route of
        // telemark-web's server layer) has no file: no `code.*` rather than a false one.
        Site::Callsite(c) if c.meta.file.is_empty() => CodeLocation::default(),
        Site::Callsite(c) => CodeLocation {
            function: (mode == 1 || !named_after_function(c.meta.name, c.meta.function))
                .then_some(Cow::Borrowed(c.meta.function)),
            file: Some(short_path(c.meta.file)),
            line: Some(c.meta.line),
        },
        Site::Tracing(m) => CodeLocation { function: None, file: m.file().map(short_path), line: m.line() },
        Site::Manual(loc) => {
            CodeLocation { function: None, file: Some(short_path(loc.file())), line: Some(loc.line()) }
        }
    }
}

/// Whether span `name` is the last segment of `function` (`module::path::name`).
fn named_after_function(name: &str, function: &str) -> bool {
    function.strip_suffix(name).is_some_and(|module| module.is_empty() || module.ends_with("::"))
}

/// The path of a source file as a span carries it: rustc's, but for a crate unpacked from a
/// registry or checked out by cargo from git, from the crate's own directory on
/// (`serde-1.0.228/src/de.rs`), without the home directory and cargo's cache above it.
pub(crate) fn short_path(file: &'static str) -> &'static str {
    // The program's own crates have relative paths: nothing to look for.
    if !(file.starts_with('/') || file.starts_with('\\') || file.get(1..2) == Some(":")) {
        return file;
    }
    // `…/registry/src/<index>/<crate>-<version>/…` (the index's directory skipped) and
    // `…/git/checkouts/<repo>-<hash>/<rev>/…`.
    let markers =
        [("registry/src/", 1), ("registry\\src\\", 1), ("git/checkouts/", 0), ("git\\checkouts\\", 0)];
    for (marker, skip) in markers {
        let Some(at) = file.find(marker) else { continue };
        let mut rest = &file[at + marker.len()..];
        for _ in 0..skip {
            match rest.find(['/', '\\']) {
                Some(i) => rest = &rest[i + 1..],
                None => return file,
            }
        }
        return rest;
    }
    file
}

pub(super) fn decode_span(
    r: SpanRecord,
    anchor: &minstant::Anchor,
    attributes: Attributes,
) -> (FinishedSpan, Vec<u8>) {
    let keys = match r.site {
        Site::Callsite(c) => value::Keys::Static(c.meta.keys),
        Site::Tracing(m) => value::Keys::Fields(m.fields()),
        Site::Manual(..) => value::Keys::None,
    };
    let d = value::decode(&r.data, keys, attributes);
    let attributes = d.attributes;
    let status = match r.status {
        STATUS_ERROR | STATUS_CAPTURED => Status::Error(d.status_message.unwrap_or_default()),
        STATUS_OK => Status::Ok,
        _ => Status::Unset,
    };
    let name = match d.name {
        Some(n) => Cow::Owned(n),
        None => Cow::Borrowed(r.site.name()),
    };
    let span = FinishedSpan {
        trace_id: r.trace_id,
        span_id: r.span_id,
        parent_span_id: (r.parent != SpanId::INVALID).then_some(r.parent),
        parent_is_remote: r.parent_remote,
        name,
        kind: r.kind,
        start_unix_nanos: r.start.as_unix_nanos(anchor),
        end_unix_nanos: r.end.as_unix_nanos(anchor),
        code: code_location(&r.site),
        attributes,
        dropped_attributes: r.dropped,
        dropped_events: r.dropped_events,
        events: d.events,
        status,
        trace_state: r.trace_state,
    };
    let _ = r.cancelled;
    (span, r.data)
}

pub(super) fn decode_log(
    r: LogRecord,
    anchor: &minstant::Anchor,
    attributes: Vec<(Cow<'static, str>, value::Value)>,
) -> (LogEntry, Vec<u8>) {
    let (keys, target, file, line) = match r.source {
        LogSource::Tracing(m) => (value::Keys::Fields(m.fields()), m.target(), m.file(), m.line()),
    };
    // Into a reused list; the message leaves it, and keeps its buffer when it is a string.
    let mut attributes = value::decode(&r.data, keys, attributes).attributes;
    let message = match attributes.iter().position(|(k, _)| k == "message") {
        Some(i) => match attributes.remove(i).1 {
            value::Value::Str(s) => s.into_owned(),
            other => other.to_string(),
        },
        None => String::new(),
    };
    let entry = LogEntry {
        time_unix_nanos: r.time.as_unix_nanos(anchor),
        level: r.level,
        target,
        message,
        attributes,
        trace_id: (r.trace_id != TraceId::INVALID).then_some(r.trace_id),
        span_id: (r.span_id != SpanId::INVALID).then_some(r.span_id),
        file,
        line,
        dropped_attributes: r.dropped,
    };
    (entry, r.data)
}

/// A span record as a view of itself, for an exporter that encodes it where it lies — unless it
/// has events: an exception event is completed on telemark's thread (its stack trace), so such a
/// span is decoded ([`decode_span`]).
pub(super) fn span_view<'a>(r: &'a SpanRecord, anchor: &minstant::Anchor) -> Option<SpanView<'a>> {
    let (mut name, mut message) = (None, None);
    for entry in value::entries(&r.data) {
        match entry {
            Entry::Event(..) => return None,
            Entry::Name(n) => name = Some(n),
            Entry::Status(m) => message = Some(m),
            Entry::Attr(..) => {}
        }
    }
    Some(SpanView {
        trace_id: r.trace_id,
        span_id: r.span_id,
        parent_span_id: (r.parent != SpanId::INVALID).then_some(r.parent),
        parent_is_remote: r.parent_remote,
        trace_state: r.trace_state.as_deref(),
        name: name.unwrap_or_else(|| r.site.name()),
        kind: r.kind,
        start_unix_nanos: r.start.as_unix_nanos(anchor),
        end_unix_nanos: r.end.as_unix_nanos(anchor),
        code: code_location(&r.site),
        attributes: view::Attributes::Raw { data: &r.data },
        dropped_attributes: r.dropped,
        dropped_events: r.dropped_events,
        events: &[],
        status: match r.status {
            STATUS_ERROR | STATUS_CAPTURED => StatusView::Error(message.unwrap_or_default()),
            STATUS_OK => StatusView::Ok,
            _ => StatusView::Unset,
        },
    })
}

/// A log record as a view of itself (its first `message` field is the body).
pub(super) fn log_view<'a>(r: &'a LogRecord, anchor: &minstant::Anchor) -> LogView<'a> {
    let LogSource::Tracing(m) = r.source;
    LogView {
        time_unix_nanos: r.time.as_unix_nanos(anchor),
        level: r.level,
        target: m.target(),
        fields: view::Attributes::Raw { data: &r.data },
        message: "",
        trace_id: (r.trace_id != TraceId::INVALID).then_some(r.trace_id),
        span_id: (r.span_id != SpanId::INVALID).then_some(r.span_id),
        file: m.file(),
        line: m.line(),
        dropped_attributes: r.dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_and_git_paths_start_at_the_crate() {
        let reg = "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.228/src/de.rs";
        assert_eq!(short_path(reg), "serde-1.0.228/src/de.rs");
        let git = "/home/u/.cargo/git/checkouts/tokio-0123abcd/5f1e2a3/tokio/src/lib.rs";
        assert_eq!(short_path(git), "tokio-0123abcd/5f1e2a3/tokio/src/lib.rs");
        let win = r"C:\Users\u\.cargo\registry\src\index.crates.io-1949cf8c6b5b557f\log-0.4.0\src\lib.rs";
        assert_eq!(short_path(win), r"log-0.4.0\src\lib.rs");
        assert_eq!(short_path("src/main.rs"), "src/main.rs");
        // A directory named like cargo's, without a crate directory under it: left as it is.
        assert_eq!(short_path("/work/app/registry/src/x.rs"), "/work/app/registry/src/x.rs");
        assert_eq!(short_path("/work/app/src/main.rs"), "/work/app/src/main.rs");
    }

    #[test]
    fn a_span_named_after_its_function() {
        assert!(named_after_function("load", "app::db::load"));
        assert!(named_after_function("load", "load"));
        assert!(!named_after_function("db.load", "app::db::load"));
        assert!(!named_after_function("oad", "app::db::load"));
    }
}
