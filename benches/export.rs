//! OTLP export, side by side: what it costs telemark, the OpenTelemetry SDK (its batch span
//! processor and opentelemetry-otlp) and fastrace (with fastrace-opentelemetry) to deliver spans
//! over OTLP/gRPC and OTLP/HTTP (protobuf) to a receiver on 127.0.0.1, and how many they deliver;
//! and the same for log records, telemark against the SDK (fastrace has no OTLP log exporter).
//!
//! Spans: every library records the same span: a root span named `work` around a trivial function,
//! with the three attributes telemark's `#[traced]` records by default (`code.function.name`,
//! `code.file.path`, `code.line.number`, same values). fastrace makes a root span per call, not
//! children in a shared root: a call of a top-level function is a trace of its own in telemark and
//! in the SDK, so the spans on the wire are then the same shape (no parent span id, one trace id
//! each). fastrace properties are strings, so its `code.line.number` is a string, not an int.
//!
//! Logs: the producer calls `tracing::info!(n = x, "work")` outside any span (so no trace context).
//! telemark: its own `tracing` subscriber (installed by `telemark::init`) makes a log record with
//! the attributes `n`, `code.file.path`, `code.line.number`, body `work`, scope = the target.
//! The SDK: opentelemetry-appender-tracing's `OpenTelemetryTracingBridge` as the one layer of a
//! `tracing_subscriber` registry (level INFO, the HTTP/gRPC crates' own events off so the exporter
//! does not log itself), over an `SdkLoggerProvider` with the batch log processor (its defaults,
//! OTEL_BLRP_* from the environment) and opentelemetry-otlp's `LogExporter`. The bridge records
//! the code location only with its `experimental_metadata_attributes` feature, and then under the
//! old names (`code.filepath`, `code.lineno`, plus `code.namespace` and `code.filename`); so, as
//! the SDK's tracer is given telemark's span attributes by hand, the SDK's call is
//! `tracing::info!(n = x, code.file.path = file!(), code.line.number = line!(), "work")` and the
//! records carry the same attributes. The SDK adds what its bridge always sets: the event name
//! (`event <file>:<line>`, the `tracing` callsite's name); the first record of each library is
//! shown decoded.
//!
//! Each case (signal × library × protocol × mode) runs in a fresh child process (this binary
//! re-executed with `--case <signal> <library> <protocol> <mode>`), so peak RSS and CPU are that
//! library's alone; the receiver runs in the parent, so its CPU is not counted against the
//! exporter. Modes:
//! - `flat`: 2 producer threads (the machine has 2 cores) make spans (or log records) as fast as
//!   they can for D s;
//! - `paced`: 1 producer thread makes 200,000 spans (or log records)/s for D s (a spin/yield loop
//!   on the monotonic clock; sleeping is too coarse at 5 µs per record).
//!
//! After producing, the child flushes and shuts the library down (bounded: 30 s), then reports.
//! Measured: records produced (counted by the producers), records delivered (counted by the
//! receiver), lost %, exporter CPU per delivered record (the child's CPU from just before producing
//! to the end of the flush, minus the producer threads' own CPU — their whole lives, thread exit
//! included, read with CLOCK_THREAD_CPUTIME_ID inside them — and the RSS watchdog's), delivered
//! records per second of exporter CPU, request body bytes per record, the child's peak RSS (VmHWM)
//! and the receiver's CPU (the parent's CPU over the case: if it nears 100 % of its one worker, the
//! receiver was the limit). The producers' CPU (not charged to the exporter) includes making the
//! record on the caller's thread: for logs, the `tracing` dispatch, the subscriber's `on_event` and
//! the hand-over (the SDK's bridge builds its `SdkLogRecord` there and sends it to the batch
//! processor's channel; telemark records the fields into its per-thread buffer).
//!
//! The receiver is raw hyper 1 (HTTP/1.1 and HTTP/2, one tokio worker): it reads each body, strips
//! the gRPC frames, and counts records by walking the protobuf wire format
//! (ExportTraceServiceRequest → resource_spans → scope_spans → spans; ExportLogsServiceRequest →
//! resource_logs → scope_logs → log_records: the same field numbers), skipping everything else; the
//! walker is checked at startup against requests encoded with opentelemetry-proto's types. A case
//! counts only its own signal's requests (`/v1/traces` and `TraceService/Export`, or `/v1/logs`
//! and `LogsService/Export`); other requests are answered and counted as "other". The answer is an
//! empty Export*ServiceResponse (an empty message: the same bytes for both signals). The first
//! record of each case is decoded in full with its scope and shown, so the per-record content can
//! be compared.
//!
//! `cargo bench -p telemark-benches --bench export` runs every case for 5 s (about 3 minutes) and
//! writes the report to `target/telemark-bench/export.md` too; words after `--` filter the cases by
//! their id `<signal>/<library>/<protocol>/<mode>` (`-- logs`, `-- grpc`, `-- spans/fastrace/http`).
//! Without `--bench` (`cargo test --release -p telemark-benches --bench export`) it is a smoke run:
//! 0.2 s, paced, once per signal, library and protocol, failing only when a library delivered
//! nothing of a signal.
//!
//! Knobs (environment; the children inherit the whole environment unchanged, so OTEL_BSP_* and
//! OTEL_BLRP_* for the SDK, OTEL_EXPORTER_OTLP_* for all three, and TELEMARK_CONFIG (a YAML file
//! with `export:` settings) or any other variable telemark reads through `Config::from_env` apply):
//! - `EXPORT_BENCH_SECS` (D; default 5, smoke 0.2), `EXPORT_BENCH_RATE` (paced records/s, 200000),
//!   `EXPORT_BENCH_PRODUCERS` (flat-out threads, 2), `EXPORT_BENCH_FLUSH_SECS` (bound on the flush
//!   and shutdown, 30), `EXPORT_BENCH_RSS_CAP_MB` (a child whose RSS passes this stops producing
//!   early and says so, 3072: fastrace's backlog is unbounded), `EXPORT_BENCH_FASTRACE_REPORT_MS`
//!   (fastrace's report interval; default fastrace's own), `EXPORT_BENCH_REPEAT` (run the list of
//!   cases N times, one after the other, and show medians; 1).
//!
//! Fixed settings: telemark's metrics are off; for spans its `tracing` subscriber is not installed
//! (this measures spans), for logs it is (it is what turns `tracing` events into log records); its
//! endpoint and protocol are set in code on top of `Config::from_env()`. The SDK's HTTP exporters
//! use opentelemetry-http's hyper client driven on a 1-worker tokio runtime (the batch processors'
//! own threads have no runtime, and the hyper client needs one); gRPC uses tonic on the same kind
//! of runtime. fastrace's reporter drives the same exporters with `Handle::block_on`.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Read as _;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

// ------------------------------------------------------------------------------------------------
// The span every library records.

/// What telemark records as `code.function.name` for `work`.
const WORK_FUNCTION: &str = concat!(module_path!(), "::work");
/// What telemark records as `code.file.path`.
const WORK_FILE: &str = file!();
/// What telemark records as `code.line.number`: the line of `work`'s name, 3 lines below (the
/// receiver shows the first span of each case, so a mismatch would be seen).
const WORK_LINE: u32 = line!() + 3;
#[telemark::traced(skip_all)]
#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

