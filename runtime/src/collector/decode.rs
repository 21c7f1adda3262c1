//! Records as the caller's side wrote them → spans and log records as exporters see them: the
//! values decoded from the span's buffer, the call site's `code.*`, timestamps on the wall clock.

use super::Attributes;
use crate::caller::callsite::{Status, STATUS_CAPTURED, STATUS_ERROR, STATUS_OK};
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::thread::{LogRecord, LogSource, Site, SpanRecord};
use crate::caller::value::{self, Entry};
use crate::export::view::{self, LogView, SpanView, StatusView};
use crate::export::{CodeLocation, FinishedSpan, LogEntry};
use std::borrow::Cow;

fn code_location(site: &Site) -> CodeLocation {
    match site {
        // A call site made at run time for something that is not a function (an HTTP route of
        // telemark-web's server layer) has no file: no `code.*` rather than a false one.
        Site::Callsite(c) if c.meta.file.is_empty() => {
            CodeLocation { function: None, file: None, line: None }
        }
        Site::Callsite(c) => CodeLocation {
            function: Some(Cow::Borrowed(c.meta.function)),
            file: Some(c.meta.file),
            line: Some(c.meta.line),
        },
        Site::Tracing(m) => CodeLocation { function: None, file: m.file(), line: m.line() },
        Site::Manual(loc) => CodeLocation { function: None, file: Some(loc.file()), line: Some(loc.line()) },
    }
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
