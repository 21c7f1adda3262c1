//! OTLP export of spans, logs and metrics over gRPC or HTTP/protobuf.
//!
//! On telemark's collector thread, [`Otlp::export`] writes each span and log record as protobuf
//! bytes straight into its batch's reusable buffer (`encode`, `wire`); a full batch (or one
//! older than `export.delay`) is sealed into one finished request body and queued: per signal, a
//! FIFO of sealed batches ([`Backlog`]). One thread telemark owns (`telemark-otlp`, one
//! single-threaded tokio runtime, one client: `transport`) runs one sender per signal, so that a
//! signal being retried never holds back another. A healthy sender keeps up to [`IN_FLIGHT`]
//! requests in flight; a failing one sends one request at a time (the probe), after an
//! exponential backoff with jitter capped at [`MAX_BACKOFF`] (a server's `Retry-After` or
//! `RetryInfo` is honoured up to [`MAX_SERVER_DELAY`]), so that export resumes within about a
//! second of the backend's return; then the backlog drains in order, and concurrency returns. A
//! retryable failure puts the batch back at the front of its FIFO; a final answer drops it
//! (`rejected`); a batch older than `export.max_retry_time` is dropped (`retries_exhausted`).
//! The per-function metrics are encoded from their tables (`metrics`) on that thread and pushed
//! every `metrics.export_interval` and once more at shutdown; a push that fails is not kept (the
//! counts are cumulative: the next push carries them). `health` says on stderr when export fails
//! and when it recovers.
//!
//! Memory is bounded by bytes (`export.max_queue_bytes`) and items (`export.max_queue`) over
//! everything queued or being sent: past either, the **oldest** batches are dropped and counted
//! (`queue_full`) — the collector never waits and the caller never blocks. Every span and log
//! record handed over is, in the end, exported or dropped for a counted reason
//! ([`crate::stats()`]). Owning the runtime avoids the traps of the SDK's batch processors
//! (deadlocks on current-thread and one-worker runtimes, silent loss when the caller's runtime
//! is gone).

mod encode;
mod gather;
pub(crate) mod health;
mod metrics;
mod transport;
mod wire;

