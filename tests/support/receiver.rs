//! An in-process OTLP receiver (gRPC and HTTP/protobuf) for integration tests.
//!
//! The servers run on a background std thread that owns its own multi-thread Tokio runtime,
//! so a test may use any runtime flavor, or none. Everything received is kept in memory and
//! exposed as flattened [`Span`]s, [`Log`]s and [`MetricPoint`]s, and as the raw requests.
//!
//! Failures inside the servers (undecodable bodies, unknown paths, a crashed server thread)
//! never panic there: they are recorded, and dropping the [`Receiver`] panics with them unless
//! the test took them with [`Receiver::take_errors`] (or is already panicking).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer, SERVICE_NAME as LOGS_SERVICE_NAME,
};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer, SERVICE_NAME as METRICS_SERVICE_NAME,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer, SERVICE_NAME as TRACE_SERVICE_NAME,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::body::Body;
use tonic::codec::CompressionEncoding::Gzip;
use tonic::codegen::http::{self, header, HeaderMap, HeaderValue, StatusCode};
use tonic::codegen::{BoxFuture, Bytes, Context, Poll, Service};

use super::model::{
    flatten_logs, flatten_metrics, flatten_spans, metric_point_count, Log, MetricPoint, Span,
};
use super::WAIT;

/// How long `stop`/`Drop` lets in-flight requests finish before the connections are cut. Short:
/// a client that does not react to GOAWAY (say, a tonic channel on a `current_thread` runtime
/// whose only thread is the one blocked in `drop`) would otherwise hold the shutdown this long.
const GRACEFUL_SHUTDOWN: Duration = Duration::from_millis(250);
/// How long `start` waits for the server thread to come up.
const STARTUP_TIMEOUT: Duration = WAIT;

/// Which OTLP signal a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `/v1/traces` or `TraceService/Export`.
    Traces,
    /// `/v1/logs` or `LogsService/Export`.
    Logs,
    /// `/v1/metrics` or `MetricsService/Export`.
    Metrics,
}

/// One export request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// "grpc" or "http".
    pub transport: &'static str,
    /// Traces, logs or metrics.
    pub signal: Signal,
    /// Request headers (HTTP) or metadata (gRPC): lowercase names; repeated names joined
    /// with ", ".
    pub headers: BTreeMap<String, String>,
    /// Number of spans, log records or metric data points in the request.
    pub items: usize,
    /// False when the receiver answered with an error (see `set_http_status`,
    /// `set_grpc_error`); the items of a rejected request are not in `spans()`/`logs()`/
    /// `metric_points()`/the raw requests.
    pub accepted: bool,
}

/// What the servers answer; changeable while running.
#[derive(Clone, Debug)]
struct Behavior {
    http_status: u16,
    grpc_error: Option<tonic::Code>,
    delay: Duration,
    /// The next this many requests fail with `once` (then the above applies again).
    fail_next: usize,
    once: (u16, tonic::Code),
    /// `Retry-After` of a failing HTTP answer.
    retry_after: Option<&'static str>,
    /// A `RetryInfo` delay in the details of a failing gRPC answer.
    retry_info: Option<Duration>,
    /// Successful answers carry a `partial_success`: items rejected, and why.
    partial: Option<(u64, &'static str)>,
    /// Requests are counted (`requests()`), their items not kept (for measurements).
    count_only: bool,
    /// Failures (set or one-off) apply to this signal only; the others are answered normally.
    only: Option<Signal>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            http_status: 200,
            grpc_error: None,
            delay: Duration::ZERO,
            fail_next: 0,
            once: (200, tonic::Code::Ok),
            retry_after: None,
            retry_info: None,
            partial: None,
            count_only: false,
            only: None,
        }
    }
}