mod sdk {
    use super::{black_box, WORK_FILE, WORK_FUNCTION, WORK_LINE};
    use opentelemetry::trace::{Span as _, Tracer as _};
    use opentelemetry::KeyValue;
    use opentelemetry_sdk::trace::SdkTracer;

    /// A root span started and ended with the SDK's tracer, with telemark's three attributes.
    #[inline(never)]
    pub fn work(t: &SdkTracer, x: u64) -> u64 {
        let mut span = t
            .span_builder("work")
            .with_attributes([
                KeyValue::new("code.function.name", WORK_FUNCTION),
                KeyValue::new("code.file.path", WORK_FILE),
                KeyValue::new("code.line.number", i64::from(WORK_LINE)),
            ])
            .start(t);
        let r = black_box(x).wrapping_mul(3);
        span.end();
        r
    }
}

/// `WORK_LINE` as a string, for fastrace (whose properties are strings).
fn work_line_str() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| WORK_LINE.to_string())
}

/// A fastrace root span (fastrace has no attribute macro for a root), with the same properties.
#[inline(never)]
fn fr_work(x: u64) -> u64 {
    let line = work_line_str();
    let _root =
        fastrace::Span::root("work", fastrace::collector::SpanContext::random()).with_properties(|| {
            [("code.function.name", WORK_FUNCTION), ("code.file.path", WORK_FILE), ("code.line.number", line)]
        });
    black_box(x).wrapping_mul(3)
}

// ------------------------------------------------------------------------------------------------
// The log record: `tracing::info!` outside any span, so without trace context.

/// telemark's producer: an event that telemark's subscriber makes a log record of, with `n` and
/// the code location (`code.file.path`, `code.line.number`) it adds from the callsite.
#[inline(never)]
fn log_work(x: u64) -> u64 {
    tracing::info!(n = x, "work");
    black_box(x).wrapping_mul(3)
}

/// The SDK's producer: the same event, with the code location the bridge does not add given as
/// fields (`line!()` in a macro's input is the line of the outermost macro, `tracing::info!`).
#[inline(never)]
fn sdk_log_work(x: u64) -> u64 {
    tracing::info!(n = x, code.file.path = file!(), code.line.number = line!(), "work");
    black_box(x).wrapping_mul(3)
}

// ------------------------------------------------------------------------------------------------
// Cases.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Telemark,
    Sdk,
    Fastrace,
}

impl Lib {
    const ALL: [Lib; 3] = [Lib::Telemark, Lib::Sdk, Lib::Fastrace];
    fn id(self) -> &'static str {
        match self {
            Lib::Telemark => "telemark",
            Lib::Sdk => "sdk",
            Lib::Fastrace => "fastrace",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Lib::Telemark => "telemark `#[traced]`",
            Lib::Sdk => "OTel SDK 0.33.1 batch + otlp",
            Lib::Fastrace => "fastrace 0.7.19 + fastrace-opentelemetry 0.19",
        }
    }
    fn label_logs(self) -> &'static str {
        match self {
            Lib::Telemark => "telemark (its `tracing` subscriber)",
            Lib::Sdk => "OTel SDK 0.33.1 appender-tracing + batch + otlp",
            Lib::Fastrace => "fastrace (no OTLP log exporter)",
        }
    }
    fn parse(s: &str) -> Option<Lib> {
        Lib::ALL.into_iter().find(|l| l.id() == s)
    }
}

/// What is exported: spans (`#[traced]` and its peers) or log records (`tracing::info!`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signal {
    Spans,
    Logs,
}

impl Signal {
    const ALL: [Signal; 2] = [Signal::Spans, Signal::Logs];
    fn id(self) -> &'static str {
        match self {
            Signal::Spans => "spans",
            Signal::Logs => "logs",
        }
    }
    /// The libraries compared: fastrace has no OTLP log exporter.
    fn libs(self) -> &'static [Lib] {
        match self {
            Signal::Spans => &Lib::ALL,
            Signal::Logs => &[Lib::Telemark, Lib::Sdk],
        }
    }
    fn label(self, lib: Lib) -> &'static str {
        match self {
            Signal::Spans => lib.label(),
            Signal::Logs => lib.label_logs(),
        }
    }
    fn title(self) -> &'static str {
        match self {
            Signal::Spans => "Spans",
            Signal::Logs => "Logs",
        }
    }
    /// A record's name in the tables' headers.
    fn unit(self) -> &'static str {
        match self {
            Signal::Spans => "span",
            Signal::Logs => "record",
        }
    }
    fn parse(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|g| g.id() == s)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Grpc,
    Http,
}

impl Proto {
    const ALL: [Proto; 2] = [Proto::Grpc, Proto::Http];
    fn id(self) -> &'static str {
        match self {
            Proto::Grpc => "grpc",
            Proto::Http => "http",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Proto::Grpc => "OTLP/gRPC",
            Proto::Http => "OTLP/HTTP protobuf",
        }
    }
    fn parse(s: &str) -> Option<Proto> {
        Proto::ALL.into_iter().find(|p| p.id() == s)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Flat,
    Paced,
}

impl Mode {
    const ALL: [Mode; 2] = [Mode::Flat, Mode::Paced];
    fn id(self) -> &'static str {
        match self {
            Mode::Flat => "flat",
            Mode::Paced => "paced",
        }
    }
    fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.id() == s)
    }
}