use super::view::{LogView, SpanView};
use super::{ExportError, Exporter, FinishedSpan, LogEntry, RecordExporter};
use crate::config::Protocol;
use crate::stats::{count_dropped, count_failure, Item, Reason, STATS};
use bytes::Bytes;
use encode::{Envelope, Scoped};
use health::{Health, Signal};
use std::collections::VecDeque;
use std::future::{poll_fn, Future as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self as std_mpsc, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use transport::{Accepted, Failed, Retry, Transport};

/// Requests of one signal sent at once at most, when the backend is healthy but slower than
/// telemark.
pub(crate) const IN_FLIGHT: usize = 4;
/// The first wait before a failed request is sent again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two probes of a failing backend (plus up to
/// [`transport::MAX_JITTER`]): export resumes this soon after the backend returns.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A server's `Retry-After` or `RetryInfo` is honoured up to this long.
const MAX_SERVER_DELAY: Duration = Duration::from_secs(30);

/// Everything the OTLP exporter needs. (`Debug` redacts the endpoint's secrets and the headers'
/// values.)
#[derive(Clone)]
pub(crate) struct OtlpSettings {
    /// Where each signal goes ([`Signal`] as index); `None`: that signal is not sent.
    pub destinations: [Option<crate::config::Destination>; 3],
    /// Spans and logs encoded and not yet delivered, at most.
    pub max_queue: usize,
    /// Bytes of them, at most.
    pub max_queue_bytes: usize,
    /// A batch not delivered this long after it was sealed is dropped (`export.max_retry_time`).
    pub max_retry_time: Duration,
    pub max_batch: usize,
    /// The largest request body (`export.max_request_bytes`): a batch is sealed before it would
    /// grow past it, and an item that alone would is dropped and counted.
    pub max_request_bytes: usize,
    pub delay: Duration,
    /// The resource's attributes, in order.
    pub resource: Vec<(String, String)>,
    /// How often the per-function metrics are pushed; `None`: they are not (`metrics.enabled`).
    pub metrics_every: Option<Duration>,
    /// Shared by the three signals: one line when the endpoint fails, one when it recovers.
    pub health: Arc<Health>,
}

impl std::fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpSettings")
            .field("destinations", &self.destinations)
            .field("max_queue", &self.max_queue)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("max_retry_time", &self.max_retry_time)
            .field("max_batch", &self.max_batch)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

/// Set when an OTLP exporter's shutdown ran out of time with items still queued: the pipeline
/// being stopped did not deliver everything (`Guard::shutdown_within` says so).
pub(crate) static GAVE_UP: AtomicBool = AtomicBool::new(false);

/// A sealed request body of spans or log records.
struct Batch {
    signal: Signal,
    body: Bytes,
    items: usize,
    /// Its place in the queue (batches of both signals are numbered in the order they were
    /// sealed): the oldest is dropped first, and a batch put back goes back to its place.
    seq: u64,
    /// When it was sealed (for `export.max_retry_time`).
    sealed: Instant,
}

/// What the collector asks of the OTLP thread, besides sending batches.
enum Control {
    /// Answer once every batch queued before this was delivered or dropped (true), or as soon
    /// as an attempt failed and the rest is kept for later (false).
    Flush(SyncSender<bool>),
    /// Deliver what is queued and push the final metrics, by the deadline; count what is left as
    /// dropped (`shutdown`); then answer and stop.
    Shutdown(SyncSender<bool>, Instant),
}

/// Spans' and log records' batches queued or being sent, shared by the collector (which
/// queues) and the OTLP thread (which sends): one FIFO per signal, bounded together.
struct Backlog {
    state: Mutex<Fifos>,
    /// Per signal: a batch was queued (or the sender should look again).
    ready: [Notify; 2],
    /// A batch was settled or put back, or an attempt failed (flush waits on it).
    changed: Notify,
    /// Per signal: failed attempts so far (flush's "the backend is down" signal).
    failures: [AtomicU64; 2],
    max_items: usize,
    max_bytes: usize,
    /// Told what is dropped (the recovered line reports it).
    health: Arc<Health>,
}

#[derive(Default)]
struct Fifos {
    /// Per signal, the batches waiting, oldest first.
    fifo: [VecDeque<Batch>; 2],
    /// Per signal, items queued or being sent.
    items: [usize; 2],
    /// Bytes queued or being sent, both signals.
    bytes: usize,
    next_seq: u64,
}

impl Backlog {
    fn lock(&self) -> MutexGuard<'_, Fifos> {
        // A panic while it is held leaves whole batches in the FIFOs: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a sealed batch; past the bounds, drops the oldest batches waiting (never the one
    /// just queued, nor those being sent) and counts them.
    fn push(&self, mut batch: Batch) {
        let signal = batch.signal;
        let mut evicted: Vec<(Signal, usize)> = Vec::new();
        {
            let mut f = self.lock();
            batch.seq = f.next_seq;
            f.next_seq += 1;
            f.items[signal as usize] += batch.items;
            f.bytes += batch.body.len();
            STATS.queue_depth.fetch_add(batch.items as u64, Relaxed);
            STATS.queue_items_by[signal as usize].fetch_add(batch.items as u64, Relaxed);
            STATS.queue_bytes.fetch_add(batch.body.len() as u64, Relaxed);
            f.fifo[signal as usize].push_back(batch);
            while f.items[0] + f.items[1] > self.max_items || f.bytes > self.max_bytes {
                let oldest = match (f.fifo[0].front(), f.fifo[1].front()) {
                    (Some(a), Some(b)) => usize::from(b.seq < a.seq),
                    (Some(_), None) => 0,
                    (None, Some(_)) => 1,
                    (None, None) => break,
                };
                if f.fifo[0].len() + f.fifo[1].len() == 1 {
                    break; // only the batch just queued is left
                }
                let Some(old) = f.fifo[oldest].pop_front() else { break };
                f.remove(&old);
                evicted.push((old.signal, old.items));
            }
        }
        for (signal, items) in evicted {
            count_dropped(item(signal), Reason::QueueFull, items as u64);
            self.health.dropped(signal, Reason::QueueFull, items as u64);
        }
        self.ready[signal as usize].notify_one();
    }

    /// The next batch of `signal` to send, after dropping those older than `max_age`.
    fn pop(&self, signal: Signal, max_age: Duration, now: Instant) -> Option<Batch> {
        let mut expired = 0;
        let batch = {
            let mut f = self.lock();
            loop {
                let Some(b) = f.fifo[signal as usize].pop_front() else { break None };
                if now.saturating_duration_since(b.sealed) > max_age {
                    f.remove(&b);
                    expired += b.items;
                    continue;
                }
                break Some(b);
            }
        };
        if expired > 0 {
            count_dropped(item(signal), Reason::RetriesExhausted, expired as u64);
            self.health.dropped(signal, Reason::RetriesExhausted, expired as u64);
            self.changed.notify_waiters();
        }
        batch
    }

    /// Puts a batch whose attempt failed back in its place.
    fn put_back(&self, batch: Batch) {
        let mut f = self.lock();
        let fifo = &mut f.fifo[batch.signal as usize];
        let at = fifo.partition_point(|b| b.seq < batch.seq);
        fifo.insert(at, batch);
    }

    /// A batch that was being sent is done with (delivered or dropped).
    fn settle(&self, batch: &Batch) {
        self.lock().remove(batch);
        self.changed.notify_waiters();
    }

    /// Batches of `signal` waiting (not being sent).
    fn waiting(&self, signal: Signal) -> usize {
        self.lock().fifo[signal as usize].len()
    }

    /// Items of `signal` queued or being sent.
    fn items(&self, signal: Signal) -> usize {
        self.lock().items[signal as usize]
    }

    /// Empties everything (shutdown's deadline passed): the items that were left, per signal.
    fn clear(&self) -> [usize; 2] {
        let mut f = self.lock();
        let left = f.items;
        STATS.queue_depth.fetch_sub((left[0] + left[1]) as u64, Relaxed);
        for (i, n) in left.iter().enumerate() {
            STATS.queue_items_by[i].fetch_sub(*n as u64, Relaxed);
        }
        STATS.queue_bytes.fetch_sub(f.bytes as u64, Relaxed);
        f.fifo = Default::default();
        f.items = [0; 2];
        f.bytes = 0;
        drop(f);
        self.changed.notify_waiters();
        left
    }
}

impl Fifos {
    /// Takes a batch out of the counts (it left the FIFO, or its sender is done with it).
    fn remove(&mut self, b: &Batch) {
        self.items[b.signal as usize] -= b.items;
        self.bytes -= b.body.len();
        STATS.queue_depth.fetch_sub(b.items as u64, Relaxed);
        STATS.queue_items_by[b.signal as usize].fetch_sub(b.items as u64, Relaxed);
        STATS.queue_bytes.fetch_sub(b.body.len() as u64, Relaxed);
    }
}

/// The counters' name of a queued signal.
fn item(signal: Signal) -> Item {
    if signal == Signal::Logs {
        Item::Log
    } else {
        Item::Span
    }
}

/// The span batch being filled: room for the request's head, then the encoded spans (framed for
/// their scope). Sealed, the buffer becomes the request's body with its head written into the
/// room in front: the spans are never copied.
struct Open {
    buf: Vec<u8>,
    /// Bytes kept in front for the head ([`Envelope::head_room`]).
    room: usize,
    items: usize,
    since: Option<Instant>,
    /// Scratch for the head.
    head: Vec<u8>,
}

impl Open {
    fn new(room: usize, capacity: usize) -> Open {
        let mut buf = Vec::with_capacity(capacity.max(room));
        buf.resize(room, 0);
        Open { buf, room, items: 0, since: None, head: Vec::with_capacity(room) }
    }

    /// Bytes of encoded spans.
    fn bytes(&self) -> usize {
        self.buf.len() - self.room
    }
}

/// The log batch being filled: log records are scoped by their target.
#[derive(Default)]
struct OpenLogs {
    /// Per target: its scope's body and its records' buffer (kept for reuse).
    scopes: Vec<(&'static str, Vec<u8>, Vec<u8>)>,
    items: usize,
    bytes: usize,
    since: Option<Instant>,
}

/// The OTLP exporter, on telemark's collector thread.
pub(crate) struct Otlp {
    backlog: Arc<Backlog>,
    control: mpsc::UnboundedSender<Control>,
    max_batch: usize,
    max_request_bytes: usize,
    delay: Duration,
    /// Per signal: framed for gRPC.
    grpc: [bool; 3],
    /// Per signal: whether it has a destination.
    sends: [bool; 3],
    envelope: Envelope,
    spans: Open,
    logs: OpenLogs,
    code: encode::CodeCache,
    log_code: encode::CodeCache,
    /// When the records being added were exported (their observed time), nanoseconds since the
    /// Unix epoch: read once per pass of telemark's thread.
    observed: u64,
}

impl Otlp {
    /// Starts the export thread; fails on a bad endpoint or header.
    pub(crate) fn start(s: OtlpSettings) -> Result<Otlp, String> {
        let transport = Transport::new(&s)?;
        let (control, control_rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog {
            state: Mutex::new(Fifos::default()),
            ready: [Notify::new(), Notify::new()],
            changed: Notify::new(),
            failures: [AtomicU64::new(0), AtomicU64::new(0)],
            max_items: s.max_queue.max(1),
            max_bytes: s.max_queue_bytes.max(1),
            health: s.health.clone(),
        });
        STATS.queue_capacity_items.store(s.max_queue as u64, Relaxed);
        STATS.queue_capacity_bytes.store(s.max_queue_bytes as u64, Relaxed);
        let envelope = Envelope::new(&s.resource);
        let sender = Arc::new(Sender {
            s: s.clone(),
            transport,
            envelope: envelope.clone(),
            backlog: backlog.clone(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // Its blocking pool (DNS lookups) is telemark's too: hyper's events there are not the
            // program's.
            .on_thread_start(crate::caller::thread::mark_internal)
            .build()
            .map_err(|e| format!("cannot start the OTLP runtime: {e}"))?;
        std::thread::Builder::new()
            .name("telemark-otlp".into())
            .spawn(move || {
                crate::caller::thread::mark_internal();
                runtime.block_on(sender.run(control_rx));
            })
            .map_err(|e| format!("cannot start the OTLP export thread: {e}"))?;
        Ok(Otlp {
            backlog,
            control,
            max_batch: s.max_batch.max(1),
            max_request_bytes: s.max_request_bytes,
            delay: s.delay,
            grpc: grpc_of(&s),
            sends: [0, 1, 2].map(|i| s.destinations[i].is_some()),
            spans: Open::new(envelope.head_room(envelope.scope()), 0),
            logs: OpenLogs::default(),
            code: encode::CodeCache::default(),
            log_code: encode::CodeCache::default(),
            observed: 0,
            envelope,
        })
    }

    fn seal_spans(&mut self) {
        if self.spans.items == 0 {
            return;
        }
        let open = &mut self.spans;
        open.head.clear();
        let items_len = open.bytes();
        encode::head(&mut open.head, &self.envelope, self.envelope.scope(), items_len, self.grpc[0]);
        let start = open.room - open.head.len();
        open.buf[start..open.room].copy_from_slice(&open.head);
        // The next batch starts with what this one needed, so its buffer does not grow in steps.
        let capacity = open.buf.len();
        let body = std::mem::replace(&mut open.buf, Vec::with_capacity(capacity));
        open.buf.resize(open.room, 0);
        let body = Bytes::from(body).slice(start..);
        let items = std::mem::take(&mut open.items);
        open.since = None;
        self.backlog.push(Batch { signal: Signal::Spans, body, items, seq: 0, sealed: Instant::now() });
    }

    /// What the log records of one request may take: the request less its resource and the heads
    /// of the scopes (of every target seen: some may have no record in this one).
    fn log_budget(&self) -> usize {
        let scopes: usize = self.logs.scopes.iter().map(|(_, scope, _)| 12 + scope.len()).sum();
        self.max_request_bytes.saturating_sub(self.envelope.head_room(&[]) + scopes)
    }

    fn seal_logs(&mut self) {
        if self.logs.items == 0 {
            return;
        }
        let scoped: Vec<Scoped<'_>> = self
            .logs
            .scopes
            .iter()
            .filter(|(_, _, records)| !records.is_empty())
            .map(|(_, scope, records)| Scoped { scope, items: records })
            .collect();
        let len = encode::request_len(&self.envelope, &scoped, self.grpc[1]);
        let mut body = Vec::with_capacity(len);
        encode::request(&mut body, &self.envelope, &scoped, self.grpc[1]);
        debug_assert_eq!(body.len(), len);
        for (_, _, records) in &mut self.logs.scopes {
            records.clear();
        }
        let items = std::mem::take(&mut self.logs.items);
        self.logs.bytes = 0;
        self.logs.since = None;
        self.backlog.push(Batch {
            signal: Signal::Logs,
            body: body.into(),
            items,
            seq: 0,
            sealed: Instant::now(),
        });
    }

    /// Seals the batches that waited `export.delay`.
    fn seal_due(&mut self, now: Instant) {
        if self.spans.since.is_some_and(|t| now.saturating_duration_since(t) >= self.delay) {
            self.seal_spans();
        }
        if self.logs.since.is_some_and(|t| now.saturating_duration_since(t) >= self.delay) {
            self.seal_logs();
        }
    }

    /// Sends a command and waits for its answer until `deadline`; false on timeout.
    fn wait(&self, make: impl FnOnce(SyncSender<bool>) -> Control, deadline: Instant) -> bool {
        let (ack_tx, ack_rx) = std_mpsc::sync_channel(1);
        self.control.send(make(ack_tx)).is_ok()
            && ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or(false)
    }
}

impl Otlp {
    /// Adds a span to the open batch (a full queue drops its oldest batches, not this).
    fn push_span(&mut self, span: &SpanView<'_>) {
        if !self.sends[0] {
            return;
        }
        let before = self.spans.buf.len();
        encode::span(&mut self.spans.buf, span, &mut self.code);
        // What the spans of one request may take: the request less its head.
        let budget = self.max_request_bytes.saturating_sub(self.spans.room);
        if self.spans.bytes() > budget {
            let len = self.spans.buf.len() - before;
            if len > budget {
                // Alone over the limit: it could never be sent.
                self.spans.buf.truncate(before);
                count_dropped(Item::Span, Reason::TooLarge, 1);
                return;
            }
            // It opens the next request (rare: a copy of one span).
            let item = self.spans.buf[before..].to_vec();
            self.spans.buf.truncate(before);
            self.seal_spans();
            self.spans.buf.extend_from_slice(&item);
        }
        self.spans.items += 1;
        self.spans.since.get_or_insert_with(Instant::now);
        if self.spans.items >= self.max_batch || self.spans.bytes() >= budget {
            self.seal_spans();
        }
    }

    /// Adds a log record to the open batch, under its target's scope.
    fn push_log(&mut self, log: &LogView<'_>) {
        if !self.sends[1] {
            return;
        }
        // Targets are `&'static str`s: the same callsite's is the same pointer.
        let same = |t: &&'static str| std::ptr::eq(*t, log.target) || *t == log.target;
        let i = match self.logs.scopes.iter().position(|(t, ..)| same(t)) {
            Some(i) => i,
            None => {
                self.logs.scopes.push((log.target, encode::scope(log.target), Vec::new()));
                self.logs.scopes.len() - 1
            }
        };
        let records = &mut self.logs.scopes[i].2;
        let before = records.len();
        encode::log(records, log, self.observed, &mut self.log_code);
        let len = records.len() - before;
        // The request less the resource and the scopes' heads (counted only near the limit).
        if self.logs.bytes + len > self.max_request_bytes / 2 {
            let budget = self.log_budget();
            if self.logs.bytes + len > budget {
                let records = &mut self.logs.scopes[i].2;
                let item = records[before..].to_vec();
                records.truncate(before);
                if len > budget {
                    count_dropped(Item::Log, Reason::TooLarge, 1);
                    return;
                }
                self.seal_logs();
                self.logs.scopes[i].2.extend_from_slice(&item);
            }
        }
        self.logs.bytes += len;
        self.logs.items += 1;
        self.logs.since.get_or_insert_with(Instant::now);
        if self.logs.items >= self.max_batch
            || (self.logs.bytes >= self.max_request_bytes / 2 && self.logs.bytes >= self.log_budget())
        {
            self.seal_logs();
        }
    }
}

/// Spans and log records straight from the caller's records: the collector's fast path.
impl RecordExporter for Otlp {
    fn begin(&mut self) {
        self.observed = unix_nanos(SystemTime::now());
    }

    fn span(&mut self, span: &SpanView<'_>) {
        self.push_span(span);
    }

    fn log(&mut self, log: &LogView<'_>) {
        self.push_log(log);
    }
}

impl Exporter for Otlp {
    fn export(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> Result<(), ExportError> {
        if !spans.is_empty() || !logs.is_empty() {
            self.observed = unix_nanos(SystemTime::now());
        }
        for span in spans {
            self.push_span(&span.into());
        }
        for log in logs {
            self.push_log(&log.into());
        }
        self.seal_due(Instant::now());
        Ok(())
    }

    fn idle(&mut self) {
        self.seal_due(Instant::now());
    }

    fn flush(&mut self, deadline: Instant) -> bool {
        self.seal_spans();
        self.seal_logs();
        self.wait(Control::Flush, deadline)
    }

    fn shutdown(&mut self, deadline: Instant) {
        self.seal_spans();
        self.seal_logs();
        // The OTLP thread answers by `deadline`, having counted what it could not deliver.
        if !self.wait(|ack| Control::Shutdown(ack, deadline), deadline + super::ANSWER_GRACE) {
            GAVE_UP.store(true, Relaxed);
        }
    }
}

/// The OTLP thread: one sender per signal, the metrics push, and the commands.
struct Sender {
    s: OtlpSettings,
    transport: Transport,
    envelope: Envelope,
    backlog: Arc<Backlog>,
}

/// Where the OTLP thread is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    /// Shutdown: deliver what is queued by the deadline, then stop.
    Stopping,
}

/// How a signal's sender sends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Up to [`IN_FLIGHT`] requests at once.
    Healthy,
    /// The last attempt failed: one request at a time, after a backoff.
    Failing,
    /// The backend is back: the backlog that was waiting (this many batches) goes one request
    /// at a time, in order; then concurrency returns.
    Draining(usize),
}

/// One attempt's outcome: the batch, the answer, how long the attempt took.
type Attempt = (Batch, Result<Accepted, Failed>, Duration);

enum Event {
    Control(Option<Control>),
    PushMetrics,
}

enum SignalEvent {
    Done(Attempt),
    Look,
}

impl Sender {
    async fn run(self: Arc<Self>, mut control: mpsc::UnboundedReceiver<Control>) {
        let (phase_tx, phase_rx) = tokio::sync::watch::channel(Phase::Running);
        let mut senders = [Signal::Spans, Signal::Logs]
            .map(|s| tokio::spawn(self.clone().send_signal(s, phase_rx.clone())));
        let mut timer: Option<Pin<Box<tokio::time::Sleep>>> =
            self.s.metrics_every.map(|every| Box::pin(tokio::time::sleep(every)));
        let mut pushing: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let event = poll_fn(|cx| {
                if let Poll::Ready(c) = control.poll_recv(cx) {
                    return Poll::Ready(Event::Control(c));
                }
                if let Some(t) = timer.as_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Event::PushMetrics);
                    }
                }
                Poll::Pending
            })
            .await;
            match event {
                Event::PushMetrics => {
                    // One push at a time: a push still waiting for its answer is not doubled.
                    if pushing.as_ref().is_none_or(|p| p.is_finished()) {
                        pushing = Some(tokio::spawn(self.clone().push_metrics()));
                    }
                    if let (Some(t), Some(every)) = (timer.as_mut(), self.s.metrics_every) {
                        t.as_mut().reset(tokio::time::Instant::now() + every);
                    }
                }
                Event::Control(Some(Control::Flush(ack))) => {
                    tokio::spawn(self.clone().flush(ack));
                }
                Event::Control(Some(Control::Shutdown(ack, deadline))) => {
                    let _ = phase_tx.send(Phase::Stopping);
                    for ready in &self.backlog.ready {
                        ready.notify_one();
                    }
                    // The final values: the collector processed everything recorded before this.
                    let mut last = self.s.metrics_every.map(|_| tokio::spawn(self.clone().push_metrics()));
                    let all = async {
                        for s in &mut senders {
                            let _ = s.await;
                        }
                        if let Some(p) = last.as_mut() {
                            let _ = p.await;
                        }
                    };
                    let done = tokio::time::timeout_at(deadline.into(), all).await.is_ok();
                    if !done {
                        self.give_up(&mut senders, last).await;
                    }
                    let _ = ack.send(done);
                    return;
                }
                Event::Control(None) => return,
            }
        }
    }

    /// Shutdown's deadline passed: stops the senders and counts what they had left as dropped.
    async fn give_up(
        &self,
        senders: &mut [tokio::task::JoinHandle<()>; 2],
        last: Option<tokio::task::JoinHandle<()>>,
    ) {
        GAVE_UP.store(true, Relaxed);
        // A handle awaited to its end before the deadline must not be awaited again.
        for s in senders.iter_mut().filter(|s| !s.is_finished()) {
            s.abort();
            let _ = s.await;
        }
        if let Some(p) = last {
            if !p.is_finished() {
                p.abort();
                STATS.metric_pushes_dropped.fetch_add(1, Relaxed);
                self.s.health.push_lost();
            }
        }
        let left = self.backlog.clear();
        for (signal, n) in [(Signal::Spans, left[0]), (Signal::Logs, left[1])] {
            count_dropped(item(signal), Reason::Shutdown, n as u64);
            self.s.health.dropped(signal, Reason::Shutdown, n as u64);
        }
    }

    /// Answers a flush: true once everything of both signals queued before it was delivered or
    /// dropped; false as soon as a signal with batches left had an attempt fail since (they are
    /// kept, and sent when the backend takes them).
    async fn flush(self: Arc<Self>, ack: SyncSender<bool>) {
        let failures = [0, 1].map(|i| self.backlog.failures[i].load(Relaxed));
        loop {
            let changed = self.backlog.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let mut done = true;
            let mut delivered = true;
            for signal in [Signal::Spans, Signal::Logs] {
                let i = signal as usize;
                if self.backlog.items(signal) > 0 {
                    if self.backlog.failures[i].load(Relaxed) > failures[i] {
                        delivered = false;
                    } else {
                        done = false;
                    }
                }
            }
            if done {
                let _ = ack.send(delivered);
                return;
            }
            changed.await;
        }
    }

    /// Sends the batches of one signal, oldest first, until shutdown finds nothing left.
    async fn send_signal(self: Arc<Self>, signal: Signal, phase: tokio::sync::watch::Receiver<Phase>) {
        let i = signal as usize;
        let mut mode = Mode::Healthy;
        let mut backoff = FIRST_BACKOFF;
        let mut not_before: Option<tokio::time::Instant> = None;
        let mut pause = Box::pin(tokio::time::sleep(Duration::ZERO));
        let mut in_flight: JoinSet<Attempt> = JoinSet::new();
        loop {
            if not_before.is_some_and(|t| tokio::time::Instant::now() >= t) {
                not_before = None;
            }
            if not_before.is_none() {
                let limit = if mode == Mode::Healthy { IN_FLIGHT } else { 1 };
                while in_flight.len() < limit {
                    let Some(b) = self.backlog.pop(signal, self.s.max_retry_time, Instant::now()) else {
                        break;
                    };
                    let t = self.transport.clone();
                    in_flight.spawn(async move {
                        let start = Instant::now();
                        let result = t.attempt(b.signal, b.body.clone()).await;
                        (b, result, start.elapsed())
                    });
                }
            }
            if *phase.borrow() == Phase::Stopping && in_flight.is_empty() && self.backlog.items(signal) == 0 {
                return;
            }
            let event = {
                let ready = self.backlog.ready[i].notified();
                let mut ready = std::pin::pin!(ready);
                poll_fn(|cx| {
                    if let Poll::Ready(Some(Ok(done))) = in_flight.poll_join_next(cx) {
                        return Poll::Ready(SignalEvent::Done(done));
                    }
                    if ready.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(SignalEvent::Look);
                    }
                    if not_before.is_some() && pause.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(SignalEvent::Look);
                    }
                    Poll::Pending
                })
                .await
            };
            let SignalEvent::Done((batch, result, took)) = event else { continue };
            crate::stats::observe_export(took, result.as_ref().err().map(|f| f.kind));
            let health = &self.s.health;
            match result {
                Ok(accepted) => {
                    let rejected = (accepted.rejected as usize).min(batch.items);
                    let exported = (batch.items - rejected) as u64;
                    match signal {
                        Signal::Logs => STATS.logs_exported.fetch_add(exported, Relaxed),
                        _ => STATS.spans_exported.fetch_add(exported, Relaxed),
                    };
                    if rejected > 0 {
                        count_dropped(item(signal), Reason::Rejected, rejected as u64);
                        health.rejected(
                            signal,
                            rejected as u64,
                            accepted.message.as_deref().unwrap_or("partial success"),
                        );
                    }
                    self.backlog.settle(&batch);
                    health.delivered(signal);
                    backoff = FIRST_BACKOFF;
                    mode = match mode {
                        Mode::Failing => match self.backlog.waiting(signal) {
                            0 => Mode::Healthy,
                            n => Mode::Draining(n),
                        },
                        Mode::Draining(n) if n > 1 && self.backlog.waiting(signal) > 0 => {
                            Mode::Draining(n - 1)
                        }
                        _ => Mode::Healthy,
                    };
                }
                Err(failed) => {
                    count_failure(failed.kind);
                    self.backlog.failures[i].fetch_add(1, Relaxed);
                    if failed.retry == Retry::No {
                        count_dropped(item(signal), Reason::Rejected, batch.items as u64);
                        self.backlog.settle(&batch);
                        health.rejected(signal, batch.items as u64, &failed.cause);
                    } else {
                        health.failed(signal, &failed.cause);
                        if batch.sealed.elapsed() > self.s.max_retry_time {
                            count_dropped(item(signal), Reason::RetriesExhausted, batch.items as u64);
                            health.dropped(signal, Reason::RetriesExhausted, batch.items as u64);
                            self.backlog.settle(&batch);
                        } else {
                            self.backlog.put_back(batch);
                        }
                        mode = Mode::Failing;
                        let wait = match failed.retry {
                            Retry::After(server) => server.min(MAX_SERVER_DELAY),
                            _ => backoff + transport::jitter(),
                        };
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        let at = tokio::time::Instant::now() + wait;
                        // Several requests in flight may fail: the latest wait wins.
                        if not_before.is_none_or(|t| t < at) {
                            not_before = Some(at);
                            pause.as_mut().reset(at);
                        }
                    }
                    self.backlog.changed.notify_waiters();
                }
            }
        }
    }

    /// The request body of the metrics as they are now.
    fn metrics_body(&self) -> Bytes {
        let mut items = Vec::new();
        // Counts run from the first `init` of the process (a later `init` does not reset them).
        metrics::encode(
            &mut items,
            &crate::metrics::snapshot(),
            &crate::metrics::exception_counts(),
            unix_nanos(crate::metrics::started()),
            unix_nanos(SystemTime::now()),
        );
        // telemark's own metrics go in a scope of their own, beside the program's.
        let mut own = Vec::new();
        metrics::encode_own(
            &mut own,
            &crate::stats::snapshot(),
            unix_nanos(crate::metrics::started()),
            unix_nanos(SystemTime::now()),
        );
        let own_scope = encode::scope(metrics::OWN_SCOPE);
        let mut body = Vec::new();
        let grpc = grpc_of(&self.s)[2];
        encode::request(
            &mut body,
            &self.envelope,
            &[
                Scoped { scope: self.envelope.scope(), items: &items },
                Scoped { scope: &own_scope, items: &own },
            ],
            grpc,
        );
        body.into()
    }

    /// One push of the metrics, one attempt: a push that fails is not kept (the counts are
    /// cumulative, the next push carries them) but counted.
    async fn push_metrics(self: Arc<Self>) {
        let body = self.metrics_body();
        let start = Instant::now();
        let result = self.transport.attempt(Signal::Metrics, body).await;
        crate::stats::observe_export(start.elapsed(), result.as_ref().err().map(|f| f.kind));
        match result {
            Ok(_) => {
                STATS.metric_pushes_exported.fetch_add(1, Relaxed);
                self.s.health.delivered(Signal::Metrics);
            }
            Err(failed) => {
                count_failure(failed.kind);
                STATS.metric_pushes_dropped.fetch_add(1, Relaxed);
                self.s.health.failed(Signal::Metrics, &failed.cause);
                self.s.health.push_lost();
            }
        }
    }
}