#[derive(Default)]
struct State {
    generation: u64,
    /// Requests whose client gave up during the delay.
    abandoned: usize,
    /// Requests waiting out the delay now, and the most there ever were at once.
    waiting: usize,
    most_waiting: usize,
    spans: Vec<Span>,
    logs: Vec<Log>,
    requests: Vec<RequestInfo>,
    raw_traces: Vec<ExportTraceServiceRequest>,
    raw_logs: Vec<ExportLogsServiceRequest>,
    metric_points: Vec<MetricPoint>,
    raw_metrics: Vec<ExportMetricsServiceRequest>,
    /// The body of every request read, as it was sent (gzip inflated; a gRPC message without its
    /// five-byte frame header), for checks that something never left the program.
    raw_bodies: Vec<Vec<u8>>,
    errors: Vec<String>,
    behavior: Behavior,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// The same news for waiters on a Tokio runtime.
    changed_async: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` inconsistent in a way that
        // matters to a test; keep going rather than cascade the panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut st = self.lock();
        f(&mut st);
        st.generation += 1;
        drop(st);
        self.changed.notify_all();
        self.changed_async.notify_waiters();
    }

    /// What to answer a request of `signal` (a one-off failure is used up by it).
    fn behavior(&self, signal: Signal) -> Behavior {
        let mut st = self.lock();
        let mut b = st.behavior.clone();
        if st.behavior.only.is_some_and(|only| only != signal) {
            (b.http_status, b.grpc_error) = (200, None);
            return b;
        }
        if st.behavior.fail_next > 0 {
            st.behavior.fail_next -= 1;
            (b.http_status, b.grpc_error) = (b.once.0, Some(b.once.1));
        }
        b
    }

    /// Waits out the configured delay before answering; a request whose client gives up meanwhile
    /// (the handler is dropped) is counted as abandoned.
    async fn delay(&self, delay: Duration) {
        struct Waiting<'a> {
            shared: &'a Shared,
            abandoned: bool,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                let abandoned = self.abandoned;
                self.shared.update(|st| {
                    st.waiting -= 1;
                    st.abandoned += usize::from(abandoned);
                });
            }
        }
        if delay.is_zero() {
            return;
        }
        self.update(|st| {
            st.waiting += 1;
            st.most_waiting = st.most_waiting.max(st.waiting);
        });
        let mut waiting = Waiting { shared: self, abandoned: true };
        tokio::time::sleep(delay).await;
        waiting.abandoned = false;
    }

    fn error(&self, msg: String) {
        self.update(|st| st.errors.push(msg));
    }

    /// Keeps a request's body as it was sent (not in count-only mode).
    fn keep_body(&self, body: &[u8]) {
        let mut st = self.lock();
        if !st.behavior.count_only {
            st.raw_bodies.push(body.to_vec());
        }
    }

    fn record_traces(
        &self,
        transport: &'static str,
        headers: BTreeMap<String, String>,
        req: ExportTraceServiceRequest,
        accepted: bool,
    ) {
        let spans = flatten_spans(&req, transport);
        self.update(|st| {
            st.requests.push(RequestInfo {
                transport,
                signal: Signal::Traces,
                headers,
                items: spans.len(),
                accepted,
            });
            if accepted && !st.behavior.count_only {
                st.spans.extend(spans);
                st.raw_traces.push(req);
            }
        });
    }

    fn record_logs(
        &self,
        transport: &'static str,
        headers: BTreeMap<String, String>,
        req: ExportLogsServiceRequest,
        accepted: bool,
    ) {
        let logs = flatten_logs(&req, transport);
        self.update(|st| {
            st.requests.push(RequestInfo {
                transport,
                signal: Signal::Logs,
                headers,
                items: logs.len(),
                accepted,
            });
            if accepted && !st.behavior.count_only {
                st.logs.extend(logs);
                st.raw_logs.push(req);
            }
        });
    }

    fn record_metrics(
        &self,
        transport: &'static str,
        headers: BTreeMap<String, String>,
        req: ExportMetricsServiceRequest,
        accepted: bool,
    ) {
        let items = metric_point_count(&req);
        self.update(|st| {
            st.requests.push(RequestInfo { transport, signal: Signal::Metrics, headers, items, accepted });
            if accepted {
                st.metric_points.extend(flatten_metrics(&req, transport, st.raw_metrics.len()));
                st.raw_metrics.push(req);
            }
        });
    }

    /// Blocks until `pred` holds on a snapshot (at most [`WAIT`], reached only when what is
    /// awaited never comes); returns the last snapshot. `pred` runs without the lock held, so it
    /// may call back into the receiver.
    fn wait<T: Clone>(
        &self,
        select: impl Fn(&State) -> Vec<T>,
        mut pred: impl FnMut(&[T]) -> bool,
    ) -> Vec<T> {
        let deadline = Instant::now() + WAIT;
        loop {
            let (snapshot, generation) = {
                let st = self.lock();
                (select(&st), st.generation)
            };
            if pred(&snapshot) {
                return snapshot;
            }
            let mut st = self.lock();
            while st.generation == generation {
                let now = Instant::now();
                if now >= deadline {
                    return snapshot;
                }
                st = match self.changed.wait_timeout(st, deadline - now) {
                    Ok((g, _)) => g,
                    Err(e) => e.into_inner().0,
                };
            }
        }
    }

    /// [`Shared::wait`] for a Tokio task: it awaits the news instead of blocking its thread.
    async fn wait_async<T: Clone>(
        &self,
        select: impl Fn(&State) -> Vec<T>,
        mut pred: impl FnMut(&[T]) -> bool,
    ) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Registered before looking, so news between the look and the await is not missed.
            let news = self.changed_async.notified();
            tokio::pin!(news);
            news.as_mut().enable();
            let snapshot = select(&self.lock());
            if pred(&snapshot) || tokio::time::timeout_at(deadline, news).await.is_err() {
                return snapshot;
            }
        }
    }
}

/// An OTLP receiver listening on two ports of 127.0.0.1: one for gRPC, one for HTTP/protobuf.
/// Shuts down when dropped.
pub struct Receiver {
    shared: Arc<Shared>,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
    /// While black-holed: the flag that ends it and the threads holding the two ports.
    hole: Option<(Arc<std::sync::atomic::AtomicBool>, Vec<JoinHandle<()>>)>,
}

/// Binds `addr` (again: std sets `SO_REUSEADDR`, so a port just closed can be taken back).
fn bind_at(addr: SocketAddr, what: &str) -> Result<StdTcpListener, String> {
    let l = StdTcpListener::bind(addr).map_err(|e| format!("binding the {what} listener at {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| format!("set_nonblocking on the {what} listener: {e}"))?;
    Ok(l)
}

impl Receiver {
    /// Starts both servers; panics (failing the test) if they cannot start.
    pub fn start() -> Receiver {
        match Self::try_start() {
            Ok(r) => r,
            Err(e) => panic!("OTLP test receiver failed to start: {e}"),
        }
    }

    /// Starts a receiver whose HTTP server answers every export with `status` (gRPC is
    /// unaffected). The requests are still recorded in `requests()`/`headers()`.
    pub fn start_failing_http(status: u16) -> Receiver {
        let r = Self::start();
        r.set_http_status(status);
        r
    }

    /// Starts a receiver whose gRPC server answers every export with `code` (HTTP is
    /// unaffected).
    pub fn start_failing_grpc(code: tonic::Code) -> Receiver {
        let r = Self::start();
        r.set_grpc_error(Some(code));
        r
    }

    /// Starts both servers.
    pub fn try_start() -> Result<Receiver, String> {
        let bind = |what: &str| -> Result<StdTcpListener, String> {
            let l = StdTcpListener::bind("127.0.0.1:0")
                .map_err(|e| format!("binding the {what} listener: {e}"))?;
            l.set_nonblocking(true).map_err(|e| format!("set_nonblocking on the {what} listener: {e}"))?;
            Ok(l)
        };
        let grpc_listener = bind("gRPC")?;
        let http_listener = bind("HTTP")?;
        let grpc_addr = grpc_listener.local_addr().map_err(|e| format!("local_addr: {e}"))?;
        let http_addr = http_listener.local_addr().map_err(|e| format!("local_addr: {e}"))?;

        let mut receiver = Receiver {
            shared: Arc::new(Shared::default()),
            grpc_addr,
            http_addr,
            shutdown: None,
            thread: None,
            hole: None,
        };
        receiver.spawn_servers(grpc_listener, http_listener)?;
        Ok(receiver)
    }

    /// Starts the server thread on these listeners and waits until it serves.
    fn spawn_servers(&mut self, grpc: StdTcpListener, http: StdTcpListener) -> Result<(), String> {
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread_shared = self.shared.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-test-receiver".into())
            .spawn(move || server_thread(thread_shared, grpc, http, shutdown_rx, ready_tx))
            .map_err(|e| format!("spawning the receiver thread: {e}"))?;
        self.shutdown = Some(shutdown_tx);
        self.thread = Some(thread);
        match ready_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(format!("receiver thread did not come up: {e}")),
        }
    }

    /// Takes the backend down: both servers stop (connections are cut) and nothing listens on
    /// their ports, so connections are refused, until [`Receiver::come_back`]. What was received
    /// stays readable.
    pub fn go_down(&mut self) {
        self.end_black_hole();
        self.stop_servers();
    }

    /// Takes the backend down as a black hole: its ports accept connections and never read from
    /// them or answer (a firewall that drops, a hung process), until [`Receiver::come_back`].
    pub fn black_hole(&mut self) {
        self.go_down();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for addr in [self.grpc_addr, self.http_addr] {
            let listener = match StdTcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => panic!("black_hole: binding {addr} again: {e}"),
            };
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                // Held, never read: the client's request waits for an answer that never comes.
                let mut held = Vec::new();
                for conn in listener.incoming() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(c) = conn {
                        held.push(c);
                    }
                }
            }));
        }
        self.hole = Some((stop, threads));
    }

    /// Brings the backend back on the same ports after [`Receiver::go_down`] or
    /// [`Receiver::black_hole`] (the connections a black hole held are closed).
    pub fn come_back(&mut self) {
        self.end_black_hole();
        self.stop_servers();
        let listeners =
            bind_at(self.grpc_addr, "gRPC").and_then(|g| bind_at(self.http_addr, "HTTP").map(|h| (g, h)));
        match listeners.and_then(|(g, h)| self.spawn_servers(g, h)) {
            Ok(()) => {}
            Err(e) => panic!("come_back: {e}"),
        }
    }

    fn end_black_hole(&mut self) {
        if let Some((stop, threads)) = self.hole.take() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            for (addr, t) in [self.grpc_addr, self.http_addr].into_iter().zip(threads) {
                // Wakes the accept loop, which sees the flag and ends (dropping what it held).
                let _ = std::net::TcpStream::connect(addr);
                let _ = t.join();
            }
        }
    }

    fn stop_servers(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                self.shared.error("the receiver's server thread panicked".to_owned());
            }
        }
    }

    /// `http://127.0.0.1:PORT` of the gRPC server (what `with_tonic().with_endpoint` takes).
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://127.0.0.1:PORT` of the HTTP server, without a path (what
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` takes; an endpoint given in code needs `/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// `http_endpoint()` + `/v1/traces`.
    pub fn http_traces_url(&self) -> String {
        format!("{}/v1/traces", self.http_endpoint())
    }