/// The run's settings, from the mode (full or smoke) and the environment.
#[derive(Clone, Debug)]
struct Settings {
    secs: f64,
    rate: f64,
    producers: usize,
    flush_secs: f64,
    rss_cap_mb: u64,
    /// How many times the parent runs the whole list of cases (the tables show medians).
    repeat: usize,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

impl Settings {
    fn from_env(full: bool) -> Settings {
        Settings {
            secs: env_num("EXPORT_BENCH_SECS", if full { 5.0 } else { 0.2 }),
            rate: env_num("EXPORT_BENCH_RATE", 200_000.0),
            producers: env_num("EXPORT_BENCH_PRODUCERS", 2usize).max(1),
            flush_secs: env_num("EXPORT_BENCH_FLUSH_SECS", 30.0),
            rss_cap_mb: env_num("EXPORT_BENCH_RSS_CAP_MB", 3072u64),
            repeat: env_num("EXPORT_BENCH_REPEAT", 1usize).max(1),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Process and thread measurements (Linux).

/// This process's CPU time (user + system, every thread), in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: getrusage writes a plain C struct that we own; all-zero is a valid `rusage`.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The calling thread's CPU time, in seconds.
fn thread_cpu_s() -> f64 {
    // SAFETY: clock_gettime writes a plain C struct that we own.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts
    };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// A `kB` line of /proc/self/status (`VmHWM`, `VmRSS`).
fn status_kb(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident set size from /proc/self/statm (cheaper than status), in kB.
fn rss_kb() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = text.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096) / 1024
}

// ------------------------------------------------------------------------------------------------
// The protobuf walker: counts spans without decoding them.

mod wire {
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// Calls `f` with the payload of every length-delimited field numbered `want`, skipping every
    /// other field by its wire type. None if the message is malformed.
    fn each<'a>(msg: &'a [u8], want: u64, f: &mut dyn FnMut(&'a [u8]) -> Option<()>) -> Option<()> {
        let mut at = 0;
        while at < msg.len() {
            let key = varint(msg, &mut at)?;
            match key & 7 {
                0 => {
                    varint(msg, &mut at)?;
                }
                1 => at += 8,
                2 => {
                    let len = usize::try_from(varint(msg, &mut at)?).ok()?;
                    let end = at.checked_add(len)?;
                    let payload = msg.get(at..end)?;
                    if key >> 3 == want {
                        f(payload)?;
                    }
                    at = end;
                }
                5 => at += 4,
                _ => return None,
            }
        }
        (at == msg.len()).then_some(())
    }

    /// Records in an export request: spans in an ExportTraceServiceRequest (field 1 resource_spans
    /// → ResourceSpans field 2 scope_spans → ScopeSpans field 2 spans) or log records in an
    /// ExportLogsServiceRequest (field 1 resource_logs → ResourceLogs field 2 scope_logs →
    /// ScopeLogs field 2 log_records): the same shape. `first` gets the first record's scope (field
    /// 1 of its ScopeSpans / ScopeLogs, empty if none) and the record's bytes.
    pub fn count_records<'a>(req: &'a [u8], first: &mut Option<(&'a [u8], &'a [u8])>) -> Option<u64> {
        let mut n = 0;
        each(req, 1, &mut |resource| {
            each(resource, 2, &mut |scope_records| {
                each(scope_records, 2, &mut |record| {
                    n += 1;
                    if first.is_none() {
                        let mut scope: &[u8] = &[];
                        each(scope_records, 1, &mut |s| {
                            scope = s;
                            Some(())
                        })?;
                        *first = Some((scope, record));
                    }
                    Some(())
                })
            })
        })?;
        Some(n)
    }

    /// The messages of a gRPC body (1 byte compressed flag, 4 bytes big-endian length, message,
    /// repeated). None if malformed or compressed.
    pub fn grpc_messages(mut body: &[u8]) -> Option<Vec<&[u8]>> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let head = body.get(..5)?;
            if head[0] != 0 {
                return None;
            }
            let len = usize::try_from(u32::from_be_bytes([head[1], head[2], head[3], head[4]])).ok()?;
            out.push(body.get(5..5 + len)?);
            body = &body[5 + len..];
        }
        Some(out)
    }
}

/// Checks the walker against requests encoded with the official prost types.
fn self_check() -> Res<()> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
    use prost::Message as _;

    let kv = |k: &str, v: any_value::Value| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let span = |name: &str| Span {
        trace_id: vec![7; 16],
        span_id: vec![9; 8],
        parent_span_id: vec![1; 8],
        name: name.into(),
        kind: 1,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_123,
        attributes: vec![
            kv("code.function.name", any_value::Value::StringValue("export::work".into())),
            kv("code.line.number", any_value::Value::IntValue(-42)),
            kv("ratio", any_value::Value::DoubleValue(0.5)),
            kv("ok", any_value::Value::BoolValue(true)),
        ],
        events: vec![span::Event { name: "e".into(), time_unix_nano: 5, ..Default::default() }],
        flags: 0x100,
        ..Default::default()
    };
    let scope = |spans: Vec<Span>| ScopeSpans {
        scope: Some(InstrumentationScope { name: "s".into(), version: "1".into(), ..Default::default() }),
        spans,
        schema_url: "https://example.invalid/schema".into(),
    };
    let req = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", any_value::Value::StringValue("x".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![scope(vec![span("a"), span("b")]), scope(vec![])],
                schema_url: String::new(),
            },
            ResourceSpans {
                resource: None,
                scope_spans: vec![scope(vec![span("c")])],
                schema_url: "u".into(),
            },
        ],
    };
    let bytes = req.encode_to_vec();
    let mut first = None;
    let n = wire::count_records(&bytes, &mut first);
    if n != Some(3) {
        return Err(format!("walker self check: counted {n:?} spans, expected 3").into());
    }
    let (first_scope, first) = first.ok_or("walker self check: no first span")?;
    let decoded = Span::decode(first)?;
    if decoded.name != "a" {
        return Err(format!("walker self check: first span is {:?}, expected \"a\"", decoded.name).into());
    }
    if InstrumentationScope::decode(first_scope)?.name != "s" {
        return Err("walker self check: the first span's scope is not \"s\"".into());
    }
    let mut framed = Vec::new();
    for _ in 0..2 {
        framed.push(0u8);
        framed.extend_from_slice(&u32::try_from(bytes.len())?.to_be_bytes());
        framed.extend_from_slice(&bytes);
    }
    let msgs = wire::grpc_messages(&framed).ok_or("walker self check: gRPC frames not parsed")?;
    let total: Option<u64> = msgs.iter().map(|m| wire::count_records(m, &mut None)).sum();
    if total != Some(6) {
        return Err(format!("walker self check: {total:?} spans in two gRPC frames, expected 6").into());
    }
    if wire::count_records(&bytes[..bytes.len() - 3], &mut None).is_some()
        || wire::grpc_messages(&framed[..framed.len() - 1]).is_some()
    {
        return Err("walker self check: a truncated request was not rejected".into());
    }
    if wire::count_records(&ExportTraceServiceRequest::default().encode_to_vec(), &mut None) != Some(0) {
        return Err("walker self check: an empty request is not 0 spans".into());
    }
    self_check_logs()
}

