//! The console exporter: a span tree per finished trace and one line per log record, in a
//! human format or as JSON lines. It is the default when no OTLP endpoint is configured.
//!
//! Nothing the program records can forge the console's output. In the human format every piece
//! of recorded data — messages, targets, span and event names, attribute keys and values,
//! exception types, messages, causes, places and stack frames — is printed through [`clean`]:
//!
//! - a character that could move the cursor, end the line, drive the terminal or reorder text
//!   ([`must_escape`]: C0 controls including tab, CR and LF, DEL, C1 controls U+0080–U+009F, the
//!   line and paragraph separators U+2028/U+2029, and the bidi embeddings, overrides and isolates
//!   U+202A–U+202E and U+2066–U+2069) is written as an escape: `\t`, `\n`, `\r`, `\xNN` for the
//!   other ASCII controls (`\x1b`, `\x00`, `\x7f`), `\u{NNNN}` for the others (`\u{9b}`,
//!   `\u{2028}`, `\u{202e}`). A backslash is written as it is, except in a quoted value, where
//!   `\\` and `\"` keep the quotes unambiguous; so a line is one record and one line only (an
//!   exception stays one block, every line of it indented under its head);
//! - a value, name or key longer than [`MAX_VALUE_CHARS`] characters (a message: longer than
//!   [`MAX_MESSAGE_CHARS`]) is cut on a character boundary and marked `…[+N bytes]`, N being the
//!   bytes left out. The JSON format and the other exporters keep everything.
//!
//! The JSON format writes each record as one object on one line; besides what JSON requires
//! (`"`, `\\` and C0 controls escaped), every other [`must_escape`] character is written as
//! `\uXXXX`, so a JSON line read on a terminal is as inert as the human format.
//!
//! Colour (ANSI SGR codes of telemark's own, never from data) is on when the configuration says
//! so; by default only when the output is a terminal and `NO_COLOR` is not set to a non-empty
//! value ([`color_auto`]).

use super::{ExportError, Exporter, FinishedSpan, LogEntry};
use crate::caller::callsite::Status;
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::value::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;

/// How the console prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConsoleFormat {
    /// Readable lines and span trees.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where the console writes.
pub(crate) enum Output {
    Stdout,
    Stderr,
}

/// Spans of unfinished traces kept at most; past it the oldest trace is printed as it is.
const MAX_BUFFERED: usize = 10_000;

pub(crate) struct Console {
    format: ConsoleFormat,
    output: Output,
    color: bool,
    pending: HashMap<TraceId, Vec<FinishedSpan>>,
    buffered: usize,
}

impl Console {
    pub(crate) fn new(format: ConsoleFormat, output: Output, color: bool) -> Console {
        Console { format, output, color, pending: HashMap::new(), buffered: 0 }
    }

    fn write(&self, text: &str) {
        let _ = match self.output {
            Output::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            Output::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
        };
    }

    fn paint(&self, code: &str, text: &str, out: &mut String) {
        if self.color {
            let _ = write!(out, "\x1b[{code}m{text}\x1b[0m");
        } else {
            out.push_str(text);
        }
    }

    fn human_log(&self, l: &LogEntry, out: &mut String) {
        out.push_str(&format_time(l.time_unix_nanos));
        out.push(' ');
        self.paint(level_code(l.level), &format!("{:>5}", l.level.severity_text()), out);
        let _ =
            write!(out, " {}: {}", clean(l.target, MAX_VALUE_CHARS), clean(&l.message, MAX_MESSAGE_CHARS));
        for (k, v) in &l.attributes {
            let _ = write!(out, " {}={}", key(k), value(v));
        }
        if let (Some(t), Some(s)) = (l.trace_id, l.span_id) {
            let mut ids = String::new();
            let _ = write!(ids, "  trace_id={t} span_id={s}");
            self.paint("2", &ids, out);
        }
        out.push('\n');
    }

