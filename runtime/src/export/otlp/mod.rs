//! OTLP export of spans, logs and metrics over gRPC or HTTP/protobuf: one thread telemark owns,
//! with one single-threaded tokio runtime and one client (`client`: one connection, one set of
//! headers) for the three signals. Spans and logs are batched from what the collector hands
//! over; the per-function metrics are encoded from their tables (`metrics`) and pushed every
//! `metrics.export_interval` and once more at shutdown. `health` says on stderr when export
//! fails and when it recovers.
//!
//! Owning the runtime avoids the traps of the SDK's batch processors (deadlocks on current-thread
//! and one-worker runtimes, silent loss when the caller's runtime is gone): nothing here depends on
//! whether, or which, runtime the application runs.

mod client;
pub(crate) mod health;
mod metrics;

use super::{ExportError, Exporter, FinishedSpan, LogEntry};
use crate::caller::callsite::{SpanKind, Status};
use crate::caller::value::Value;
use crate::config::Protocol;
use crate::stats::STATS;
use health::{cause, Health, Signal};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{self as otel, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Everything the OTLP exporter needs.
#[derive(Clone, Debug)]
pub(crate) struct OtlpSettings {
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub max_queue: usize,
    pub max_batch: usize,
    pub delay: Duration,
    pub resource: Resource,
    /// How often the per-function metrics are pushed; `None`: they are not (`metrics.enabled`).
    pub metrics_every: Option<Duration>,
    /// Shared by the span, log and metric senders: one line when the endpoint fails, one when it
    /// recovers.
    pub health: Arc<Health>,
}

enum Msg {
    Data(Vec<SpanData>, Vec<SdkLogRecord>),
    Flush(SyncSender<()>),
    Shutdown(SyncSender<()>, Instant),
}

/// Set when an OTLP exporter's shutdown ran out of time with items still queued: the pipeline
/// being stopped did not deliver everything (`Guard::shutdown_within` says so).
pub(crate) static GAVE_UP: AtomicBool = AtomicBool::new(false);

pub(crate) struct Otlp {
    tx: SyncSender<Msg>,
    queued: Arc<AtomicUsize>,
    max_queue: usize,
    scope: InstrumentationScope,
    logger: opentelemetry_sdk::logs::SdkLogger,
    _provider: SdkLoggerProvider,
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("telemark").with_version(env!("CARGO_PKG_VERSION")).build()
}

impl Otlp {
    /// Starts the export thread; fails if the exporters cannot be built (bad endpoint).
    pub(crate) fn start(s: OtlpSettings) -> Result<Otlp, String> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(1024);
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), String>>(1);
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        let settings = s.clone();
        std::thread::Builder::new()
            .name("telemark-otlp".into())
            .spawn(move || sender(settings, rx, ready_tx, q))
            .map_err(|e| format!("cannot start the OTLP export thread: {e}"))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("the OTLP export thread did not start".into()),
        }
        let provider = SdkLoggerProvider::builder().build();
        let logger = provider.logger("telemark");
        Ok(Otlp { tx, queued, max_queue: s.max_queue, scope: scope(), logger, _provider: provider })
    }

    /// Sends a command and waits for its acknowledgement until `deadline`; false on timeout.
    fn wait(&self, make: impl FnOnce(SyncSender<()>) -> Msg, deadline: Instant) -> bool {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        self.tx.send(make(ack_tx)).is_ok()
            && ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok()
    }
}

impl Exporter for Otlp {
    fn export(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> Result<(), ExportError> {
        let n = spans.len() + logs.len();
        if self.queued.load(Relaxed) + n > self.max_queue {
            STATS.spans_dropped.fetch_add(spans.len() as u64, Relaxed);
            STATS.logs_dropped.fetch_add(logs.len() as u64, Relaxed);
            return Err(ExportError("OTLP export queue full".into()));
        }
        let span_data: Vec<SpanData> = spans.iter().map(|s| to_span_data(s, &self.scope)).collect();
        let log_data: Vec<SdkLogRecord> = logs.iter().map(|l| to_log_record(l, &self.logger)).collect();
        self.queued.fetch_add(n, Relaxed);
        STATS.queue_depth.fetch_add(n as u64, Relaxed);
        match self.tx.try_send(Msg::Data(span_data, log_data)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(n, Relaxed);
                STATS.queue_depth.fetch_sub(n as u64, Relaxed);
                STATS.spans_dropped.fetch_add(spans.len() as u64, Relaxed);
                STATS.logs_dropped.fetch_add(logs.len() as u64, Relaxed);
                Err(ExportError("OTLP export thread is not keeping up".into()))
            }
        }
    }

    fn flush(&mut self, deadline: Instant) {
        self.wait(Msg::Flush, deadline);
    }

    fn shutdown(&mut self, deadline: Instant) {
        if !self.wait(|ack| Msg::Shutdown(ack, deadline), deadline) || self.queued.load(Relaxed) > 0 {
            GAVE_UP.store(true, Relaxed);
        }
    }
}