/// Checks the walker on an ExportLogsServiceRequest encoded with the official prost types.
fn self_check_logs() -> Res<()> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message as _;

    let kv = |k: &str, v: any_value::Value| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let record = |body: &str| LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        observed_time_unix_nano: 1_700_000_000_000_000_001,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(body.into())) }),
        attributes: vec![
            kv("n", any_value::Value::IntValue(7)),
            kv("code.file.path", any_value::Value::StringValue("benches/export.rs".into())),
        ],
        event_name: "event".into(),
        ..Default::default()
    };
    let scope = |name: &str, log_records: Vec<LogRecord>| ScopeLogs {
        scope: Some(InstrumentationScope { name: name.into(), ..Default::default() }),
        log_records,
        schema_url: String::new(),
    };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![
            ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", any_value::Value::StringValue("x".into()))],
                    ..Default::default()
                }),
                scope_logs: vec![scope("export", vec![record("a"), record("b")]), scope("t", vec![])],
                schema_url: String::new(),
            },
            ResourceLogs {
                resource: None,
                scope_logs: vec![scope("u", vec![record("c")])],
                schema_url: "u".into(),
            },
        ],
    };
    let bytes = req.encode_to_vec();
    let mut first = None;
    let n = wire::count_records(&bytes, &mut first);
    if n != Some(3) {
        return Err(format!("walker self check: counted {n:?} log records, expected 3").into());
    }
    let (scope_bytes, first) = first.ok_or("walker self check: no first log record")?;
    let body = LogRecord::decode(first)?.body.and_then(|b| b.value);
    if body != Some(any_value::Value::StringValue("a".into())) {
        return Err(format!("walker self check: first log record's body is {body:?}, expected \"a\"").into());
    }
    if InstrumentationScope::decode(scope_bytes)?.name != "export" {
        return Err("walker self check: the first log record's scope is not \"export\"".into());
    }
    if wire::count_records(&bytes[..bytes.len() - 2], &mut None).is_some() {
        return Err("walker self check: a truncated logs request was not rejected".into());
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// The receiver (parent process).

const GRPC_TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const HTTP_TRACES: &str = "/v1/traces";
const GRPC_LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const HTTP_LOGS: &str = "/v1/logs";

/// The signal an export request's path is for, if spans or logs.
fn signal_of_path(path: &str) -> Option<Signal> {
    match path {
        GRPC_TRACES | HTTP_TRACES => Some(Signal::Spans),
        GRPC_LOGS | HTTP_LOGS => Some(Signal::Logs),
        _ => None,
    }
}

#[derive(Default)]
struct Counters {
    /// The case's signal: false spans, true logs. Only its requests are counted.
    logs: AtomicBool,
    /// Spans or log records delivered.
    records: AtomicU64,
    /// Request body bytes of the counted export requests (gRPC: with the 5-byte frame headers).
    bytes: AtomicU64,
    requests: AtomicU64,
    /// Counted requests that could not be walked (or whose body could not be read).
    bad: AtomicU64,
    /// Requests to other paths (the other signal, metrics): answered, not counted.
    other: AtomicU64,
    in_flight: AtomicU64,
    have_sample: AtomicBool,
    /// The first record of the case, decoded.
    sample: Mutex<Option<String>>,
}

impl Counters {
    fn reset(&self, signal: Signal) {
        for c in [&self.records, &self.bytes, &self.requests, &self.bad, &self.other] {
            c.store(0, Relaxed);
        }
        if let Ok(mut s) = self.sample.lock() {
            *s = None;
        }
        self.have_sample.store(false, Relaxed);
        self.logs.store(signal == Signal::Logs, Relaxed);
    }

    fn signal(&self) -> Signal {
        if self.logs.load(Relaxed) {
            Signal::Logs
        } else {
            Signal::Spans
        }
    }

    fn count(&self, body: &[u8], grpc: bool, signal: Signal) {
        self.requests.fetch_add(1, Relaxed);
        self.bytes.fetch_add(body.len() as u64, Relaxed);
        let mut first = None;
        let n = if grpc {
            wire::grpc_messages(body)
                .and_then(|msgs| msgs.into_iter().map(|m| wire::count_records(m, &mut first)).sum())
        } else {
            wire::count_records(body, &mut first)
        };
        match n {
            Some(n) => {
                self.records.fetch_add(n, Relaxed);
            }
            None => {
                self.bad.fetch_add(1, Relaxed);
            }
        }
        if let Some((scope, record)) = first.filter(|_| !self.have_sample.load(Relaxed)) {
            if let Ok(mut s) = self.sample.lock() {
                if s.is_none() {
                    *s = Some(match signal {
                        Signal::Spans => describe_span(scope, record),
                        Signal::Logs => describe_log(scope, record),
                    });
                    self.have_sample.store(true, Relaxed);
                }
            }
        }
    }
}

/// An attribute's value, as text.
fn show_value(v: Option<&opentelemetry_proto::tonic::common::v1::any_value::Value>) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    match v {
        Some(Value::StringValue(v)) => format!("{v:?}"),
        Some(Value::IntValue(v)) => format!("{v} (int)"),
        Some(other) => format!("{other:?}"),
        None => "(none)".into(),
    }
}

/// A scope (field 1 of ScopeSpans / ScopeLogs) decoded, as text.
fn show_scope(bytes: &[u8]) -> String {
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use prost::Message as _;
    match InstrumentationScope::decode(bytes) {
        Ok(s) if s.version.is_empty() => format!("scope `{}`", s.name),
        Ok(s) => format!("scope `{}` {}", s.name, s.version),
        Err(_) => "scope (not decoded)".into(),
    }
}

/// One span decoded in full with the official types, as a line of text.
fn describe_span(scope: &[u8], bytes: &[u8]) -> String {
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message as _;
    let Ok(s) = Span::decode(bytes) else {
        return format!("({} bytes, not a Span)", bytes.len());
    };
    let mut out = format!("{} B: {}, name `{}`, kind {}, ", bytes.len(), show_scope(scope), s.name, s.kind);
    for a in &s.attributes {
        let _ = write!(out, "{}={}, ", a.key, show_value(a.value.as_ref().and_then(|v| v.value.as_ref())));
    }
    let _ = write!(
        out,
        "parent {}, {} events, {} links, status {}, flags {:#x}",
        if s.parent_span_id.is_empty() {
            "none".to_string()
        } else {
            format!("{} B", s.parent_span_id.len())
        },
        s.events.len(),
        s.links.len(),
        s.status.as_ref().map_or(0, |st| st.code),
        s.flags
    );
    out
}

/// One log record decoded in full with the official types, as a line of text.
fn describe_log(scope: &[u8], bytes: &[u8]) -> String {
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use prost::Message as _;
    let Ok(l) = LogRecord::decode(bytes) else {
        return format!("({} bytes, not a LogRecord)", bytes.len());
    };
    let time = |t: u64| if t == 0 { "0" } else { "set" };
    let mut out = format!(
        "{} B: {}, body {}, severity {} `{}`, ",
        bytes.len(),
        show_scope(scope),
        show_value(l.body.as_ref().and_then(|v| v.value.as_ref())),
        l.severity_number,
        l.severity_text
    );
    for a in &l.attributes {
        let _ = write!(out, "{}={}, ", a.key, show_value(a.value.as_ref().and_then(|v| v.value.as_ref())));
    }
    let _ = write!(
        out,
        "event name {:?}, time {}, observed time {}, trace id {} B, span id {} B, flags {:#x}",
        l.event_name,
        time(l.time_unix_nano),
        time(l.observed_time_unix_nano),
        l.trace_id.len(),
        l.span_id.len(),
        l.flags
    );
    out
}

type RespBody = BoxBody<Bytes, Infallible>;

fn response(grpc: bool) -> Response<RespBody> {
    let (body, ctype) = if grpc {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        // An empty ExportTraceServiceResponse or ExportLogsServiceResponse (no fields set is an
        // empty message, the same for both): one uncompressed frame of length 0.
        let body = Full::new(Bytes::from_static(&[0; 5]))
            .with_trailers(std::future::ready(Some(Ok(trailers))))
            .boxed();
        (body, "application/grpc")
    } else {
        (Full::new(Bytes::new()).boxed(), "application/x-protobuf")
    };
    let mut r = Response::new(body);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

async fn handle(req: Request<Incoming>, c: Arc<Counters>) -> Result<Response<RespBody>, Infallible> {
    let grpc = req.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let signal = c.signal();
    let counted = signal_of_path(req.uri().path()) == Some(signal);
    c.in_flight.fetch_add(1, Relaxed);
    match req.into_body().collect().await {
        Ok(body) if counted => c.count(&body.to_bytes(), grpc, signal),
        Ok(_) => {
            c.other.fetch_add(1, Relaxed);
        }
        Err(_) => {
            c.bad.fetch_add(1, Relaxed);
        }
    }
    c.in_flight.fetch_sub(1, Relaxed);
    Ok(response(grpc))
}

async fn serve(listener: tokio::net::TcpListener, c: Arc<Counters>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let c = c.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(req, c.clone()));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

// ------------------------------------------------------------------------------------------------
// The child: one library, one protocol, one mode.

/// The SDK's HTTP client: opentelemetry-http's hyper client, each request driven on a tokio
/// runtime (the batch processor exports from a thread of its own, with no runtime).
#[derive(Debug, Clone)]
struct HyperOnRuntime {
    client: opentelemetry_http::hyper::HyperClient,
    handle: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HyperOnRuntime {
    async fn send_bytes(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        self.handle.spawn(async move { client.send_bytes(request).await }).await?
    }
}

/// A 1-worker tokio runtime for the peers' OTLP clients (tonic, hyper).
fn client_runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?)
}