    /// Prints an exception record (target [`EXCEPTION_TARGET`]) as a block: a head line with the
    /// type and message, its causes, where it happened, the stacktrace and its group, preceded by
    /// an announcement when it is the first of a new group.
    fn human_exception(&self, l: &LogEntry, out: &mut String) {
        let x = ExceptionView::new(l);
        let kind = if x.escaped { "panic" } else { "exception" };
        let type_name =
            x.type_name.filter(|t| !t.is_empty() && *t != kind).map(|t| clean(t, MAX_VALUE_CHARS));
        let type_name = type_name.as_deref();
        let place = x.place(l).map(|p| clean(&p, MAX_VALUE_CHARS).into_owned());
        let function = x.function.map(|f| clean(f, MAX_VALUE_CHARS));
        let function = function.as_deref();
        let fingerprint = x.fingerprint.map(|f| clean(f, MAX_VALUE_CHARS));
        let fingerprint = fingerprint.as_deref();
        if x.new_group {
            let mut line = String::from("new exception group");
            if let Some(fp) = fingerprint {
                let _ = write!(line, " {fp}");
            }
            let _ = write!(line, ": {}", type_name.unwrap_or(kind));
            if let Some(at) = function.or(place.as_deref()) {
                let _ = write!(line, " at {at}");
            }
            self.paint("1;35", &line, out);
            out.push('\n');
        }
        // Head: time, level, what it is, its message (on the one line: its line breaks escaped).
        out.push_str(&format_time(l.time_unix_nanos));
        out.push(' ');
        self.paint(level_code(l.level), &format!("{:>5}", l.level.severity_text()), out);
        out.push(' ');
        match type_name {
            Some(t) => self.paint("1", &format!("{kind} {t}"), out),
            None => self.paint("1", kind, out),
        }
        if !x.message.is_empty() {
            let _ = write!(out, ": {}", clean(x.message, MAX_MESSAGE_CHARS));
        }
        out.push('\n');
        // Causes, outermost first (`exception.chain` holds one per line).
        let causes: Vec<&str> = x.chain.split('\n').filter(|c| !c.trim().is_empty()).collect();
        for (i, cause) in causes.iter().enumerate() {
            let _ = write!(out, "    caused by: {}", clean(cause, MAX_MESSAGE_CHARS));
            if x.chain_truncated && i + 1 == causes.len() {
                out.push_str(" (chain truncated)");
            }
            out.push('\n');
        }
        if x.chain_truncated && causes.is_empty() {
            out.push_str("    caused by: … (chain truncated)\n");
        }
        // Where.
        match (function, place) {
            (Some(f), Some(p)) => {
                let _ = writeln!(out, "    at {f} ({p})");
            }
            (Some(at), None) => {
                let _ = writeln!(out, "    at {at}");
            }
            (None, Some(at)) => {
                let _ = writeln!(out, "    at {at}");
            }
            (None, None) => {}
        }
        // The stacktrace, one frame per line, with runs of library frames folded into one line.
        // (The frames are telemark's own rendering, one per line; each is cleaned as data.)
        let stack = x.stacktrace.trim_start_matches(['\n', '\r']).trim_end();
        if !stack.is_empty() {
            let lines = fold_library_frames(stack);
            if stack.lines().any(|l| l.starts_with(LIBRARY_MARK)) {
                out.push_str("    stack (innermost call first; ~ marks a frame in a library):\n");
            } else {
                out.push_str("    stack:\n");
            }
            for frame in lines {
                if frame.is_empty() {
                    out.push('\n');
                } else {
                    let _ = writeln!(out, "      {}", clean(&frame, MAX_VALUE_CHARS));
                }
            }
        }
        // Group, everything else, and the trace context.
        let mut line = String::new();
        if let Some(fp) = fingerprint {
            let _ = write!(line, "group {fp}");
        }
        match x.group_count {
            Some(1) => line.push_str(" (seen once)"),
            Some(n) if n > 1 => {
                let _ = write!(line, " (seen {n} times)");
            }
            _ => {}
        }
        let line = line.trim_start();
        let mut rest = String::new();
        for (k, v) in &x.rest {
            let _ = write!(rest, " {}={}", key(k), value(v));
        }
        let ids = match (l.trace_id, l.span_id) {
            (Some(t), Some(s)) => Some(format!("trace_id={t} span_id={s}")),
            _ => None,
        };
        if !line.is_empty() || !rest.is_empty() || ids.is_some() {
            let _ = write!(out, "    {line}");
            if !rest.is_empty() {
                out.push_str(if line.is_empty() { rest.trim_start() } else { &rest });
            }
            if let Some(ids) = ids {
                if !line.is_empty() || !rest.is_empty() {
                    out.push_str("  ");
                }
                self.paint("2", &ids, out);
            }
            out.push('\n');
        }
    }