    /// `http_endpoint()` + `/v1/logs`.
    pub fn http_logs_url(&self) -> String {
        format!("{}/v1/logs", self.http_endpoint())
    }

    /// `http_endpoint()` + `/v1/metrics`.
    pub fn http_metrics_url(&self) -> String {
        format!("{}/v1/metrics", self.http_endpoint())
    }

    /// Every accepted span so far, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        self.shared.lock().spans.clone()
    }

    /// Every accepted log record so far, in arrival order.
    pub fn logs(&self) -> Vec<Log> {
        self.shared.lock().logs.clone()
    }

    /// The data points of every accepted metrics request so far, flattened, in arrival order
    /// (see [`MetricPoint::request`]; with cumulative metrics, the points of the last request
    /// are the current totals: [`Receiver::latest_metric_points`]).
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        self.shared.lock().metric_points.clone()
    }

    /// The data points of the last accepted metrics request (empty if none arrived).
    pub fn latest_metric_points(&self) -> Vec<MetricPoint> {
        let st = self.shared.lock();
        let last = st.raw_metrics.len().checked_sub(1);
        st.metric_points.iter().filter(|p| Some(p.request) == last).cloned().collect()
    }

    /// Accepted spans with this name.
    pub fn spans_named(&self, name: &str) -> Vec<Span> {
        self.spans().into_iter().filter(|s| s.name == name).collect()
    }

    /// Every export request so far (accepted or not), in arrival order.
    pub fn requests(&self) -> Vec<RequestInfo> {
        self.shared.lock().requests.clone()
    }

    /// The headers (HTTP) or metadata (gRPC) of every export request so far.
    pub fn headers(&self) -> Vec<BTreeMap<String, String>> {
        self.shared.lock().requests.iter().map(|r| r.headers.clone()).collect()
    }

    /// The body of every request the receiver read, any signal, accepted or not, as the exporter
    /// sent it: gzip inflated, and for gRPC the message without its frame header. Not the
    /// decoded protobuf: bytes, so a search in them finds whatever the program sent.
    pub fn raw_bodies(&self) -> Vec<Vec<u8>> {
        self.shared.lock().raw_bodies.clone()
    }

    /// The accepted trace requests, undecorated.
    pub fn raw_trace_requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.shared.lock().raw_traces.clone()
    }

    /// The accepted logs requests, undecorated.
    pub fn raw_logs_requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.shared.lock().raw_logs.clone()
    }

    /// The accepted metrics requests, undecorated, in arrival order.
    pub fn raw_metrics_requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.shared.lock().raw_metrics.clone()
    }

    /// Attribute keys that appear more than once on one span, span event, log record or metric
    /// point of what was received (the model's maps would hide them), as `what: key`.
    pub fn duplicate_keys(&self) -> Vec<String> {
        use opentelemetry_proto::tonic::common::v1::KeyValue;
        fn check(what: &str, kvs: &[KeyValue], out: &mut Vec<String>) {
            let mut seen = std::collections::BTreeSet::new();
            for kv in kvs {
                if !seen.insert(kv.key.as_str()) {
                    out.push(format!("{what}: {}", kv.key));
                }
            }
        }
        let st = self.shared.lock();
        let mut out = Vec::new();
        for rs in st.raw_traces.iter().flat_map(|r| &r.resource_spans) {
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                check(&format!("span {}", span.name), &span.attributes, &mut out);
                for e in &span.events {
                    check(&format!("event {} of span {}", e.name, span.name), &e.attributes, &mut out);
                }
            }
        }
        for rl in st.raw_logs.iter().flat_map(|r| &r.resource_logs) {
            for log in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                check(&format!("log record {:?}", log.body), &log.attributes, &mut out);
            }
        }
        out
    }

    /// Problems the servers met (bad content type, undecodable body, unknown path, …).
    pub fn errors(&self) -> Vec<String> {
        self.shared.lock().errors.clone()
    }

    /// Returns the recorded problems and forgets them, so that `Drop` does not panic over
    /// problems a test provoked on purpose.
    pub fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.lock().errors)
    }

    /// Forgets all spans, logs, metrics and requests received so far (not the errors); the
    /// next metrics request is again number 0.
    pub fn clear(&self) {
        self.shared.update(|st| {
            st.spans.clear();
            st.logs.clear();
            st.requests.clear();
            st.raw_traces.clear();
            st.raw_logs.clear();
            st.metric_points.clear();
            st.raw_metrics.clear();
            st.raw_bodies.clear();
        });
    }

    /// HTTP status for every following HTTP export (200 = normal). A 4xx/5xx reply has an
    /// empty body. 429, 502, 503 and 504 are retried by the OTLP exporter; other codes are not.
    pub fn set_http_status(&self, status: u16) {
        self.shared.update(|st| st.behavior.http_status = status);
    }

    /// The next `n` exports fail — HTTP ones with `http_status` (and `Retry-After:
    /// retry_after`, if given), gRPC ones with `grpc` — and the ones after them are answered as
    /// before: a backend that recovers.
    pub fn fail_next(
        &self,
        n: usize,
        http_status: u16,
        retry_after: Option<&'static str>,
        grpc: tonic::Code,
    ) {
        self.shared.update(|st| {
            st.behavior.fail_next = n;
            st.behavior.once = (http_status, grpc);
            st.behavior.retry_after = retry_after;
            st.behavior.retry_info = None;
        });
    }

    /// Like [`Receiver::fail_next`] for gRPC, with a `RetryInfo` of `delay` in the failing
    /// answers' details (`grpc-status-details-bin`), as a server that says when to come back.
    pub fn fail_next_with_retry_info(&self, n: usize, grpc: tonic::Code, delay: Duration) {
        self.shared.update(|st| {
            st.behavior.fail_next = n;
            st.behavior.once = (503, grpc);
            st.behavior.retry_info = Some(delay);
        });
    }

    /// Successful answers carry a `partial_success` saying `rejected` items were rejected
    /// (`None`: a plain success). The items are recorded as received.
    pub fn set_partial_success(&self, partial: Option<(u64, &'static str)>) {
        self.shared.update(|st| st.behavior.partial = partial);
    }

    /// Makes the failures set (`set_http_status`, `set_grpc_error`, `fail_next`) apply to
    /// `signal` only, the other signals being answered normally (`None`: to every signal).
    pub fn fail_only(&self, signal: Option<Signal>) {
        self.shared.update(|st| st.behavior.only = signal);
    }

    /// Counts requests (`requests()`, with their item counts) without keeping their spans and
    /// log records: for measurements of the sender's memory, which a receiver in the same process
    /// keeping millions of spans would drown.
    pub fn set_count_only(&self, on: bool) {
        self.shared.update(|st| st.behavior.count_only = on);
    }

    /// Waits until `n` requests are waiting out the delay at once (at most [`WAIT`]); returns
    /// the most that ever were.
    pub fn wait_waiting(&self, n: usize) -> usize {
        self.shared.wait(|st| vec![st.waiting], |w| w.first().is_some_and(|w| *w >= n));
        self.shared.lock().most_waiting
    }

    /// The most requests that ever waited out the delay at once.
    pub fn most_waiting(&self) -> usize {
        self.shared.lock().most_waiting
    }

    /// gRPC status for every following gRPC export (`None` = normal).
    pub fn set_grpc_error(&self, code: Option<tonic::Code>) {
        self.shared.update(|st| st.behavior.grpc_error = code);
    }

    /// Delay before answering every following export, on both transports (a slow backend).
    /// The request is recorded only once the delay has passed, and not at all if the client
    /// gave up and closed the connection or stream before.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.update(|st| st.behavior.delay = delay);
    }

    /// Waits until `pred(spans)` holds (at most [`WAIT`]), then returns the spans (whether or
    /// not it held, so that the test's own assertion shows what arrived). For what telemark
    /// sends, prefer `telemark::flush` — a barrier — and [`Receiver::spans`]; this is for senders
    /// without one (another process, the OpenTelemetry SDK). Blocks the calling thread: from a
    /// `current_thread` Tokio test whose exporter runs on the test's runtime, use
    /// [`Receiver::wait_spans_async`].
    pub fn wait_spans(&self, pred: impl FnMut(&[Span]) -> bool) -> Vec<Span> {
        self.shared.wait(|st| st.spans.clone(), pred)
    }

    /// Waits until at least `n` spans arrived; returns the spans.
    pub fn wait_span_count(&self, n: usize) -> Vec<Span> {
        self.wait_spans(|s| s.len() >= n)
    }

    /// Waits for a span with this name; `None` if none arrived.
    pub fn wait_span_named(&self, name: &str) -> Option<Span> {
        self.wait_spans(|s| s.iter().any(|s| s.name == name)).into_iter().find(|s| s.name == name)
    }

    /// Like [`Receiver::wait_spans`], for logs.
    pub fn wait_logs(&self, pred: impl FnMut(&[Log]) -> bool) -> Vec<Log> {
        self.shared.wait(|st| st.logs.clone(), pred)
    }

    /// Waits until at least `n` log records arrived; returns the logs.
    pub fn wait_log_count(&self, n: usize) -> Vec<Log> {
        self.wait_logs(|l| l.len() >= n)
    }

    /// Like [`Receiver::wait_spans`], for the accepted metrics requests (raw).
    pub fn wait_metrics(
        &self,
        pred: impl FnMut(&[ExportMetricsServiceRequest]) -> bool,
    ) -> Vec<ExportMetricsServiceRequest> {
        self.shared.wait(|st| st.raw_metrics.clone(), pred)
    }

    /// Like [`Receiver::wait_spans`], for the flattened metric points of all accepted metrics
    /// requests (what [`Receiver::metric_points`] returns).
    pub fn wait_metric_points(&self, pred: impl FnMut(&[MetricPoint]) -> bool) -> Vec<MetricPoint> {
        self.shared.wait(|st| st.metric_points.clone(), pred)
    }

    /// Like [`Receiver::wait_spans`], for requests (accepted or not).
    pub fn wait_requests(&self, pred: impl FnMut(&[RequestInfo]) -> bool) -> Vec<RequestInfo> {
        self.shared.wait(|st| st.requests.clone(), pred)
    }

    /// Waits until `n` requests were abandoned by their client during the delay (see
    /// [`Receiver::set_delay`]); returns how many were.
    pub async fn wait_abandoned(&self, n: usize) -> usize {
        self.shared.wait_async(|st| vec![(); st.abandoned], |a| a.len() >= n).await.len()
    }

    /// [`Receiver::wait_spans`] that awaits on the caller's Tokio runtime instead of blocking the
    /// thread.
    pub async fn wait_spans_async(&self, pred: impl FnMut(&[Span]) -> bool) -> Vec<Span> {
        self.shared.wait_async(|st| st.spans.clone(), pred).await
    }

    /// [`Receiver::wait_logs`] that awaits on the caller's Tokio runtime.
    pub async fn wait_logs_async(&self, pred: impl FnMut(&[Log]) -> bool) -> Vec<Log> {
        self.shared.wait_async(|st| st.logs.clone(), pred).await
    }

    /// Stops both servers now (in-flight requests get 250 ms, then connections are cut); later
    /// exports fail to connect. What was received stays readable. Dropping does this too.
    pub fn stop(&mut self) {
        self.end_black_hole();
        self.stop_servers();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
        let errors = self.take_errors();
        if !errors.is_empty() && !std::thread::panicking() {
            panic!(
                "the OTLP test receiver recorded {} problem(s) (take them with \
                 Receiver::take_errors() if they are expected):\n  {}",
                errors.len(),
                errors.join("\n  ")
            );
        }
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("grpc", &self.grpc_addr)
            .field("http", &self.http_addr)
            .finish_non_exhaustive()
    }
}