/// opentelemetry-otlp's span exporter, built inside `rt` (tonic needs a reactor to build).
fn otlp_exporter(
    proto: Proto,
    port: u16,
    rt: &tokio::runtime::Runtime,
    http_on_runtime: bool,
) -> Res<opentelemetry_otlp::SpanExporter> {
    use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _};
    let _enter = rt.enter();
    let timeout = Duration::from_secs(10);
    let exporter = match proto {
        Proto::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_timeout(timeout)
            .build()?,
        Proto::Http => {
            let b = SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("http://127.0.0.1:{port}{HTTP_TRACES}"))
                .with_timeout(timeout);
            let b = if http_on_runtime {
                b.with_http_client(HyperOnRuntime {
                    client: opentelemetry_http::hyper::HyperClient::with_default_connector(timeout, None),
                    handle: rt.handle().clone(),
                })
            } else {
                b
            };
            b.build()?
        }
    };
    Ok(exporter)
}

/// opentelemetry-otlp's log exporter, built like [`otlp_exporter`]'s (the HTTP client on `rt`).
fn otlp_log_exporter(
    proto: Proto,
    port: u16,
    rt: &tokio::runtime::Runtime,
) -> Res<opentelemetry_otlp::LogExporter> {
    use opentelemetry_otlp::{LogExporter, Protocol, WithExportConfig as _, WithHttpConfig as _};
    let _enter = rt.enter();
    let timeout = Duration::from_secs(10);
    let exporter = match proto {
        Proto::Grpc => LogExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_timeout(timeout)
            .build()?,
        Proto::Http => LogExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("http://127.0.0.1:{port}{HTTP_LOGS}"))
            .with_timeout(timeout)
            .with_http_client(HyperOnRuntime {
                client: opentelemetry_http::hyper::HyperClient::with_default_connector(timeout, None),
                handle: rt.handle().clone(),
            })
            .build()?,
    };
    Ok(exporter)
}

fn resource() -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder().with_service_name("export-bench").build()
}

enum Pipeline {
    Telemark(telemark::Guard, Signal),
    Sdk {
        provider: opentelemetry_sdk::trace::SdkTracerProvider,
        tracer: opentelemetry_sdk::trace::SdkTracer,
        rt: tokio::runtime::Runtime,
    },
    /// The SDK's logger provider, reached through the global `tracing` subscriber (the bridge).
    SdkLogs {
        provider: opentelemetry_sdk::logs::SdkLoggerProvider,
        rt: tokio::runtime::Runtime,
    },
    Fastrace {
        rt: tokio::runtime::Runtime,
    },
}

impl Pipeline {
    fn start(signal: Signal, lib: Lib, proto: Proto, port: u16) -> Res<Pipeline> {
        match (signal, lib) {
            (Signal::Logs, Lib::Sdk) => {
                use tracing_subscriber::filter::{LevelFilter, Targets};
                use tracing_subscriber::layer::SubscriberExt as _;
                use tracing_subscriber::Layer as _;
                let rt = client_runtime()?;
                let exporter = otlp_log_exporter(proto, port, &rt)?;
                // The batch log processor with its defaults (OTEL_BLRP_* from the environment).
                let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource())
                    .build();
                // INFO, as telemark's default; the exporter's own crates off (opentelemetry-otlp's
                // advice: their events would be exported too). telemark leaves out its own threads.
                let filter = ["hyper", "h2", "tonic", "tower", "opentelemetry"]
                    .into_iter()
                    .fold(Targets::new().with_default(LevelFilter::INFO), |f, t| {
                        f.with_target(t, LevelFilter::OFF)
                    });
                let bridge =
                    opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider)
                        .with_filter(filter);
                tracing::subscriber::set_global_default(tracing_subscriber::registry().with(bridge))?;
                Ok(Pipeline::SdkLogs { provider, rt })
            }
            (Signal::Logs, Lib::Fastrace) => Err("fastrace has no OTLP log exporter".into()),
            (_, Lib::Telemark) => {
                let protocol = match proto {
                    Proto::Grpc => telemark::Protocol::Grpc,
                    Proto::Http => telemark::Protocol::HttpProtobuf,
                };
                let mut c = telemark::Config::from_env()?
                    .service_name("export-bench")
                    .otlp(format!("http://127.0.0.1:{port}"), protocol)
                    .console(false)
                    // Logs are `tracing` events: telemark's subscriber makes them log records.
                    .install_subscriber(signal == Signal::Logs);
                c.metrics.enabled = false;
                Ok(Pipeline::Telemark(telemark::init(c)?, signal))
            }
            (Signal::Spans, Lib::Sdk) => {
                use opentelemetry::trace::TracerProvider as _;
                let rt = client_runtime()?;
                let exporter = otlp_exporter(proto, port, &rt, true)?;
                // The batch span processor with its defaults (OTEL_BSP_* from the environment).
                let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource())
                    .build();
                let tracer = provider.tracer("export-bench");
                Ok(Pipeline::Sdk { provider, tracer, rt })
            }
            (Signal::Spans, Lib::Fastrace) => {
                let rt = client_runtime()?;
                let exporter = otlp_exporter(proto, port, &rt, false)?;
                let handle = rt.handle().clone();
                let reporter = fastrace_opentelemetry::OpenTelemetryReporter::new(
                    exporter,
                    Cow::Owned(resource()),
                    opentelemetry::InstrumentationScope::builder("export-bench").build(),
                )
                .with_block_on(move |f| handle.block_on(f));
                let mut config = fastrace::collector::Config::default();
                if let Ok(ms) = std::env::var("EXPORT_BENCH_FASTRACE_REPORT_MS") {
                    config = config.report_interval(Duration::from_millis(ms.trim().parse()?));
                }
                fastrace::set_reporter(reporter, config);
                Ok(Pipeline::Fastrace { rt })
            }
        }
    }

    /// Flushes and shuts the library down, waiting at most `timeout`. Returns a note.
    fn finish(self, timeout: Duration) -> String {
        /// Runs `f` on a thread of its own and waits at most `timeout` for it.
        fn bounded(timeout: Duration, f: impl FnOnce() -> String + Send + 'static) -> String {
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new().name("finish".into()).spawn(move || {
                let _ = tx.send(f());
            });
            match spawned {
                Ok(_) => rx.recv_timeout(timeout).unwrap_or_else(|_| format!("gave up after {timeout:?}")),
                Err(e) => format!("cannot spawn: {e}"),
            }
        }
        match self {
            Pipeline::Telemark(guard, signal) => {
                let flushed = telemark::flush(timeout);
                let s = telemark::stats();
                drop(guard);
                let (recorded, exported, dropped) = match signal {
                    Signal::Spans => (s.spans_recorded, s.spans_exported, s.spans_dropped),
                    Signal::Logs => (s.logs_recorded, s.logs_exported, s.logs_dropped),
                };
                format!(
                    "flush {}; telemark stats ({}): recorded {recorded}, exported {exported}, dropped {dropped}, \
                     export failures {}",
                    if flushed { "ok" } else { "TIMED OUT" },
                    signal.id(),
                    s.export_failures
                )
            }
            Pipeline::SdkLogs { provider, rt } => {
                let r = bounded(timeout + Duration::from_secs(1), move || {
                    match provider.shutdown_with_timeout(timeout) {
                        Ok(()) => "shutdown ok".into(),
                        Err(e) => format!("shutdown: {e}"),
                    }
                });
                std::mem::forget(rt);
                r
            }
            Pipeline::Sdk { provider, tracer, rt } => {
                drop(tracer);
                let r = bounded(timeout + Duration::from_secs(1), move || {
                    match provider.shutdown_with_timeout(timeout) {
                        Ok(()) => "shutdown ok".into(),
                        Err(e) => format!("shutdown: {e}"),
                    }
                });
                // The runtime is left to process exit: dropping it could wait for its tasks.
                std::mem::forget(rt);
                r
            }
            Pipeline::Fastrace { rt } => {
                let r = bounded(timeout, || {
                    fastrace::flush();
                    "flush ok".into()
                });
                std::mem::forget(rt);
                r
            }
        }
    }
}