    fn human_tree(&self, trace: TraceId, mut spans: Vec<FinishedSpan>, out: &mut String) {
        spans.sort_by_key(|s| s.start_unix_nanos);
        let ids: std::collections::HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
        let mut children: HashMap<Option<SpanId>, Vec<usize>> = HashMap::new();
        for (i, s) in spans.iter().enumerate() {
            let parent = s.parent_span_id.filter(|p| ids.contains(p));
            children.entry(parent).or_default().push(i);
        }
        let mut head = String::new();
        let _ = write!(head, "trace {trace}");
        self.paint("1", &head, out);
        out.push('\n');
        let roots = children.get(&None).cloned().unwrap_or_default();
        let n = roots.len();
        for (k, i) in roots.into_iter().enumerate() {
            self.human_node(&spans, &children, i, "", k + 1 == n, out, 0);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn human_node(
        &self,
        spans: &[FinishedSpan],
        children: &HashMap<Option<SpanId>, Vec<usize>>,
        i: usize,
        prefix: &str,
        last: bool,
        out: &mut String,
        depth: usize,
    ) {
        let s = &spans[i];
        let _ = write!(out, "{prefix}{}", if last { "└─ " } else { "├─ " });
        self.paint("1", &clean(&s.name, MAX_VALUE_CHARS), out);
        if s.kind != crate::SpanKind::Internal {
            let _ = write!(out, " [{}]", s.kind.as_str());
        }
        let _ = write!(out, " {}", format_duration(s.duration_nanos()));
        for (k, v) in &s.attributes {
            if !k.starts_with("code.") {
                let _ = write!(out, "  {}={}", key(k), value(v));
            }
        }
        match &s.status {
            Status::Error(msg) => {
                out.push_str("  ");
                self.paint("31", &format!("error: {}", clean(msg, MAX_MESSAGE_CHARS)), out);
            }
            Status::Ok => out.push_str("  ok"),
            Status::Unset => {}
        }
        out.push('\n');
        let kids = children.get(&Some(s.span_id)).cloned().unwrap_or_default();
        if depth > 64 {
            return;
        }
        let inner = format!("{prefix}{}", if last { "   " } else { "│  " });
        let status_message = match &s.status {
            Status::Error(m) => Some(m.as_str()),
            _ => None,
        };
        for e in &s.events {
            let msg = e.attributes.iter().find(|(k, _)| k == "exception.message").map(|(_, v)| v.to_string());
            // An exception that only repeats the status message adds nothing.
            if e.name == "exception" && msg.as_deref() == status_message {
                continue;
            }
            let bar = if kids.is_empty() { "" } else { "│" };
            let _ = write!(out, "{inner}{bar}  · {}", clean(&e.name, MAX_VALUE_CHARS));
            for (k, v) in &e.attributes {
                let _ = write!(out, " {}={}", key(k), value(v));
            }
            out.push('\n');
        }
        let n = kids.len();
        for (k, c) in kids.into_iter().enumerate() {
            self.human_node(spans, children, c, &inner, k + 1 == n, out, depth + 1);
        }
    }
}

impl Console {
    /// Renders what `export` received into the text it prints (spans of unfinished traces are kept
    /// for a later call).
    fn render(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> String {
        let mut out = String::new();
        match self.format {
            ConsoleFormat::Json => {
                for l in logs {
                    json_log(l, &mut out);
                }
                for s in spans {
                    json_span(s, &mut out);
                }
            }
            ConsoleFormat::Human => {
                for l in logs {
                    if l.target == EXCEPTION_TARGET {
                        self.human_exception(l, &mut out);
                    } else {
                        self.human_log(l, &mut out);
                    }
                }
                let mut done = Vec::new();
                for s in spans {
                    let local_root = s.parent_span_id.is_none() || s.parent_is_remote;
                    self.pending.entry(s.trace_id).or_default().push(s.clone());
                    self.buffered += 1;
                    if local_root {
                        done.push(s.trace_id);
                    }
                }
                while self.buffered > MAX_BUFFERED {
                    let Some(oldest) = self
                        .pending
                        .iter()
                        .min_by_key(|(_, v)| v.iter().map(|s| s.start_unix_nanos).min())
                        .map(|(t, _)| *t)
                    else {
                        break;
                    };
                    done.push(oldest);
                    let n = self.pending.get(&oldest).map_or(0, Vec::len);
                    self.buffered = self.buffered.saturating_sub(n);
                    if let Some(spans) = self.pending.remove(&oldest) {
                        self.human_tree(oldest, spans, &mut out);
                    }
                }
                for t in done {
                    if let Some(spans) = self.pending.remove(&t) {
                        self.buffered = self.buffered.saturating_sub(spans.len());
                        self.human_tree(t, spans, &mut out);
                    }
                }
            }
        }
        out
    }

    /// Renders, and forgets, the traces that never got their root (still open at exit).
    fn render_pending(&mut self) -> String {
        let mut out = String::new();
        let pending: Vec<_> = self.pending.drain().collect();
        for (t, spans) in pending {
            self.human_tree(t, spans, &mut out);
        }
        self.buffered = 0;
        out
    }
}

impl Exporter for Console {
    fn export(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> Result<(), ExportError> {
        let out = self.render(spans, logs);
        if !out.is_empty() {
            self.write(&out);
        }
        Ok(())
    }

    fn shutdown(&mut self, _deadline: std::time::Instant) {
        // Print what never got its root (a trace still open at exit).
        let out = self.render_pending();
        if !out.is_empty() {
            self.write(&out);
        }
    }
}

/// The `target` of the log records telemark exports for recorded errors and panics.
const EXCEPTION_TARGET: &str = "telemark::exception";

/// The colour a level is painted in.
fn level_code(level: crate::Level) -> &'static str {
    match level {
        crate::Level::Error => "31",
        crate::Level::Warn => "33",
        crate::Level::Info => "32",
        _ => "2",
    }
}

/// An exception record taken apart for the human format. Attributes it does not know, of an
/// unexpected type, or repeated, are kept in `rest` so that nothing is lost.
#[derive(Default)]
struct ExceptionView<'a> {
    /// The message: the record's, else `exception.message`.
    message: &'a str,
    /// `exception.type`.
    type_name: Option<&'a str>,
    /// `exception.fingerprint`.
    fingerprint: Option<&'a str>,
    /// `exception.group_count`.
    group_count: Option<i64>,
    /// `exception.new_group`.
    new_group: bool,
    /// `exception.escaped` (a panic that unwound).
    escaped: bool,
    /// `exception.chain`: one cause per line, outermost first.
    chain: &'a str,
    /// `exception.chain_truncated`.
    chain_truncated: bool,
    /// `exception.stacktrace`, already formatted.
    stacktrace: &'a str,
    /// `code.function.name`.
    function: Option<&'a str>,
    /// `code.file.path`.
    file: Option<&'a str>,
    /// `code.line.number`.
    line: Option<i64>,
    /// Everything else, in order.
    rest: Vec<(&'a str, &'a Value)>,
}

impl<'a> ExceptionView<'a> {
    /// Sorts `l`'s attributes into the fields they fill and the rest.
    fn new(l: &'a LogEntry) -> ExceptionView<'a> {
        /// Fills `slot` unless it is already filled; whether it did.
        fn fill<T>(slot: &mut Option<T>, value: T) -> bool {
            if slot.is_some() {
                return false;
            }
            *slot = Some(value);
            true
        }
        let (mut message, mut chain, mut stacktrace) = (None, None, None);
        let (mut new_group, mut escaped, mut truncated) = (None, None, None);
        let mut x = ExceptionView::default();
        for (k, v) in &l.attributes {
            let taken = match (k.as_ref(), v) {
                ("exception.type", Value::Str(s)) => fill(&mut x.type_name, s.as_ref()),
                // Shown as the head's message; kept in the rest when it says something else.
                ("exception.message", Value::Str(s)) if l.message.is_empty() || *s == l.message => {
                    fill(&mut message, s.as_ref())
                }
                ("exception.fingerprint", Value::Str(s)) => fill(&mut x.fingerprint, s.as_ref()),
                ("exception.group_count", Value::I64(n)) => fill(&mut x.group_count, *n),
                ("exception.new_group", Value::Bool(b)) => fill(&mut new_group, *b),
                ("exception.escaped", Value::Bool(b)) => fill(&mut escaped, *b),
                ("exception.chain", Value::Str(s)) => fill(&mut chain, s.as_ref()),
                ("exception.chain_truncated", Value::Bool(b)) => fill(&mut truncated, *b),
                ("exception.stacktrace", Value::Str(s)) => fill(&mut stacktrace, s.as_ref()),
                ("code.function.name", Value::Str(s)) => fill(&mut x.function, s.as_ref()),
                ("code.file.path", Value::Str(s)) => fill(&mut x.file, s.as_ref()),
                ("code.line.number", Value::I64(n)) => fill(&mut x.line, *n),
                _ => false,
            };
            if !taken {
                x.rest.push((k.as_ref(), v));
            }
        }
        x.message = if l.message.is_empty() { message.unwrap_or_default() } else { &l.message };
        x.chain = chain.unwrap_or_default();
        x.stacktrace = stacktrace.unwrap_or_default();
        x.new_group = new_group.unwrap_or(false);
        x.escaped = escaped.unwrap_or(false);
        x.chain_truncated = truncated.unwrap_or(false);
        x
    }

    /// `file:line` from the `code.*` attributes, else from the record's own source location.
    fn place(&self, l: &LogEntry) -> Option<String> {
        let (file, line) = if self.file.is_some() || self.line.is_some() {
            (self.file, self.line)
        } else {
            (l.file, l.line.map(i64::from))
        };
        match (file, line) {
            (Some(f), Some(n)) => Some(format!("{f}:{n}")),
            (Some(f), None) => Some(f.to_string()),
            (None, Some(n)) => Some(format!("line {n}")),
            (None, None) => None,
        }
    }
}

/// The most characters of a value, a name or a key the human format prints.
pub(crate) const MAX_VALUE_CHARS: usize = 1024;
/// The most characters of a message (a log record's, an exception's, a cause, a span's error)
/// the human format prints.
pub(crate) const MAX_MESSAGE_CHARS: usize = 4096;

/// Whether the console writes `c` as an escape rather than as itself: C0 controls (tab, CR and LF
/// too), DEL, C1 controls, U+2028/U+2029 (line breaks to some readers) and the bidi embeddings,
/// overrides and isolates, which display text in another order than it is written.
pub(crate) fn must_escape(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `s` as the human format prints it: [`must_escape`] characters escaped, cut after `max`
/// characters with `…[+N bytes]`. Borrowed when there is nothing to change.
pub(crate) fn clean(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max && !s.contains(must_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max) + 16);
    push_clean(s, max, false, &mut out);
    Cow::Owned(out)
}

/// Appends `s` escaped and cut as [`clean`] does; `quoted` also escapes `"` and `\`.
fn push_clean(s: &str, max: usize, quoted: bool, out: &mut String) {
    let mut rest = "";
    for (n, (i, c)) in s.char_indices().enumerate() {
        if n == max {
            rest = &s[i..];
            break;
        }
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '"' | '\\' if quoted => {
                out.push('\\');
                out.push(c);
            }
            c if must_escape(c) && c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if must_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    if !rest.is_empty() {
        let _ = write!(out, "…[+{} bytes]", rest.len());
    }
}

/// Whether a text value or key is printed in quotes: when it is empty, or holds a space, a quote,
/// an `=` or anything escaped (so that where it ends is never in doubt).
fn needs_quotes(s: &str) -> bool {
    s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '=' || must_escape(c))
}

/// A text, quoted and escaped when [`needs_quotes`], else [`clean`]ed.
fn text(s: &str) -> Cow<'_, str> {
    if !needs_quotes(s) {
        return clean(s, MAX_VALUE_CHARS);
    }
    let mut out = String::with_capacity(s.len().min(MAX_VALUE_CHARS) + 2);
    out.push('"');
    push_clean(s, MAX_VALUE_CHARS, true, &mut out);
    out.push('"');
    Cow::Owned(out)
}

/// An attribute key as the human format prints it.
fn key(k: &str) -> Cow<'_, str> {
    text(k)
}

/// An attribute value as the human format prints it: text as [`text`], numbers and booleans as
/// they are.
fn value(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Str(s) => text(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Whether `color: auto` paints: the output is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>: any non-empty value turns colour off).
pub(crate) fn color_auto(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn format_duration(nanos: u64) -> String {
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.3} s", nanos as f64 / 1e9)
    }
}

/// RFC 3339 UTC with milliseconds, from Unix nanoseconds.
pub fn format_time(unix_nanos: u64) -> String {
    let millis = (unix_nanos / 1_000_000) % 1000;
    let (y, m, d, hh, mm, ss) = crate::caller::clock::civil(unix_nanos / 1_000_000_000);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
}

/// A log record as one JSON object (serialised by `serde_json`).
#[derive(serde::Serialize)]
struct JsonLog<'a> {
    time: String,
    level: &'static str,
    target: &'a str,
    message: &'a str,
    fields: JsonFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<String>,
}