fn sender(
    s: OtlpSettings,
    rx: mpsc::Receiver<Msg>,
    ready: SyncSender<Result<(), String>>,
    queued: Arc<AtomicUsize>,
) {
    crate::caller::thread::mark_internal();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot start the OTLP runtime: {e}")));
            return;
        }
    };
    let built = {
        let _enter = rt.enter();
        client::build(&s)
    };
    let client::Client { spans: span_exp, logs: log_exp, metrics: mut metrics_client } = match built {
        Ok(e) => {
            let _ = ready.send(Ok(()));
            e
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let scope = scope();
    let resource = metrics::resource(&s.resource);
    // Counts run from the first `init` of the process (a later `init` does not reset them).
    let started = crate::metrics::started();
    let push_metrics = |client: &mut client::MetricsClient, deadline: Option<Instant>| {
        let req = metrics::request(
            &crate::metrics::snapshot(),
            &crate::metrics::exception_counts(),
            &resource,
            started,
            SystemTime::now(),
        );
        let timeout =
            deadline.map_or(s.timeout, |d| d.saturating_duration_since(Instant::now()).min(s.timeout));
        match rt.block_on(async { tokio::time::timeout(timeout, client.send(req)).await }) {
            Ok(Ok(())) => s.health.delivered(Signal::Metrics),
            Ok(Err(cause)) => {
                STATS.export_failures.fetch_add(1, Relaxed);
                s.health.failed(Signal::Metrics, &cause, 1);
            }
            Err(_) => {
                STATS.export_failures.fetch_add(1, Relaxed);
                s.health.failed(Signal::Metrics, &no_answer(timeout), 1);
            }
        }
    };
    let mut next_push = s.metrics_every.map(|every| Instant::now() + every);
    let mut spans: Vec<SpanData> = Vec::new();
    let mut logs: Vec<SdkLogRecord> = Vec::new();
    let mut first: Option<Instant> = None;
    let export_all = |spans: &mut Vec<SpanData>, logs: &mut Vec<SdkLogRecord>| {
        while !spans.is_empty() {
            let chunk: Vec<SpanData> = spans.drain(..spans.len().min(s.max_batch)).collect();
            let n = chunk.len();
            let r = rt.block_on(async {
                tokio::time::timeout(s.timeout + Duration::from_secs(1), span_exp.export(chunk)).await
            });
            settle(&queued, n);
            match r {
                Ok(Ok(())) => {
                    STATS.spans_exported.fetch_add(n as u64, Relaxed);
                    s.health.delivered(Signal::Spans);
                }
                Ok(Err(e)) => failed(&s.health, Signal::Spans, &cause(&e), n, &STATS.spans_dropped),
                Err(_) => failed(&s.health, Signal::Spans, &no_answer(s.timeout), n, &STATS.spans_dropped),
            };
        }
        while !logs.is_empty() {
            let chunk: Vec<SdkLogRecord> = logs.drain(..logs.len().min(s.max_batch)).collect();
            let n = chunk.len();
            let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
                chunk.iter().map(|r| (r, &scope)).collect();
            let r = rt.block_on(async {
                tokio::time::timeout(s.timeout + Duration::from_secs(1), log_exp.export(LogBatch::new(&refs)))
                    .await
            });
            settle(&queued, n);
            match r {
                Ok(Ok(())) => {
                    STATS.logs_exported.fetch_add(n as u64, Relaxed);
                    s.health.delivered(Signal::Logs);
                }
                Ok(Err(e)) => failed(&s.health, Signal::Logs, &cause(&e), n, &STATS.logs_dropped),
                Err(_) => failed(&s.health, Signal::Logs, &no_answer(s.timeout), n, &STATS.logs_dropped),
            };
        }
    };
    loop {
        let batch_due = first.map(|t| t + s.delay);
        let wake = match (batch_due, next_push) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = wake.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(wait) {
            Ok(Msg::Data(sd, ld)) => {
                spans.extend(sd);
                logs.extend(ld);
                first.get_or_insert_with(Instant::now);
                if spans.len() >= s.max_batch || logs.len() >= s.max_batch {
                    export_all(&mut spans, &mut logs);
                    first = None;
                }
            }
            Ok(Msg::Flush(ack)) => {
                export_all(&mut spans, &mut logs);
                first = None;
                let _ = ack.send(());
            }
            Ok(Msg::Shutdown(ack, deadline)) => {
                export_all(&mut spans, &mut logs);
                // The final values: the collector processed everything recorded before this.
                if s.metrics_every.is_some() {
                    push_metrics(&mut metrics_client, Some(deadline));
                }
                let _ = span_exp.shutdown_with_timeout(Duration::from_secs(1));
                let _ = log_exp.shutdown_with_timeout(Duration::from_secs(1));
                let _ = ack.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if batch_due.is_some_and(|t| t <= now) {
                    export_all(&mut spans, &mut logs);
                    first = None;
                }
                if let (Some(due), Some(every)) = (next_push, s.metrics_every) {
                    if due <= now {
                        push_metrics(&mut metrics_client, None);
                        next_push = Some(Instant::now() + every);
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                export_all(&mut spans, &mut logs);
                return;
            }
        }
    }
}

/// Counts a batch of `n` items that could not be sent, and tells `health`.
fn failed(health: &Health, signal: Signal, cause: &str, n: usize, dropped: &std::sync::atomic::AtomicU64) {
    STATS.export_failures.fetch_add(1, Relaxed);
    dropped.fetch_add(n as u64, Relaxed);
    health.failed(signal, cause, n as u64);
}

/// The cause of an export that did not finish in time.
pub(crate) fn no_answer(timeout: Duration) -> String {
    format!("no answer within {}", telemark_grammar::format_duration(timeout))
}

fn settle(queued: &AtomicUsize, n: usize) {
    queued.fetch_sub(n.min(queued.load(Relaxed)), Relaxed);
    let depth = STATS.queue_depth.load(Relaxed);
    STATS.queue_depth.fetch_sub((n as u64).min(depth), Relaxed);
}

fn time(unix_nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nanos)
}

fn key_value(k: &str, v: &Value) -> KeyValue {
    let key = opentelemetry::Key::from(k.to_string());
    match v {
        Value::Str(s) => KeyValue::new(key, s.to_string()),
        Value::I64(i) => KeyValue::new(key, *i),
        Value::F64(f) => KeyValue::new(key, *f),
        Value::Bool(b) => KeyValue::new(key, *b),
    }
}

fn any_value(v: &Value) -> AnyValue {
    match v {
        Value::Str(s) => AnyValue::String(s.to_string().into()),
        Value::I64(i) => AnyValue::Int(*i),
        Value::F64(f) => AnyValue::Double(*f),
        Value::Bool(b) => AnyValue::Boolean(*b),
    }
}

pub(crate) fn to_span_data(s: &FinishedSpan, scope: &InstrumentationScope) -> SpanData {
    let trace_state = s.trace_state.as_deref().and_then(|t| TraceState::from_str(t).ok()).unwrap_or_default();
    SpanData {
        span_context: otel::SpanContext::new(
            otel::TraceId::from_bytes(s.trace_id.to_bytes()),
            otel::SpanId::from_bytes(s.span_id.to_bytes()),
            TraceFlags::SAMPLED,
            false,
            trace_state,
        ),
        parent_span_id: s
            .parent_span_id
            .map(|p| otel::SpanId::from_bytes(p.to_bytes()))
            .unwrap_or(otel::SpanId::INVALID),
        parent_span_is_remote: s.parent_is_remote,
        span_kind: match s.kind {
            SpanKind::Internal => otel::SpanKind::Internal,
            SpanKind::Server => otel::SpanKind::Server,
            SpanKind::Client => otel::SpanKind::Client,
            SpanKind::Producer => otel::SpanKind::Producer,
            SpanKind::Consumer => otel::SpanKind::Consumer,
        },
        name: s.name.clone(),
        start_time: time(s.start_unix_nanos),
        end_time: time(s.end_unix_nanos),
        attributes: s
            .code
            .attributes()
            .map(|(k, v)| key_value(k, &v))
            .chain(s.attributes.iter().map(|(k, v)| key_value(k, v)))
            .collect(),
        dropped_attributes_count: s.dropped_attributes,
        events: span_events(s),
        links: SpanLinks::default(),
        status: match &s.status {
            Status::Unset => otel::Status::Unset,
            Status::Ok => otel::Status::Ok,
            Status::Error(m) => otel::Status::error(m.clone()),
        },
        instrumentation_scope: scope.clone(),
    }
}

fn span_events(s: &FinishedSpan) -> SpanEvents {
    let mut events = SpanEvents::default();
    events.events = s
        .events
        .iter()
        .map(|e| {
            otel::Event::new(
                e.name.clone(),
                time(e.time_unix_nanos),
                e.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
                0,
            )
        })
        .collect();
    events
}

fn to_log_record(l: &LogEntry, logger: &opentelemetry_sdk::logs::SdkLogger) -> SdkLogRecord {
    let mut r = logger.create_log_record();
    r.set_timestamp(time(l.time_unix_nanos));
    r.set_observed_timestamp(SystemTime::now());
    r.set_severity_number(match l.level {
        crate::Level::Trace => Severity::Trace,
        crate::Level::Debug => Severity::Debug,
        crate::Level::Info => Severity::Info,
        crate::Level::Warn => Severity::Warn,
        crate::Level::Error => Severity::Error,
    });
    r.set_severity_text(l.level.severity_text());
    r.set_target(l.target);
    r.set_body(AnyValue::String(l.message.clone().into()));
    for (k, v) in &l.attributes {
        r.add_attribute(opentelemetry::Key::from(k.to_string()), any_value(v));
    }
    if let Some(f) = l.file {
        r.add_attribute("code.file.path", f);
    }
    if let Some(line) = l.line {
        r.add_attribute("code.line.number", line as i64);
    }
    if let (Some(t), Some(sp)) = (l.trace_id, l.span_id) {
        r.set_trace_context(
            otel::TraceId::from_bytes(t.to_bytes()),
            otel::SpanId::from_bytes(sp.to_bytes()),
            Some(TraceFlags::SAMPLED),
        );
    }
    r
}