/// Sends the thread's CPU time when the thread's locals are destroyed. Set first thing in a
/// producer thread, its destructor runs after those of the libraries' thread-locals (glibc runs
/// them in reverse order of registration), so the producer's CPU includes what its exit costs
/// (fastrace frees the backlog its thread kept there).
struct CpuAtExit(Option<std::sync::mpsc::Sender<f64>>);

impl Drop for CpuAtExit {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(thread_cpu_s());
        }
    }
}

thread_local! {
    static CPU_AT_EXIT: std::cell::RefCell<CpuAtExit> = const { std::cell::RefCell::new(CpuAtExit(None)) };
}

/// Runs `threads` producers calling `f` until `secs` have passed (flat out) or at `rate` spans/s
/// in total (paced, one thread). Returns spans produced, the producers' own CPU seconds (their
/// whole lives, exit included) and the part of it spent after their loops.
fn produce<F>(f: F, mode: Mode, s: &Settings, stop: &Arc<AtomicBool>) -> Res<(u64, f64, f64)>
where
    F: Fn(u64) -> u64 + Send + Clone + 'static,
{
    let threads = match mode {
        Mode::Flat => s.producers,
        Mode::Paced => 1,
    };
    let d = Duration::from_secs_f64(s.secs);
    let rate = s.rate;
    let (exit_tx, exit_rx) = std::sync::mpsc::channel();
    let mut handles = Vec::new();
    for t in 0..threads {
        let f = f.clone();
        let stop = stop.clone();
        let exit_tx = exit_tx.clone();
        let h = std::thread::Builder::new().name(format!("producer-{t}")).spawn(move || {
            CPU_AT_EXIT.with(|c| c.borrow_mut().0 = Some(exit_tx));
            let start = Instant::now();
            let mut n = 0u64;
            match mode {
                Mode::Flat => {
                    while start.elapsed() < d && !stop.load(Relaxed) {
                        for _ in 0..256 {
                            black_box(f(black_box(n)));
                            n += 1;
                        }
                    }
                }
                Mode::Paced => loop {
                    let elapsed = start.elapsed();
                    if elapsed >= d || stop.load(Relaxed) {
                        break;
                    }
                    let due = (elapsed.as_secs_f64() * rate) as u64;
                    if n < due {
                        for _ in 0..(due - n).min(64) {
                            black_box(f(black_box(n)));
                            n += 1;
                        }
                    } else {
                        std::thread::yield_now();
                    }
                },
            }
            // The thread's CPU clock starts with the thread: this is all of its life so far.
            (n, thread_cpu_s())
        })?;
        handles.push(h);
    }
    drop(exit_tx);
    let mut produced = 0;
    let mut in_loop = 0.0;
    for h in handles {
        let (n, c) = h.join().map_err(|_| "a producer thread panicked")?;
        produced += n;
        in_loop += c;
    }
    // Joined threads have run their thread-local destructors.
    let at_exit: Vec<f64> = exit_rx.try_iter().collect();
    let total = if at_exit.len() == threads { at_exit.iter().sum::<f64>().max(in_loop) } else { in_loop };
    Ok((produced, total, total - in_loop))
}