fn server_thread(
    shared: Arc<Shared>,
    grpc_listener: StdTcpListener,
    http_listener: StdTcpListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    telemark_runtime::host::mark_internal();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("otlp-test-receiver-worker")
        // The receiver stands for a remote collector: its tonic/hyper/h2 events are not the
        // program's, and at `trace` level would otherwise be exported to it, in a loop.
        .on_thread_start(telemark_runtime::host::mark_internal)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("building the receiver's Tokio runtime: {e}")));
            return;
        }
    };

    rt.block_on(async move {
        let listeners = tokio::net::TcpListener::from_std(grpc_listener)
            .and_then(|g| tokio::net::TcpListener::from_std(http_listener).map(|h| (g, h)));
        let (grpc_listener, http_listener) = match listeners {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(format!("registering the listeners with Tokio: {e}")));
                return;
            }
        };

        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            // Err means the sender is gone: the Receiver was dropped, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let sink = Arc::new(GrpcSink { shared: shared.clone() });
        let grpc = tonic::transport::Server::builder().serve_with_incoming_shutdown(
            GrpcRouter {
                shared: shared.clone(),
                traces: TraceServiceServer::from_arc(sink.clone()).accept_compressed(Gzip),
                logs: LogsServiceServer::from_arc(sink.clone()).accept_compressed(Gzip),
                metrics: MetricsServiceServer::from_arc(sink).accept_compressed(Gzip),
            },
            tonic::transport::server::TcpIncoming::from(grpc_listener),
            stopped(shutdown.clone()),
        );
        // tonic's server with HTTP/1 enabled serves HTTP/1.1 and h2c on one port; the service
        // is plain HTTP (OTLP/HTTP), not gRPC.
        let http = tonic::transport::Server::builder().accept_http1(true).serve_with_incoming_shutdown(
            HttpHandler { shared: shared.clone() },
            tonic::transport::server::TcpIncoming::from(http_listener),
            stopped(shutdown.clone()),
        );

        let _ = ready.send(Ok(()));

        let both = async {
            let (g, h) = tokio::join!(grpc, http);
            if let Err(e) = g {
                shared.error(format!("gRPC server failed: {e}"));
            }
            if let Err(e) = h {
                shared.error(format!("HTTP server failed: {e}"));
            }
        };
        let deadline = async {
            stopped(shutdown.clone()).await;
            tokio::time::sleep(GRACEFUL_SHUTDOWN).await;
        };
        tokio::select! {
            () = both => {}
            () = deadline => {}
        }
    });
    // Whatever connection tasks are left are cut off here.
    rt.shutdown_timeout(Duration::from_millis(500));
}