/// Per signal: whether its destination speaks gRPC.
fn grpc_of(s: &OtlpSettings) -> [bool; 3] {
    [0, 1, 2].map(|i| s.destinations[i].as_ref().is_some_and(|d| d.protocol == Protocol::Grpc))
}

/// The cause of an export that did not finish in time.
pub(crate) fn no_answer(timeout: Duration) -> String {
    format!("no answer within {}", telemark_grammar::format_duration(timeout))
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(max_items: usize, max_bytes: usize) -> Backlog {
        Backlog {
            state: Mutex::new(Fifos::default()),
            ready: [Notify::new(), Notify::new()],
            changed: Notify::new(),
            failures: [AtomicU64::new(0), AtomicU64::new(0)],
            max_items,
            max_bytes,
            health: Arc::new(Health::new("test", max_bytes)),
        }
    }

    fn batch(signal: Signal, bytes: usize) -> Batch {
        Batch { signal, body: Bytes::from(vec![0; bytes]), items: 1, seq: 0, sealed: Instant::now() }
    }

    /// The sequence numbers waiting, per signal.
    fn waiting(b: &Backlog) -> [Vec<u64>; 2] {
        let f = b.lock();
        [0, 1].map(|i| f.fifo[i].iter().map(|b| b.seq).collect())
    }

    #[test]
    fn past_the_bound_the_oldest_batch_of_either_signal_goes_first() {
        let b = backlog(100, 300);
        b.push(batch(Signal::Spans, 100)); // 0
        b.push(batch(Signal::Logs, 100)); // 1
        b.push(batch(Signal::Spans, 100)); // 2
        assert_eq!(waiting(&b), [vec![0, 2], vec![1]]);
        b.push(batch(Signal::Logs, 100)); // 3: over by one batch, the oldest (0) goes
        assert_eq!(waiting(&b), [vec![2], vec![1, 3]]);
        b.push(batch(Signal::Spans, 200)); // 4: 1 and 2 go
        assert_eq!(waiting(&b), [vec![4], vec![3]]);
        assert_eq!(b.lock().bytes, 300);
        assert_eq!(b.lock().items, [1, 1]);
    }

    #[test]
    fn a_batch_being_sent_is_not_dropped_and_goes_back_to_its_place() {
        let b = backlog(100, 250);
        b.push(batch(Signal::Spans, 100)); // 0
        b.push(batch(Signal::Spans, 100)); // 1
        let sending = b.pop(Signal::Spans, Duration::from_secs(60), Instant::now()).expect("0");
        assert_eq!(sending.seq, 0);
        // Over the bound with 0 in flight: the oldest waiting (1) goes, not 0.
        b.push(batch(Signal::Spans, 100)); // 2
        assert_eq!(waiting(&b), [vec![2], vec![]]);
        b.put_back(sending);
        assert_eq!(waiting(&b), [vec![0, 2], vec![]], "back at the front");
        // Alone over the bound, a new batch is still kept.
        b.push(batch(Signal::Logs, 1000)); // 3
        assert_eq!(waiting(&b), [vec![], vec![3]]);
    }

    #[test]
    fn batches_older_than_the_retry_time_are_dropped_when_their_turn_comes() {
        let b = backlog(100, 10_000);
        let mut old = batch(Signal::Logs, 10);
        old.sealed = Instant::now() - Duration::from_secs(10);
        b.push(old); // 0
        b.push(batch(Signal::Logs, 10)); // 1
        let next = b.pop(Signal::Logs, Duration::from_secs(5), Instant::now()).expect("1");
        assert_eq!(next.seq, 1);
        assert_eq!(b.lock().items, [0, 1], "0 is gone; 1 is being sent");
        b.settle(&next);
        let f = b.lock();
        assert_eq!((f.items, f.bytes), ([0, 0], 0));
        drop(f);
        assert!(b.pop(Signal::Logs, Duration::from_secs(5), Instant::now()).is_none());
    }
}