fn child(signal: Signal, lib: Lib, proto: Proto, mode: Mode, port: u16, s: &Settings) -> Res<()> {
    let pipeline = Pipeline::start(signal, lib, proto, port)?;
    let rss_start_kb = rss_kb();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));

    let cpu0 = process_cpu_s();
    let t0 = Instant::now();
    // Stops the producers if the RSS passes the cap (fastrace's backlog is unbounded).
    let watchdog = {
        let (stop, done) = (stop.clone(), done.clone());
        let cap_kb = s.rss_cap_mb * 1024;
        std::thread::Builder::new().name("rss-watchdog".into()).spawn(move || {
            let cpu0 = thread_cpu_s();
            let mut capped_at = None;
            while !done.load(Relaxed) {
                if capped_at.is_none() && rss_kb() > cap_kb {
                    stop.store(true, Relaxed);
                    capped_at = Some(t0.elapsed().as_secs_f64());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (thread_cpu_s() - cpu0, capped_at)
        })?
    };
    let (produced, producer_cpu, producer_exit_cpu) = match &pipeline {
        Pipeline::Telemark(_, Signal::Spans) => produce(work, mode, s, &stop)?,
        Pipeline::Telemark(_, Signal::Logs) => produce(log_work, mode, s, &stop)?,
        Pipeline::SdkLogs { .. } => produce(sdk_log_work, mode, s, &stop)?,
        Pipeline::Sdk { tracer, .. } => {
            let tracer = tracer.clone();
            produce(move |x| sdk::work(&tracer, x), mode, s, &stop)?
        }
        Pipeline::Fastrace { .. } => produce(fr_work, mode, s, &stop)?,
    };
    let produce_s = t0.elapsed().as_secs_f64();
    done.store(true, Relaxed);
    let (watchdog_cpu, capped_at) = watchdog.join().map_err(|_| "the watchdog panicked")?;
    let note = pipeline.finish(Duration::from_secs_f64(s.flush_secs));
    let total_s = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_s() - cpu0;
    let note = match capped_at {
        Some(t) => format!("RSS cap {} MB reached at {t:.2} s, producers stopped; {note}", s.rss_cap_mb),
        None => note,
    };
    let note = if producer_exit_cpu >= 0.005 {
        format!("{note}; producer threads' exit: {producer_exit_cpu:.3} s CPU (counted as theirs)")
    } else {
        note
    };
    println!(
        "RESULT produced={produced} produce_s={produce_s} total_s={total_s} cpu_s={cpu} \
         producer_cpu_s={producer_cpu} watchdog_cpu_s={watchdog_cpu} hwm_kb={} rss_start_kb={rss_start_kb} \
         note={note}",
        status_kb("VmHWM")
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// The parent: runs the cases and reports.

/// One case: what is exported, by which library, over which protocol, how fast.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Case {
    signal: Signal,
    lib: Lib,
    proto: Proto,
    mode: Mode,
}

impl Case {
    /// `<signal>/<library>/<protocol>/<mode>`, what the filters match.
    fn id(self) -> String {
        format!("{}/{}/{}/{}", self.signal.id(), self.lib.id(), self.proto.id(), self.mode.id())
    }
}

#[derive(Debug, Default)]
struct Outcome {
    /// Key-value pairs of the child's RESULT line.
    child: Vec<(String, String)>,
    child_error: Option<String>,
    delivered: u64,
    bytes: u64,
    requests: u64,
    bad: u64,
    other: u64,
    receiver_cpu_s: f64,
    wall_s: f64,
    sample: Option<String>,
}

impl Outcome {
    fn get(&self, k: &str) -> Option<f64> {
        self.child.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.parse().ok())
    }
    fn note(&self) -> String {
        let note = self.child.iter().find(|(k, _)| k == "note").map_or("", |(_, v)| v.as_str());
        match &self.child_error {
            Some(e) => format!("{e}; {note}"),
            None => note.to_string(),
        }
    }
    fn produced(&self) -> u64 {
        self.get("produced").map_or(0, |v| v as u64)
    }
    fn exporter_cpu_s(&self) -> Option<f64> {
        Some(self.get("cpu_s")? - self.get("producer_cpu_s")? - self.get("watchdog_cpu_s").unwrap_or(0.0))
    }
}

fn parse_result(line: &str) -> Vec<(String, String)> {
    let Some(rest) = line.strip_prefix("RESULT ") else { return Vec::new() };
    let (fields, note) = rest.split_once(" note=").unwrap_or((rest, ""));
    let mut out: Vec<(String, String)> = fields
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.push(("note".into(), note.to_string()));
    out
}

fn run_case(case: Case, port: u16, s: &Settings, c: &Counters) -> Res<Outcome> {
    let Case { signal, lib, proto, mode } = case;
    c.reset(signal);
    let cpu0 = process_cpu_s();
    let t0 = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--case", signal.id(), lib.id(), proto.id(), mode.id()])
        .args(["--port", &port.to_string()])
        .args(["--secs", &s.secs.to_string(), "--rate", &s.rate.to_string()])
        .args(["--producers", &s.producers.to_string(), "--flush-secs", &s.flush_secs.to_string()])
        .args(["--rss-cap-mb", &s.rss_cap_mb.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout of the child")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = t0 + Duration::from_secs_f64(s.secs + s.flush_secs + 60.0);
    let mut outcome = Outcome::default();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    match status {
        Some(st) if st.success() => {}
        Some(st) => outcome.child_error = Some(format!("child failed ({st})")),
        None => outcome.child_error = Some("child killed: did not finish in time".into()),
    }
    let text = reader.join().unwrap_or_default();
    outcome.child = text.lines().find(|l| l.starts_with("RESULT ")).map(parse_result).unwrap_or_default();
    // Requests still being read when the child exited end with it; wait for the handlers.
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while c.in_flight.load(Relaxed) > 0 && Instant::now() < drain_deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    outcome.wall_s = t0.elapsed().as_secs_f64();
    outcome.receiver_cpu_s = process_cpu_s() - cpu0;
    outcome.delivered = c.records.load(Relaxed);
    outcome.bytes = c.bytes.load(Relaxed);
    outcome.requests = c.requests.load(Relaxed);
    outcome.bad = c.bad.load(Relaxed);
    outcome.other = c.other.load(Relaxed);
    outcome.sample = c.sample.lock().ok().and_then(|s| s.clone());
    Ok(outcome)
}

fn mega(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else {
        format!("{:.0} k", v / 1e3)
    }
}

/// A case's row: produced/s, delivered/s, lost %, exporter CPU µs per span, delivered per second of
/// exporter CPU, wire bytes per span, peak RSS MB, receiver CPU %, flush s (NaN where unknown).
fn columns(o: &Outcome) -> [f64; 9] {
    let produced = o.produced() as f64;
    let produce_s = o.get("produce_s").unwrap_or(f64::NAN);
    let total_s = o.get("total_s").unwrap_or(f64::NAN);
    let d = o.delivered as f64;
    let cpu = o.exporter_cpu_s().unwrap_or(f64::NAN);
    let if_delivered = |v: f64| if o.delivered > 0 { v } else { f64::NAN };
    [
        produced / produce_s,
        d / total_s,
        if produced > 0.0 { 100.0 * (1.0 - d / produced) } else { f64::NAN },
        if_delivered(cpu / d * 1e6),
        if cpu > 0.0 { d / cpu } else { f64::NAN },
        if_delivered(o.bytes as f64 / d),
        o.get("hwm_kb").unwrap_or(f64::NAN) / 1024.0,
        100.0 * o.receiver_cpu_s / o.wall_s,
        total_s - produce_s,
    ]
}

/// The median of the values that are not NaN (NaN if none).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The first three fields of /proc/loadavg (1, 5, 15 minutes).
fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn report(results: &[(Case, Outcome)], s: &Settings, full: bool, load: &str) -> String {
    let mut w = String::new();
    let _ = writeln!(w, "## OTLP export: telemark, the OpenTelemetry SDK and fastrace\n");
    let _ = writeln!(
        w,
        "{} run: D = {} s per case; flat out = {} producer thread(s) (the machine has {} cores), paced = 1 \
         thread at {} spans (or log records)/s; flush/shutdown bounded at {} s; RSS cap {} MB. Each case in a \
         fresh child process; the receiver (hyper, 1 tokio worker) in the parent. {}",
        if full { "Full" } else { "Smoke" },
        s.secs,
        s.producers,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        s.rate,
        s.flush_secs,
        s.rss_cap_mb,
        if s.repeat > 1 {
            format!(
                "The list of cases ran {} times, one after the other; the tables show each column's median, \
                 the details every run.",
                s.repeat
            )
        } else {
            "One run of each case (EXPORT_BENCH_REPEAT=3 gives medians: flat out varies from run to run)."
                .into()
        }
    );
    let knobs: Vec<String> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("OTEL_") || k.starts_with("TELEMARK_") || k.starts_with("EXPORT_BENCH_")
        })
        .map(|(k, v)| format!("`{k}={v}`"))
        .collect();
    let _ = writeln!(w, "Load average (1, 5, 15 min) before the run: {load}; after: {}.", loadavg());
    let _ = writeln!(
        w,
        "Environment knobs set: {}.\n",
        if knobs.is_empty() { "none".to_string() } else { knobs.join(", ") }
    );
    let _ = writeln!(
        w,
        "Columns: produced/s over the producing time; delivered/s = spans (log records) the receiver counted / \
         (producing + flush time); lost = 1 − delivered/produced; exporter CPU = the child's CPU minus its \
         producer threads' (and the RSS watchdog's), per delivered span (record); per core = delivered spans \
         (records) per second of that CPU; wire = request body bytes per delivered span (record); RSS = the \
         child's VmHWM; receiver CPU = the parent's CPU / the case's wall time (one worker: 100 % would be the \
         limit); flush = time from the end of producing to the end of the flush/shutdown.\n"
    );
    for signal in Signal::ALL {
        if !results.iter().any(|(c, _)| c.signal == signal) {
            continue;
        }
        match signal {
            Signal::Spans => {
                let _ = writeln!(w, "### OTLP spans\n");
                let _ = writeln!(
                    w,
                    "A root span `work` with `code.function.name`, `code.file.path`, `code.line.number` \
                     (telemark `#[traced]`, the SDK's tracer, a fastrace root span).\n"
                );
            }
            Signal::Logs => {
                let _ = writeln!(w, "### OTLP logs\n");
                let _ = writeln!(
                    w,
                    "`tracing::info!(n = x, \"work\")` outside any span: telemark's `tracing` subscriber, the \
                     SDK's appender-tracing bridge (its call also names `code.file.path` and `code.line.number`, \
                     which telemark adds by itself). fastrace is not compared: it has no OTLP log exporter.\n"
                );
            }
        }
        let unit = signal.unit();
        for proto in Proto::ALL {
            for mode in Mode::ALL {
                let rows: Vec<_> = results
                    .iter()
                    .filter(|(c, _)| c.signal == signal && c.proto == proto && c.mode == mode)
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let what = match mode {
                    Mode::Flat => format!("flat out, {} producers", s.producers),
                    Mode::Paced => format!("paced, {} {unit}s/s", s.rate),
                };
                let _ = writeln!(w, "#### {}, {}, {what}\n", signal.title(), proto.label());
                let _ = writeln!(
                    w,
                    "| library | produced/s | delivered/s | lost % | exporter CPU µs/{unit} | delivered/s per core | \
                     wire B/{unit} | peak RSS MB | receiver CPU % | flush s |"
                );
                let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
                for &lib in signal.libs() {
                    let runs: Vec<[f64; 9]> =
                        rows.iter().filter(|(c, _)| c.lib == lib).map(|(_, o)| columns(o)).collect();
                    if runs.is_empty() {
                        continue;
                    }
                    let m = |i: usize| median(runs.iter().map(|r| r[i]));
                    let fixed = |v: f64, digits: usize| {
                        if v.is_nan() {
                            "–".into()
                        } else {
                            format!("{v:.digits$}")
                        }
                    };
                    let _ = writeln!(
                        w,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        signal.label(lib),
                        mega(m(0)),
                        mega(m(1)),
                        fixed(m(2), 1),
                        fixed(m(3), 3),
                        mega(m(4)),
                        fixed(m(5), 1),
                        fixed(m(6), 0),
                        fixed(m(7), 1),
                        fixed(m(8), 2),
                    );
                }
                let _ = writeln!(w);
            }
        }
    }
    let _ = writeln!(w, "### Details\n");
    let _ = writeln!(
        w,
        "| case | produced | delivered | child CPU s | producers' CPU s | requests | records/request | bad requests | \
         other requests | RSS after init MB | note |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (case, o) in results {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {:.3} | {:.3} | {} | {:.0} | {} | {} | {:.0} | {} |",
            case.id(),
            o.produced(),
            o.delivered,
            o.get("cpu_s").unwrap_or(f64::NAN),
            o.get("producer_cpu_s").unwrap_or(f64::NAN),
            o.requests,
            o.delivered as f64 / o.requests.max(1) as f64,
            o.bad,
            o.other,
            o.get("rss_start_kb").unwrap_or(0.0) / 1024.0,
            o.note().replace('|', "/")
        );
    }
    let _ = writeln!(w, "\n### The first span or log record each library delivered, decoded\n");
    for signal in Signal::ALL {
        for &lib in signal.libs() {
            for proto in Proto::ALL {
                if let Some((_, o)) = results.iter().find(|(c, o)| {
                    c.signal == signal && c.lib == lib && c.proto == proto && o.sample.is_some()
                }) {
                    let _ = writeln!(
                        w,
                        "- {} {} ({}): {}",
                        signal.id(),
                        lib.id(),
                        proto.id(),
                        o.sample.as_deref().unwrap_or_default().replace('|', "/")
                    );
                }
            }
        }
    }
    w
}

fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

fn child_main(args: &[String]) -> Res<()> {
    let i = args.iter().position(|a| a == "--case").ok_or("no --case")?;
    let word = |k: usize| args.get(i + k).map(String::as_str).unwrap_or_default();
    let signal = Signal::parse(word(1)).ok_or("unknown signal")?;
    let lib = Lib::parse(word(2)).ok_or("unknown library")?;
    let proto = Proto::parse(word(3)).ok_or("unknown protocol")?;
    let mode = Mode::parse(word(4)).ok_or("unknown mode")?;
    let num = |flag: &str| -> Res<f64> { Ok(arg_after(args, flag).ok_or(format!("no {flag}"))?.parse()?) };
    let port: u16 = arg_after(args, "--port").ok_or("no --port")?.parse()?;
    let s = Settings {
        secs: num("--secs")?,
        rate: num("--rate")?,
        producers: num("--producers")? as usize,
        flush_secs: num("--flush-secs")?,
        rss_cap_mb: num("--rss-cap-mb")? as u64,
        repeat: 1,
    };
    child(signal, lib, proto, mode, port, &s)
}

fn parent_main(args: &[String]) -> Res<bool> {
    let has = |f: &str| args.iter().any(|a| a == f);
    let full = has("--bench") && !has("--test") && !has("--list");
    let filters: Vec<&str> =
        args.iter().skip(1).filter(|a| !a.starts_with('-')).map(String::as_str).collect();
    let s = Settings::from_env(full);

    self_check()?;
    let counters = Arc::new(Counters::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("receiver")
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let port = listener.local_addr()?.port();
    rt.spawn(serve(listener, counters.clone()));

    let mut cases = Vec::new();
    for signal in Signal::ALL {
        for proto in Proto::ALL {
            for mode in if full { &Mode::ALL[..] } else { &[Mode::Paced][..] } {
                for &lib in signal.libs() {
                    let case = Case { signal, lib, proto, mode: *mode };
                    let id = case.id();
                    if filters.is_empty() || filters.iter().any(|f| id.contains(f)) {
                        cases.push(case);
                    }
                }
            }
        }
    }
    if has("--list") {
        for case in &cases {
            println!("{}: bench", case.id());
        }
        return Ok(true);
    }
    let load = loadavg();
    let mut results = Vec::new();
    for case in (0..s.repeat).flat_map(|_| cases.iter().copied()) {
        let id = case.id();
        eprintln!("export: {id} ({} s)", s.secs);
        let o = run_case(case, port, &s, &counters)?;
        eprintln!(
            "export: {id}: produced {}, delivered {}, {}",
            o.produced(),
            o.delivered,
            if o.note().is_empty() { "-".to_string() } else { o.note() }
        );
        results.push((case, o));
    }
    let text = report(&results, &s, full, &load);
    println!("\n{text}");
    if full {
        let dir = telemark_benches::target_dir().join("telemark-bench");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("export.md"), &text);
    }
    let mut ok = true;
    for signal in Signal::ALL {
        for &lib in signal.libs() {
            let ran: Vec<_> = results.iter().filter(|(c, _)| c.signal == signal && c.lib == lib).collect();
            if !ran.is_empty() && ran.iter().all(|(_, o)| o.delivered == 0) {
                eprintln!("export: {} delivered no {}", lib.id(), signal.id());
                ok = false;
            }
        }
    }
    rt.shutdown_background();
    Ok(ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--case") {
        let code = match child_main(&args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("export child: {e}");
                2
            }
        };
        // Leave without running the libraries' destructors (their threads may still hold on).
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    match parent_main(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("export: {e}");
            ExitCode::FAILURE
        }
    }
}