/// An export response's `partial_success` (field 1: rejected items = 1, `error_message` = 2), the
/// same in the three signals' responses.
fn partial_success((rejected, message): (u64, &str)) -> Vec<u8> {
    let mut inner = Vec::new();
    inner.push(0x08);
    varint(&mut inner, rejected);
    inner.push(0x12);
    varint(&mut inner, message.len() as u64);
    inner.extend_from_slice(message.as_bytes());
    let mut out = vec![0x0a];
    varint(&mut out, inner.len() as u64);
    out.extend(inner);
    out
}

/// A `google.rpc.Status` whose details hold a `RetryInfo` of `delay`.
fn retry_info_status(code: tonic::Code, delay: Duration) -> Vec<u8> {
    let field = |out: &mut Vec<u8>, tag: u8, bytes: &[u8]| {
        out.push(tag);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    };
    let mut duration = vec![0x08];
    varint(&mut duration, delay.as_secs());
    duration.push(0x10);
    varint(&mut duration, u64::from(delay.subsec_nanos()));
    let mut info = Vec::new();
    field(&mut info, 0x0a, &duration);
    let mut any = Vec::new();
    field(&mut any, 0x0a, b"type.googleapis.com/google.rpc.RetryInfo");
    field(&mut any, 0x12, &info);
    let mut status = vec![0x08];
    varint(&mut status, code as u64);
    field(&mut status, 0x1a, &any);
    status
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// gRPC

struct GrpcSink {
    shared: Arc<Shared>,
}

impl GrpcSink {
    /// One export call, the same for every signal: apply the configured delay and failure, then
    /// record the request with `record` (as rejected when failing).
    async fn handle<Req, Resp: Message + Default>(
        &self,
        signal: Signal,
        request: tonic::Request<Req>,
        record: fn(&Shared, &'static str, BTreeMap<String, String>, Req, bool),
    ) -> Result<tonic::Response<Resp>, tonic::Status> {
        let behavior = self.shared.behavior(signal);
        let headers = header_map(&request.metadata().clone().into_headers());
        self.shared.delay(behavior.delay).await;
        let req = request.into_inner();
        record(&self.shared, "grpc", headers, req, behavior.grpc_error.is_none());
        match (behavior.grpc_error, behavior.retry_info) {
            (Some(code), None) => Err(tonic::Status::new(code, "test receiver set to fail")),
            (Some(code), Some(delay)) => Err(tonic::Status::with_details(
                code,
                "test receiver set to fail",
                Bytes::from(retry_info_status(code, delay)),
            )),
            (None, _) => Ok(tonic::Response::new(
                behavior
                    .partial
                    .and_then(|p| Resp::decode(partial_success(p).as_slice()).ok())
                    .unwrap_or_default(),
            )),
        }
    }
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.handle(Signal::Traces, request, Shared::record_traces).await
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.handle(Signal::Logs, request, Shared::record_logs).await
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.handle(Signal::Metrics, request, Shared::record_metrics).await
    }
}

/// Routes by gRPC service name (what tonic's `Router` does, without pulling in axum).
#[derive(Clone)]
struct GrpcRouter {
    shared: Arc<Shared>,
    traces: TraceServiceServer<GrpcSink>,
    logs: LogsServiceServer<GrpcSink>,
    metrics: MetricsServiceServer<GrpcSink>,
}

impl Service<http::Request<Body>> for GrpcRouter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let path = req.uri().path();
        let service =
            path.strip_prefix('/').and_then(|p| p.split_once('/')).map(|(service, _method)| service);
        let mut this = self.clone();
        match service {
            Some(name @ (TRACE_SERVICE_NAME | LOGS_SERVICE_NAME | METRICS_SERVICE_NAME)) => {
                let name = name.to_owned();
                Box::pin(async move {
                    // Kept as sent, then handed on unchanged.
                    let (parts, body) = req.into_parts();
                    let bytes = match body.collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(e) => {
                            this.shared.error(format!("gRPC {name}: reading the body failed: {e}"));
                            return Ok(tonic::Status::internal("unreadable body").into_http());
                        }
                    };
                    grpc_messages(&this.shared, &bytes);
                    let req = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
                    match name.as_str() {
                        TRACE_SERVICE_NAME => this.traces.call(req).await,
                        LOGS_SERVICE_NAME => this.logs.call(req).await,
                        _ => this.metrics.call(req).await,
                    }
                })
            }
            _ => {
                self.shared.error(format!(
                    "gRPC call to unknown method {path} (this receiver serves traces, logs and metrics)"
                ));
                let status = tonic::Status::unimplemented(format!("no such method: {path}"));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

/// Keeps each message of a gRPC body (its frames: a compressed flag, a 4-byte length, the
/// message, gzip inflated when flagged).
fn grpc_messages(shared: &Shared, mut body: &[u8]) {
    while body.len() >= 5 {
        let compressed = body[0] == 1;
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let Some(message) = body.get(5..5 + len) else {
            shared.error(format!("gRPC: a frame of {len} bytes in a body of {}", body.len()));
            return;
        };
        if compressed {
            let mut plain = Vec::new();
            match std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(message), &mut plain) {
                Ok(_) => shared.keep_body(&plain),
                Err(e) => shared.error(format!("gRPC: a compressed message does not inflate: {e}")),
            }
        } else {
            shared.keep_body(message);
        }
        body = &body[5 + len..];
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/protobuf

#[derive(Clone)]
struct HttpHandler {
    shared: Arc<Shared>,
}

impl Service<http::Request<Body>> for HttpHandler {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { Ok(handle_http(&shared, req).await) })
    }
}

fn http_response(status: u16, body: Vec<u8>) -> http::Response<Body> {
    let mut resp = http::Response::new(Body::new(Full::new(Bytes::from(body))));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
    resp
}

async fn handle_http(shared: &Shared, req: http::Request<Body>) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    let what = format!("HTTP {} {}", parts.method, parts.uri);
    let signal = match parts.uri.path() {
        "/v1/traces" => Signal::Traces,
        "/v1/logs" => Signal::Logs,
        "/v1/metrics" => Signal::Metrics,
        other => {
            shared.error(format!(
                "{what}: no such OTLP path {other:?} (an HTTP endpoint given in code must end \
                 with /v1/traces, /v1/logs or /v1/metrics)"
            ));
            return http_response(404, Vec::new());
        }
    };
    if parts.method != http::Method::POST {
        shared.error(format!("{what}: method must be POST"));
        return http_response(405, Vec::new());
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-protobuf") {
        shared.error(format!(
            "{what}: content-type {content_type:?} is not supported (only application/x-protobuf)"
        ));
        return http_response(415, Vec::new());
    }
    let gzip = match parts.headers.get(header::CONTENT_ENCODING).map(|v| v.as_bytes()) {
        None | Some(b"identity") => false,
        Some(b"gzip") => true,
        Some(enc) => {
            shared.error(format!("{what}: content-encoding {enc:?} is not supported by the test receiver"));
            return http_response(415, Vec::new());
        }
    };
    let mut bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            shared.error(format!("{what}: reading the body failed: {e}"));
            return http_response(400, Vec::new());
        }
    };
    if gzip {
        let mut plain = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain)
        {
            shared.error(format!("{what}: the gzip body does not inflate: {e}"));
            return http_response(400, Vec::new());
        }
        bytes = Bytes::from(plain);
    }
    shared.keep_body(&bytes);
    let headers = header_map(&parts.headers);
    let behavior = shared.behavior(signal);
    shared.delay(behavior.delay).await;
    let accepted = (200..300).contains(&behavior.http_status);
    /// Decodes the body as `Req`, records it and answers with an encoded `Resp`.
    fn decode<Req: Message + Default, Resp: Message + Default>(
        shared: &Shared,
        what: &str,
        bytes: Bytes,
        record: impl FnOnce(Req),
    ) -> Option<Vec<u8>> {
        match Req::decode(bytes) {
            Ok(r) => {
                record(r);
                Some(Resp::default().encode_to_vec())
            }
            Err(e) => {
                let name = std::any::type_name::<Req>().rsplit("::").next().unwrap_or_default();
                shared.error(format!("{what}: body is not an {name}: {e}"));
                None
            }
        }
    }
    let ok_body = match signal {
        Signal::Traces => decode::<_, ExportTraceServiceResponse>(shared, &what, bytes, |r| {
            shared.record_traces("http", headers, r, accepted)
        }),
        Signal::Logs => decode::<_, ExportLogsServiceResponse>(shared, &what, bytes, |r| {
            shared.record_logs("http", headers, r, accepted)
        }),
        Signal::Metrics => decode::<_, ExportMetricsServiceResponse>(shared, &what, bytes, |r| {
            shared.record_metrics("http", headers, r, accepted)
        }),
    };
    let Some(ok_body) = ok_body else { return http_response(400, Vec::new()) };
    let ok_body = behavior.partial.map_or(ok_body, partial_success);
    if accepted {
        http_response(behavior.http_status, ok_body)
    } else {
        let mut resp = http_response(behavior.http_status, Vec::new());
        if let Some(after) = behavior.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(after));
        }
        resp
    }
}
