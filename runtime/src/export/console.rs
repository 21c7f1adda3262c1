//! The console exporter: a span tree per finished trace and one line per log record, in a
//! human format or as JSON lines. It is the default when no OTLP endpoint is configured.

use super::{ExportError, Exporter, FinishedSpan, LogEntry};
use crate::context::Status;
use crate::ids::{SpanId, TraceId};
use crate::value::Value;
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
        let code = match l.level {
            crate::Level::Error => "31",
            crate::Level::Warn => "33",
            crate::Level::Info => "32",
            _ => "2",
        };
        self.paint(code, &format!("{:>5}", l.level.severity_text()), out);
        let _ = write!(out, " {}: {}", l.target, l.message);
        for (k, v) in &l.attributes {
            let _ = write!(out, " {k}={}", quote_if_needed(v));
        }
        if let (Some(t), Some(s)) = (l.trace_id, l.span_id) {
            let mut ids = String::new();
            let _ = write!(ids, "  trace_id={t} span_id={s}");
            self.paint("2", &ids, out);
        }
        out.push('\n');
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
        self.paint("1", &s.name, out);
        if s.kind != crate::SpanKind::Internal {
            let _ = write!(out, " [{}]", s.kind.as_str());
        }
        let _ = write!(out, " {}", format_duration(s.duration_nanos()));
        for (k, v) in &s.attributes {
            if !k.starts_with("code.") {
                let _ = write!(out, "  {k}={}", quote_if_needed(v));
            }
        }
        match &s.status {
            Status::Error(msg) => {
                out.push_str("  ");
                self.paint("31", &format!("error: {msg}"), out);
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
            let _ = write!(out, "{inner}{}  · {}", if kids.is_empty() { "" } else { "│" }, e.name);
            for (k, v) in &e.attributes {
                let _ = write!(out, " {k}={}", quote_if_needed(v));
            }
            out.push('\n');
        }
        let n = kids.len();
        for (k, c) in kids.into_iter().enumerate() {
            self.human_node(spans, children, c, &inner, k + 1 == n, out, depth + 1);
        }
    }
}

impl Exporter for Console {
    fn export(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> Result<(), ExportError> {
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
                    self.human_log(l, &mut out);
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
        if !out.is_empty() {
            self.write(&out);
        }
        Ok(())
    }

    fn shutdown(&mut self, _deadline: std::time::Instant) {
        // Print what never got its root (a trace still open at exit).
        let mut out = String::new();
        let pending: Vec<_> = self.pending.drain().collect();
        for (t, spans) in pending {
            self.human_tree(t, spans, &mut out);
        }
        self.buffered = 0;
        if !out.is_empty() {
            self.write(&out);
        }
    }
}

fn quote_if_needed(v: &Value) -> String {
    match v {
        Value::Str(s) if s.is_empty() || s.contains(char::is_whitespace) || s.contains('"') => {
            format!("{s:?}")
        }
        other => other.to_string(),
    }
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
pub(crate) fn format_time(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let millis = (unix_nanos / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem / 60) % 60, rem % 60)
}

pub(crate) fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::Str(s) => json_str(s, out),
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::F64(f) if f.is_finite() => {
            let _ = write!(out, "{f}");
        }
        Value::F64(f) => json_str(&f.to_string(), out),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
    }
}

fn json_fields<'a>(fields: impl Iterator<Item = (&'a str, &'a Value)>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(k, out);
        out.push(':');
        json_value(v, out);
    }
    out.push('}');
}

fn json_log(l: &LogEntry, out: &mut String) {
    out.push_str("{\"time\":");
    json_str(&format_time(l.time_unix_nanos), out);
    let _ = write!(out, ",\"level\":\"{}\",\"target\":", l.level.severity_text());
    json_str(l.target, out);
    out.push_str(",\"message\":");
    json_str(&l.message, out);
    out.push_str(",\"fields\":");
    json_fields(l.attributes.iter().map(|(k, v)| (k.as_ref(), v)), out);
    if let (Some(t), Some(s)) = (l.trace_id, l.span_id) {
        let _ = write!(out, ",\"trace_id\":\"{t}\",\"span_id\":\"{s}\"");
    }
    out.push_str("}\n");
}

fn json_span(s: &FinishedSpan, out: &mut String) {
    let _ = write!(out, "{{\"span\":");
    json_str(&s.name, out);
    let _ = write!(out, ",\"trace_id\":\"{}\",\"span_id\":\"{}\"", s.trace_id, s.span_id);
    if let Some(p) = s.parent_span_id {
        let _ = write!(out, ",\"parent_span_id\":\"{p}\"");
    }
    out.push_str(",\"start\":");
    json_str(&format_time(s.start_unix_nanos), out);
    let _ = write!(out, ",\"duration_ns\":{},\"kind\":\"{}\"", s.duration_nanos(), s.kind.as_str());
    match &s.status {
        Status::Error(m) => {
            out.push_str(",\"status\":\"error\",\"status_message\":");
            json_str(m, out);
        }
        Status::Ok => out.push_str(",\"status\":\"ok\""),
        Status::Unset => {}
    }
    out.push_str(",\"attributes\":");
    json_fields(s.attributes.iter().map(|(k, v)| (k.as_ref(), v)), out);
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_700_000_000_123_000_000), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_time(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn json_escapes() {
        let mut s = String::new();
        json_str("a\"b\\c\n\u{1}", &mut s);
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }
}
