//! Borrowed views of a span and a log record, for exporters that write bytes: made from a
//! [`FinishedSpan`] or [`LogEntry`], or straight from the record the caller's thread wrote
//! (`collector::decode`), so that such an exporter needs no owned copy of what it encodes.

// Only the OTLP exporter reads every part of a view.
#![cfg_attr(not(feature = "otlp"), allow(dead_code))]

use super::{CodeLocation, FinishedSpan, LogEntry};
use crate::caller::callsite::{SpanKind, Status};
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::level::Level;
use crate::caller::value::{self, Entry, Event, Value, ValueRef};
use std::borrow::Cow;

/// A span's attributes: decoded, or still in the record's data buffer.
#[derive(Clone, Copy)]
pub(crate) enum Attributes<'a> {
    Decoded(&'a [(Cow<'static, str>, Value)]),
    /// A data buffer.
    Raw {
        data: &'a [u8],
    },
}

impl<'a> Attributes<'a> {
    /// Calls `f` with each attribute, in the order they were recorded.
    pub(crate) fn for_each(self, mut f: impl FnMut(&str, ValueRef<'_>)) {
        match self {
            Attributes::Decoded(list) => list.iter().for_each(|(k, v)| f(k, v.into())),
            Attributes::Raw { data } => {
                for entry in value::entries(data) {
                    if let Entry::Attr(k, v) = entry {
                        f(k, v);
                    }
                }
            }
        }
    }
}

/// A span's status, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusView<'a> {
    Unset,
    Ok,
    Error(&'a str),
}

/// A span, borrowed.
pub(crate) struct SpanView<'a> {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub parent_is_remote: bool,
    pub trace_state: Option<&'a str>,
    pub name: &'a str,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub code: CodeLocation,
    pub attributes: Attributes<'a>,
    pub dropped_attributes: u32,
    pub dropped_events: u32,
    pub events: &'a [Event],
    pub status: StatusView<'a>,
}

impl<'a> From<&'a FinishedSpan> for SpanView<'a> {
    fn from(s: &'a FinishedSpan) -> Self {
        SpanView {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            parent_is_remote: s.parent_is_remote,
            trace_state: s.trace_state.as_deref(),
            name: &s.name,
            kind: s.kind,
            start_unix_nanos: s.start_unix_nanos,
            end_unix_nanos: s.end_unix_nanos,
            code: s.code.clone(),
            attributes: Attributes::Decoded(&s.attributes),
            dropped_attributes: s.dropped_attributes,
            dropped_events: s.dropped_events,
            events: &s.events,
            status: match &s.status {
                Status::Unset => StatusView::Unset,
                Status::Ok => StatusView::Ok,
                Status::Error(m) => StatusView::Error(m),
            },
        }
    }
}

/// A log record, borrowed.
pub(crate) struct LogView<'a> {
    pub time_unix_nanos: u64,
    pub level: Level,
    pub target: &'static str,
    /// The body and the attributes (see [`LogView::fields`]).
    pub fields: Attributes<'a>,
    /// The message, when `fields` are decoded (a raw record's is its first `message` field).
    pub message: &'a str,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub file: Option<&'static str>,
    pub line: Option<u32>,
    pub dropped_attributes: u32,
}

impl LogView<'_> {
    /// Calls `f` with the body (key `None`: the message, an empty string when there is none) and
    /// each attribute, in one pass over a raw record.
    pub(crate) fn fields(&self, mut f: impl FnMut(Option<&str>, ValueRef<'_>)) {
        match self.fields {
            Attributes::Decoded(list) => {
                f(None, ValueRef::Str(self.message));
                list.iter().for_each(|(k, v)| f(Some(k), v.into()));
            }
            Attributes::Raw { data, .. } => {
                let mut body = false;
                for entry in value::entries(data) {
                    if let Entry::Attr(k, v) = entry {
                        if !body && k == "message" {
                            body = true;
                            f(None, v);
                        } else {
                            f(Some(k), v);
                        }
                    }
                }
                if !body {
                    f(None, ValueRef::Str(""));
                }
            }
        }
    }
}

impl<'a> From<&'a LogEntry> for LogView<'a> {
    fn from(l: &'a LogEntry) -> Self {
        LogView {
            time_unix_nanos: l.time_unix_nanos,
            level: l.level,
            target: l.target,
            fields: Attributes::Decoded(&l.attributes),
            message: &l.message,
            trace_id: l.trace_id,
            span_id: l.span_id,
            file: l.file,
            line: l.line,
            dropped_attributes: l.dropped_attributes,
        }
    }
}
