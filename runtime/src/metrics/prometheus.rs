//! The Prometheus text exposition (format 0.0.4) of the per-function metrics, and the scrape
//! endpoint `metrics.prometheus.listen` serves it on, from a thread telemark owns.

use super::{exception_counts, snapshot, FunctionMetrics, BOUNDS_NS};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// The call counter.
pub const CALLS: &str = "telemark_function_calls_total";
/// The latency histogram.
pub const DURATION: &str = "telemark_function_duration_seconds";
/// The exception counter.
pub const EXCEPTIONS: &str = "telemark_exceptions_total";

/// A label value with `\`, `"` and newlines escaped (also a PromQL string's content).
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A bucket bound in seconds as Prometheus writes it (`0.005`, `1`, `100`).
pub fn le(bound_ns: u64) -> String {
    let secs = bound_ns as f64 / 1e9;
    let s = format!("{secs:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The module of `module::function` (for exceptions outside instrumented functions).
fn module_of(function: &str) -> &str {
    function.rsplit_once("::").map_or(function, |(m, _)| m)
}

/// Renders `metrics` and the per-function exception counts in the text format.
pub fn render(metrics: &[FunctionMetrics], exceptions: &[(String, u64)]) -> String {
    let mut out = String::new();
    out.push_str(&format!("# HELP {CALLS} Calls of instrumented functions, by how they ended.\n"));
    out.push_str(&format!("# TYPE {CALLS} counter\n"));
    for m in metrics {
        for (k, outcome) in ["ok", "error", "panic"].iter().enumerate() {
            let _ = writeln!(
                out,
                "{CALLS}{{function=\"{}\",module=\"{}\",outcome=\"{outcome}\"}} {}",
                escape(m.function),
                escape(m.module),
                m.calls[k]
            );
        }
    }
    out.push_str(&format!("# HELP {DURATION} Latency of instrumented functions.\n"));
    out.push_str(&format!("# TYPE {DURATION} histogram\n"));
    for m in metrics {
        let labels = format!("function=\"{}\",module=\"{}\"", escape(m.function), escape(m.module));
        let mut cumulative = 0;
        for (i, b) in BOUNDS_NS.iter().enumerate() {
            cumulative += m.buckets[i];
            let _ = writeln!(out, "{DURATION}_bucket{{{labels},le=\"{}\"}} {cumulative}", le(*b));
        }
        cumulative += m.buckets[BOUNDS_NS.len()];
        let _ = writeln!(out, "{DURATION}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{DURATION}_sum{{{labels}}} {}", m.sum.as_secs_f64());
        let _ = writeln!(out, "{DURATION}_count{{{labels}}} {cumulative}");
    }
    out.push_str(&format!("# HELP {EXCEPTIONS} Exceptions captured, by the function they happened in.\n"));
    out.push_str(&format!("# TYPE {EXCEPTIONS} counter\n"));
    for (function, n) in exceptions {
        let _ = writeln!(
            out,
            "{EXCEPTIONS}{{function=\"{}\",module=\"{}\"}} {n}",
            escape(function),
            escape(module_of(function))
        );
    }
    out
}

/// Appends telemark's own metrics (what the exporter delivered, dropped and failed, its queue and
/// its request durations; names in `crate::stats::own`), as Prometheus translates OpenTelemetry
/// names: `otel_sdk_exporter_span_exported_total{error_type="queue_full"}`.
pub(crate) fn render_own(out: &mut String, stats: &crate::stats::Stats) {
    use crate::stats::{export_durations, own, Kind, EXPORT_BOUNDS_MS, EXPORT_DURATION};
    for m in own(stats) {
        let kind = if m.kind == Kind::Counter { "counter" } else { "gauge" };
        let _ = writeln!(out, "# HELP {} {}", m.prometheus, m.description);
        let _ = writeln!(out, "# TYPE {} {kind}", m.prometheus);
        for (attribute, n) in &m.points {
            match attribute {
                Some(v) => {
                    let _ = writeln!(out, "{}{{error_type=\"{v}\"}} {n}", m.prometheus);
                }
                None => {
                    let _ = writeln!(out, "{} {n}", m.prometheus);
                }
            }
        }
    }
    let name = EXPORT_DURATION.1;
    let _ =
        writeln!(out, "# HELP {name} Duration of export requests (each attempt; error_type: why it failed).");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (error, buckets, sum_ns) in export_durations() {
        let (labels, sep) = match error {
            Some(e) => (format!("error_type=\"{e}\""), ","),
            None => (String::new(), ""),
        };
        let mut cumulative = 0;
        for (i, ms) in EXPORT_BOUNDS_MS.iter().enumerate() {
            cumulative += buckets[i];
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}", le(ms * 1_000_000));
        }
        cumulative += buckets[EXPORT_BOUNDS_MS.len()];
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}");
        let braces = |l: &str| if l.is_empty() { String::new() } else { format!("{{{l}}}") };
        let _ = writeln!(out, "{name}_sum{} {}", braces(&labels), sum_ns as f64 / 1e9);
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(&labels));
    }
}

/// The scrape endpoint: answers `GET /metrics` (and `/`) until stopped.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` and starts serving.
    pub(crate) fn start(listen: &str) -> std::io::Result<Server> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new().name("telemark-prometheus".into()).spawn(move || {
            crate::caller::thread::mark_internal();
            for conn in listener.incoming() {
                if s.load(Relaxed) {
                    return;
                }
                if let Ok(conn) = conn {
                    let _ = serve(conn);
                }
            }
        })?;
        Ok(Server { addr, stop, thread: Some(thread) })
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request; a slow or broken client costs at most its timeouts.
fn serve(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 4096];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics" | "/") => {
            let mut body = render(&snapshot(), &exception_counts());
            render_own(&mut body, &crate::stats::snapshot());
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        ("GET", _) => ("404 Not Found", "text/plain", "not found; the metrics are at /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    if method != "HEAD" {
        conn.write_all(body.as_bytes())?;
    }
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_written_as_prometheus_does() {
        assert_eq!(le(1_000), "0.000001");
        assert_eq!(le(200_000_000), "0.2");
        assert_eq!(le(1_000_000_000), "1");
        assert_eq!(le(100_000_000_000), "100");
    }
}