/// A span as one JSON object.
#[derive(serde::Serialize)]
struct JsonSpan<'a> {
    span: &'a str,
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    start: String,
    duration_ns: u64,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_message: Option<&'a str>,
    attributes: JsonFields<'a>,
}

/// Attributes as a JSON object, in their order; numbers and booleans stay JSON numbers and
/// booleans (a float that is not finite becomes its text).
struct JsonFields<'a>(&'a [(Cow<'static, str>, Value)]);

impl serde::Serialize for JsonFields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            match v {
                Value::Str(text) => map.serialize_entry(k.as_ref(), text.as_ref())?,
                Value::I64(i) => map.serialize_entry(k.as_ref(), i)?,
                Value::F64(f) if f.is_finite() => map.serialize_entry(k.as_ref(), f)?,
                Value::F64(f) => map.serialize_entry(k.as_ref(), &f.to_string())?,
                Value::Bool(b) => map.serialize_entry(k.as_ref(), b)?,
            }
        }
        map.end()
    }
}

/// serde_json's compact format, which also writes every [`must_escape`] character JSON lets
/// through (DEL, C1, U+2028/U+2029, bidi controls) as `\uXXXX`.
struct InertJson;

impl serde_json::ser::Formatter for InertJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if must_escape(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                // Every such character is in the Basic Multilingual Plane: one `\uXXXX`.
                write!(w, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Appends `value` as one line of JSON.
fn json_line(value: &impl serde::Serialize, out: &mut String) {
    let mut ser = serde_json::Serializer::with_formatter(Vec::new(), InertJson);
    // Serialising strings, numbers and maps with string keys into memory cannot fail, and what
    // serde_json writes is UTF-8.
    if value.serialize(&mut ser).is_ok() {
        if let Ok(line) = String::from_utf8(ser.into_inner()) {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

fn json_log(l: &LogEntry, out: &mut String) {
    let ids = l.trace_id.zip(l.span_id);
    json_line(
        &JsonLog {
            time: format_time(l.time_unix_nanos),
            level: l.level.severity_text(),
            target: l.target,
            message: &l.message,
            fields: JsonFields(&l.attributes),
            trace_id: ids.map(|(t, _)| t.to_string()),
            span_id: ids.map(|(_, s)| s.to_string()),
        },
        out,
    );
}

fn json_span(s: &FinishedSpan, out: &mut String) {
    let (status, status_message) = match &s.status {
        Status::Error(m) => (Some("error"), Some(m.as_str())),
        Status::Ok => (Some("ok"), None),
        Status::Unset => (None, None),
    };
    json_line(
        &JsonSpan {
            span: &s.name,
            trace_id: s.trace_id.to_string(),
            span_id: s.span_id.to_string(),
            parent_span_id: s.parent_span_id.map(|p| p.to_string()),
            start: format_time(s.start_unix_nanos),
            duration_ns: s.duration_nanos(),
            kind: s.kind.as_str(),
            status,
            status_message,
            attributes: JsonFields(&s.attributes),
        },
        out,
    );
}

/// How telemark's rendered stacktraces mark a frame outside the application.
const LIBRARY_MARK: &str = "~ ";

/// The lines of a stacktrace with every run of two or more library frames (marked
/// [`LIBRARY_MARK`]) folded into one line that counts them and names their crates
/// (`… 48 library frames: tokio, std`); a single library frame stays as it is.
fn fold_library_frames(stack: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, out: &mut Vec<String>| {
        match run.len() {
            0 => {}
            1 => out.push(run[0].to_string()),
            n => {
                let mut crates: Vec<&str> = Vec::new();
                for c in run.iter().filter_map(|f| frame_crate(f)) {
                    if !crates.contains(&c) {
                        crates.push(c);
                    }
                }
                let mut line = format!("~ … {n} library frames");
                if !crates.is_empty() {
                    let _ = write!(line, ": {}", crates.join(", "));
                }
                out.push(line);
            }
        }
        run.clear();
    };
    for line in stack.lines().map(str::trim_end) {
        if line.starts_with(LIBRARY_MARK) {
            run.push(line);
        } else {
            flush(&mut run, &mut out);
            out.push(line.to_string());
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The crate of a rendered frame (`~ <u64 as core::ops::Div>::div (core/src/ops/arith.rs:495)`
/// → `core`): the type's crate, else the trait's, else the first component of its file.
fn frame_crate(frame: &str) -> Option<&str> {
    let frame = frame.strip_prefix(LIBRARY_MARK).unwrap_or(frame);
    let (function, file) = match frame.rfind(" (") {
        Some(i) if frame.ends_with(')') => (&frame[..i], Some(&frame[i + 2..frame.len() - 1])),
        _ => (frame, None),
    };
    let is_ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    for part in function.split(" as ") {
        let part = part.trim_start_matches(['<', '&', '*']);
        let part = part.strip_prefix("dyn ").or_else(|| part.strip_prefix("mut ")).unwrap_or(part);
        if let Some((first, _)) = part.split_once("::") {
            if is_ident(first) {
                return Some(first);
            }
        }
    }
    // `tokio-1.54.1/src/runtime/task.rs` → `tokio`.
    let first = file?.split('/').next()?;
    let name = match first.rsplit_once('-') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => name,
        _ => first,
    };
    is_ident(&name.replace('-', "_")).then_some(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// An exception record as `telemark::exceptions::record` exports it, at 2026-11-24T19:40:01.123Z.
    fn exception(attributes: Vec<(&'static str, Value)>) -> LogEntry {
        LogEntry {
            time_unix_nanos: 1_795_549_201_123_456_000,
            level: crate::Level::Error,
            target: EXCEPTION_TARGET,
            message: "query 17 timed out".to_string(),
            attributes: attributes.into_iter().map(|(k, v)| (Cow::Borrowed(k), v)).collect(),
            trace_id: Some(TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)),
            span_id: Some(SpanId(0x00f0_67aa_0ba9_02b7)),
            file: Some("src/record.rs"),
            line: Some(7),
            dropped_attributes: 0,
        }
    }

    /// The attributes of a full record, first of its group when `new_group`.
    fn full(new_group: bool) -> Vec<(&'static str, Value)> {
        vec![
            ("exception.type", Value::from("app::DbError::Timeout")),
            ("exception.message", Value::from("query 17 timed out")),
            ("exception.fingerprint", Value::from("3f2a91c04d5e6b7a")),
            ("exception.group_count", Value::I64(12)),
            ("exception.new_group", Value::Bool(new_group)),
            ("exception.escaped", Value::Bool(false)),
            ("exception.chain", Value::from("connection reset\nbroken pipe")),
            ("exception.chain_truncated", Value::Bool(true)),
            ("exception.stacktrace", Value::from("   0: app::db::query\n   1: app::handler\n   2: main")),
            ("code.function.name", Value::from("app::handler")),
            ("code.file.path", Value::from("src/main.rs")),
            ("code.line.number", Value::I64(42)),
            ("http.route", Value::from("/orders/{id}")),
        ]
    }

    /// What the human format prints for `logs`, without colour.
    fn human(logs: &[LogEntry]) -> String {
        Console::new(ConsoleFormat::Human, Output::Stdout, false).render(&[], logs)
    }

    #[test]
    fn time_format() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_700_000_000_123_000_000), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_time(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn json_lines_are_json_whatever_the_text() {
        let mut l = exception(Vec::new());
        l.target = "app";
        l.message = "a\"b\\c\n\u{1}".to_string();
        l.attributes = vec![("ratio".into(), Value::F64(f64::NAN)), ("n".into(), Value::I64(3))];
        let mut out = String::new();
        json_log(&l, &mut out);
        assert!(out.ends_with('\n') && out.matches('\n').count() == 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["message"], "a\"b\\c\n\u{1}");
        assert_eq!(v["fields"]["ratio"], "NaN");
        assert_eq!(v["fields"]["n"], 3);
    }

    #[test]
    fn exception_prints_as_a_block() {
        let text = human(&[exception(full(false))]);
        let expected = "\
2026-11-24T19:40:01.123Z ERROR exception app::DbError::Timeout: query 17 timed out
    caused by: connection reset
    caused by: broken pipe (chain truncated)
    at app::handler (src/main.rs:42)
    stack:
         0: app::db::query
         1: app::handler
         2: main
    group 3f2a91c04d5e6b7a (seen 12 times) http.route=/orders/{id}  \
trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
";
        assert_eq!(text, expected);
        assert!(!text.contains("new exception group"));
    }

    #[test]
    fn runs_of_library_frames_fold_into_one_line_and_the_mark_is_explained() {
        let stack = [
            "  app::db::query (src/db.rs:12:5)",
            "~ telemark_runtime::call_once (runtime/src/lib.rs:448:5)",
            "  app::handler (src/main.rs:40:9)",
            "~ <core::future::poll_fn::PollFn<F> as core::future::future::Future>::poll (core/src/future/poll_fn.rs:151:9)",
            "~ tokio::runtime::task::core::Core<T,S>::poll (tokio-1.54.1/src/runtime/task/core.rs:374:24)",
            "~ <u64 as core::ops::arith::Div>::div (core/src/ops/arith.rs:495:45)",
            "~ std::thread::local::LocalKey<T>::with (std/src/thread/local.rs:315:12)",
            "~ <unknown> (hyper-util-0.1.10/src/rt/tokio.rs:1:1)",
            "  app::main (src/main.rs:7:5)",
        ]
        .join("\n");
        let mut attrs = full(false);
        attrs.retain(|(k, _)| *k != "exception.stacktrace");
        attrs.push(("exception.stacktrace", Value::from(stack)));
        let text = human(&[exception(attrs)]);
        let expected = "    stack (innermost call first; ~ marks a frame in a library):
        app::db::query (src/db.rs:12:5)
      ~ telemark_runtime::call_once (runtime/src/lib.rs:448:5)
        app::handler (src/main.rs:40:9)
      ~ … 5 library frames: core, tokio, std, hyper-util
        app::main (src/main.rs:7:5)
";
        assert!(text.contains(expected), "{text}");
    }

    #[test]
    fn a_new_group_is_announced_before_its_block() {
        let text = human(&[exception(full(true))]);
        let (announcement, block) = text.split_once('\n').unwrap();
        assert_eq!(
            announcement,
            "new exception group 3f2a91c04d5e6b7a: app::DbError::Timeout at app::handler"
        );
        assert!(block.starts_with("2026-11-24T19:40:01.123Z ERROR exception app::DbError::Timeout: query 17"));
        assert_eq!(text.matches("new exception group").count(), 1);
        // Painted when colour is on.
        let painted =
            Console::new(ConsoleFormat::Human, Output::Stdout, true).render(&[], &[exception(full(true))]);
        assert!(painted.starts_with("\x1b[1;35mnew exception group 3f2a91c04d5e6b7a"), "{painted}");
    }

    #[test]
    fn a_panic_says_so() {
        let text = human(&[exception(vec![
            ("exception.type", Value::from("panic")),
            ("exception.message", Value::from("query 17 timed out")),
            ("exception.fingerprint", Value::from("00000000000000aa")),
            ("exception.group_count", Value::I64(1)),
            ("exception.new_group", Value::Bool(true)),
            ("exception.escaped", Value::Bool(true)),
            ("code.file.path", Value::from("src/main.rs")),
            ("code.line.number", Value::I64(9)),
        ])]);
        let expected = "\
new exception group 00000000000000aa: panic at src/main.rs:9
2026-11-24T19:40:01.123Z ERROR panic: query 17 timed out
    at src/main.rs:9
    group 00000000000000aa (seen once)  trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
";
        assert_eq!(text, expected);
        let typed = human(&[exception(vec![
            ("exception.type", Value::from("app::Oops")),
            ("exception.escaped", Value::Bool(true)),
        ])]);
        assert!(typed.contains(" ERROR panic app::Oops: query 17 timed out\n"), "{typed}");
    }

    #[test]
    fn a_bare_exception_record_still_reads() {
        let mut l = exception(vec![("exception.type", Value::from("E"))]);
        l.trace_id = None;
        l.span_id = None;
        // No `code.*` attributes: where it was recorded.
        assert_eq!(
            human(&[l]),
            "2026-11-24T19:40:01.123Z ERROR exception E: query 17 timed out\n    at src/record.rs:7\n"
        );
    }

    #[test]
    fn nothing_is_lost() {
        let mut l = exception(vec![
            ("exception.message", Value::from("something else")),
            ("exception.group_count", Value::from("twelve")),
            ("exception.type", Value::from("A")),
            ("exception.type", Value::from("B")),
            ("user.id", Value::I64(7)),
            ("note", Value::from("two words")),
        ]);
        l.trace_id = None;
        let text = human(&[l]);
        assert!(text.contains(" ERROR exception A: query 17 timed out\n"), "{text}");
        assert!(
            text.ends_with(
                "    exception.message=\"something else\" exception.group_count=twelve exception.type=B \
             user.id=7 note=\"two words\"\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn multi_line_messages_stay_on_the_head_line_and_empty_truncated_chains_in_the_block() {
        let mut l = exception(vec![("exception.chain_truncated", Value::Bool(true))]);
        l.message = "first\nsecond".to_string();
        l.file = None;
        l.line = None;
        l.trace_id = None;
        assert_eq!(
            human(&[l]),
            "2026-11-24T19:40:01.123Z ERROR exception: first\\nsecond\n    caused by: … (chain truncated)\n"
        );
    }

    #[test]
    fn other_logs_and_json_are_unchanged() {
        let mut l = exception(vec![("k", Value::from("v"))]);
        l.target = "app::db";
        assert_eq!(
            human(&[l.clone()]),
            "2026-11-24T19:40:01.123Z ERROR app::db: query 17 timed out k=v  \
             trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7\n"
        );
        let e = exception(full(true));
        let json = Console::new(ConsoleFormat::Json, Output::Stdout, false).render(&[], &[e]);
        assert_eq!(json.lines().count(), 1);
        assert!(json.starts_with(
            "{\"time\":\"2026-11-24T19:40:01.123Z\",\"level\":\"ERROR\",\"target\":\"telemark::exception\""
        ));
        assert!(json.contains("\"exception.chain\":\"connection reset\\nbroken pipe\""), "{json}");
        assert!(json.contains("\"http.route\":\"/orders/{id}\""), "{json}");
    }

    /// The hostile texts of the probes: line breaks that would start a forged record, terminal
    /// controls (clear screen, set title), NUL, C1 (a one-byte CSI), the Unicode line separator
    /// and bidi overrides, and quotes meant to end a quoted value early.
    const HOSTILE: [&str; 9] = [
        "a\r\nINFO forged line",
        "\x1b[2J",
        "\x1b]0;title\x07",
        "\0",
        "\u{2028}",
        "\u{202e}",
        "\u{9b}31m",
        "\t\x7f\u{85}\u{2029}\u{202a}\u{2066}\u{2069}\x0b\x0c\x08",
        "\" forged=\"1\\",
    ];

    /// A span with one event, at a fixed time.
    fn span(name: &str) -> FinishedSpan {
        FinishedSpan {
            trace_id: TraceId(7),
            span_id: SpanId(1),
            parent_span_id: None,
            parent_is_remote: false,
            name: Cow::Owned(name.to_string()),
            kind: crate::SpanKind::Internal,
            start_unix_nanos: 1_000,
            end_unix_nanos: 2_000,
            code: Default::default(),
            attributes: vec![("user".into(), Value::from("ann"))],
            dropped_attributes: 0,
            dropped_events: 0,
            events: vec![crate::caller::value::Event {
                name: "retry".into(),
                time_unix_nanos: 1_500,
                attributes: vec![("attempt".into(), Value::I64(2))],
            }],
            status: Status::Error("failed".into()),
            trace_state: None,
        }
    }

    /// Every place the console prints data, each filled with `p`: (where, the logs, the spans,
    /// whether the JSON format carries that place).
    #[allow(clippy::type_complexity)]
    fn places(p: &str) -> Vec<(&'static str, Vec<LogEntry>, Vec<FinishedSpan>, bool)> {
        let owned = |s: &str| Cow::<'static, str>::Owned(s.to_string());
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        let log = |f: &dyn Fn(&mut LogEntry)| {
            let mut l = exception(Vec::new());
            l.target = "app";
            f(&mut l);
            vec![l]
        };
        let exc = |k: &'static str, v: &str| {
            let mut attrs = full(true);
            attrs.retain(|(key, _)| *key != k);
            let mut l = exception(attrs);
            l.attributes.push((k.into(), Value::Str(owned(v))));
            vec![l]
        };
        let sp = |f: &dyn Fn(&mut FinishedSpan)| {
            let mut s = span("handle");
            f(&mut s);
            vec![s]
        };
        // A frame holds no line break: frames are read line by line from std's backtrace text.
        let frame = p.replace(['\n', '\r'], "");
        vec![
            ("log message", log(&|l| l.message = p.to_string()), vec![], true),
            ("log target", log(&|l| l.target = leak(p)), vec![], true),
            ("log key", log(&|l| l.attributes = vec![(owned(p), Value::from("v"))]), vec![], true),
            ("log value", log(&|l| l.attributes = vec![("k".into(), Value::Str(owned(p)))]), vec![], true),
            (
                "exception message",
                {
                    let mut l = exc("exception.message", p);
                    l[0].message = p.to_string();
                    l
                },
                vec![],
                true,
            ),
            (
                "exception.message only",
                {
                    let mut l = exc("exception.message", p);
                    l[0].message = String::new();
                    l
                },
                vec![],
                true,
            ),
            ("exception type", exc("exception.type", p), vec![], true),
            ("exception cause", exc("exception.chain", &chain_text_of(p)), vec![], true),
            (
                "exception frame",
                exc("exception.stacktrace", &format!("   0: {frame}\n   1: main")),
                vec![],
                true,
            ),
            ("exception function", exc("code.function.name", p), vec![], true),
            ("exception file", exc("code.file.path", p), vec![], true),
            ("exception fingerprint", exc("exception.fingerprint", p), vec![], true),
            (
                "exception other key",
                exc("exception.other", "x")
                    .into_iter()
                    .map(|mut l| {
                        l.attributes.push((owned(p), Value::from("v")));
                        l
                    })
                    .collect(),
                vec![],
                true,
            ),
            ("exception other value", exc("http.route", p), vec![], true),
            ("span name", vec![], sp(&|s| s.name = owned(p)), true),
            ("span key", vec![], sp(&|s| s.attributes = vec![(owned(p), Value::from("v"))]), true),
            ("span value", vec![], sp(&|s| s.attributes = vec![("k".into(), Value::Str(owned(p)))]), true),
            ("span error", vec![], sp(&|s| s.status = Status::Error(p.to_string())), true),
            ("event name", vec![], sp(&|s| s.events[0].name = owned(p)), false),
            (
                "event key",
                vec![],
                sp(&|s| s.events[0].attributes = vec![(owned(p), Value::from("v"))]),
                false,
            ),
            (
                "event value",
                vec![],
                sp(&|s| s.events[0].attributes = vec![("k".into(), Value::Str(owned(p)))]),
                false,
            ),
        ]
    }

    /// A chain of two causes, the first `p`, as `exception.chain` holds it.
    fn chain_text_of(p: &str) -> String {
        format!("{}\ninner", p.replace('\n', "\\n").replace('\r', "\\r"))
    }

    /// The probe text for `hostile`: inside other text, so that what is around it shows too.
    fn probe(hostile: &str) -> String {
        format!("pre{hostile}post")
    }

    /// `text` without the colour codes telemark itself writes.
    fn unpainted(text: &str) -> String {
        let mut t = text.to_string();
        for code in ["1;35", "1", "2", "31", "32", "33", "0"] {
            t = t.replace(&format!("\x1b[{code}m"), "");
        }
        t
    }

    #[test]
    fn no_data_forges_a_line_or_reaches_the_terminal() {
        let benign = places("pre-post");
        let mut probes = 0;
        for hostile in HOSTILE {
            let p = probe(hostile);
            for ((place, logs, spans, in_json), (_, b_logs, b_spans, _)) in
                places(&p).into_iter().zip(&benign)
            {
                // Human, with and without colour: as many lines as the benign text gives, and no
                // control character but the line ends (and, painted, telemark's own colour codes).
                let expected = human_render(b_logs, b_spans, false).lines().count();
                for color in [false, true] {
                    probes += 1;
                    let out = human_render(&logs, &spans, color);
                    let plain = if color { unpainted(&out) } else { out.clone() };
                    assert_eq!(out.lines().count(), expected, "{place} {hostile:?} color={color}:\n{out}");
                    assert!(out.ends_with('\n'), "{place} {hostile:?}");
                    let bad: Vec<char> = plain.chars().filter(|c| *c != '\n' && must_escape(*c)).collect();
                    assert!(bad.is_empty(), "{place} {hostile:?} color={color}: {bad:?} in\n{out}");
                    if !color {
                        assert!(out.contains("pre") && out.contains("post"), "{place}: {out}");
                    }
                }
                // JSON: one line per record, each a JSON object holding the original text.
                probes += 1;
                let json = Console::new(ConsoleFormat::Json, Output::Stdout, false).render(&spans, &logs);
                assert_eq!(json.lines().count(), logs.len() + spans.len(), "{place} {hostile:?}: {json}");
                let bad: Vec<char> = json.chars().filter(|c| *c != '\n' && must_escape(*c)).collect();
                assert!(bad.is_empty(), "JSON {place} {hostile:?}: {bad:?} in {json}");
                let mut strings = Vec::new();
                for line in json.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert!(v.is_object());
                    all_strings(&v, &mut strings);
                }
                if in_json {
                    // The frame and the cause as they were recorded (see `places`).
                    let want = match place {
                        "exception frame" => p.replace(['\n', '\r'], ""),
                        "exception cause" => chain_text_of(&p),
                        _ => p.clone(),
                    };
                    assert!(
                        strings.iter().any(|s| s.contains(want.as_str())),
                        "JSON {place} {hostile:?}: {json}"
                    );
                }
            }
        }
        // 9 texts × 21 places × (human, painted, JSON).
        assert_eq!(probes, 9 * 21 * 3);
    }

    /// The human format of these records, coloured or not.
    fn human_render(logs: &[LogEntry], spans: &[FinishedSpan], color: bool) -> String {
        Console::new(ConsoleFormat::Human, Output::Stdout, color).render(spans, logs)
    }

    /// Every key and string value in `v`.
    fn all_strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    out.push(k.clone());
                    all_strings(x, out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_escapes_read_as_documented() {
        assert_eq!(
            clean("a\r\nb\x1b[2J\x1b]0;t\x07\0\u{2028}\u{202e}\u{9b}\x7f\t\u{85}\\é", 100),
            r"a\r\nb\x1b[2J\x1b]0;t\x07\x00\u{2028}\u{202e}\u{9b}\x7f\t\u{85}\é"
        );
        assert!(matches!(clean("plain text, é ✓", 100), Cow::Borrowed(_)));
        // Values: quoted when they hold a space, a quote, an `=` or an escape; inside quotes `"`
        // and `\` are escaped too, so the value ends where it seems to.
        assert_eq!(value(&Value::from("a\" forged=\"1\\")), r#""a\" forged=\"1\\""#);
        assert_eq!(value(&Value::from("\x1b[2J")), r#""\x1b[2J""#);
        assert_eq!(value(&Value::from("k=v")), r#""k=v""#);
        assert_eq!(value(&Value::from("C:\\dir")), r"C:\dir");
        assert_eq!(key("user.id"), "user.id");
        assert_eq!(key("a b"), r#""a b""#);
        let mut l = exception(vec![("k\nINFO x", Value::from("v\r\nINFO forged line"))]);
        l.target = "app";
        l.message = "m\x1b]0;title\x07".into();
        l.trace_id = None;
        assert_eq!(
            human(&[l]),
            "2026-11-24T19:40:01.123Z ERROR app: m\\x1b]0;title\\x07 \"k\\nINFO x\"=\"v\\r\\nINFO forged line\"\n"
        );
    }

    #[test]
    fn json_escapes_what_json_lets_through() {
        let mut l = exception(vec![("k\u{2028}", Value::from("\u{202e}\u{85}\x7f\x1b"))]);
        l.target = "app";
        l.message = "\u{2029}\u{9b}".into();
        let json = Console::new(ConsoleFormat::Json, Output::Stdout, false).render(&[], &[l]);
        assert!(json.contains(r#""message":"\u2029\u009b""#), "{json}");
        assert!(json.contains(r#""k\u2028":"\u202e\u0085\u007f\u001b""#), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["message"], "\u{2029}\u{9b}");
        assert_eq!(v["fields"]["k\u{2028}"], "\u{202e}\u{85}\x7f\x1b");
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary_and_marked() {
        let long = "é".repeat(2000);
        let mut l = exception(vec![("k", Value::from(long.clone()))]);
        l.target = "app";
        l.message = "x".repeat(5000);
        l.trace_id = None;
        let text = human(&[l.clone()]);
        assert_eq!(text.lines().count(), 1);
        let message = format!(" app: {}…[+904 bytes] ", "x".repeat(MAX_MESSAGE_CHARS));
        assert!(text.contains(&message), "{text}");
        assert!(text.ends_with(&format!(" k={}…[+1952 bytes]\n", "é".repeat(MAX_VALUE_CHARS))), "{text}");
        // Quoted: the mark inside the quotes; escapes count as the one character they stand for.
        assert_eq!(
            value(&Value::from(format!("{}\n{}", " ".repeat(1023), "tail"))),
            format!("\"{}\\n…[+4 bytes]\"", " ".repeat(1023))
        );
        // A span name, an exception frame.
        let s = span(&"n".repeat(3000));
        let tree = human_render(&[], &[s], false);
        assert!(tree.contains(&format!("└─ {}…[+1976 bytes] ", "n".repeat(1024))), "{tree}");
        // Not cut in JSON.
        let json = Console::new(ConsoleFormat::Json, Output::Stdout, false).render(&[], &[l]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["fields"]["k"], long.as_str());
        assert_eq!(v["message"].as_str().map(str::len), Some(5000));
    }

    #[test]
    fn colour_follows_the_terminal_and_no_color() {
        use std::ffi::OsStr;
        assert!(color_auto(true, None));
        assert!(color_auto(true, Some(OsStr::new(""))), "an empty NO_COLOR is unset (no-color.org)");
        assert!(!color_auto(true, Some(OsStr::new("1"))));
        assert!(!color_auto(true, Some(OsStr::new("false"))), "any non-empty value");
        assert!(!color_auto(false, None));
    }
}
