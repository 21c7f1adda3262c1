//! OTLP export of spans, logs and metrics over gRPC or HTTP/protobuf.
//!
//! On telemark's collector thread, [`Otlp::export`] writes each span and log record as protobuf
//! bytes straight into its batch's reusable buffer (`encode`, `wire`); a full batch (or one
//! older than `export.delay`) becomes one finished request body. Bodies go to one thread telemark
//! owns, with one single-threaded tokio runtime and one client (`transport`), which sends up to
//! [`IN_FLIGHT`] requests at once when the backend is slower than the producers. The
//! per-function metrics are encoded from their tables (`metrics`) on that thread and pushed every
//! `metrics.export_interval` and once more at shutdown. `health` says on stderr when export
//! fails and when it recovers.
//!
//! Memory is bounded twice, by items (`export.max_queue`) and by bytes
//! (`export.max_queue_bytes`), over everything encoded and not yet delivered; past either bound
//! spans and logs are dropped on the collector thread and counted — the caller never waits.
//! Owning the runtime avoids the traps of the SDK's batch processors (deadlocks on current-thread
//! and one-worker runtimes, silent loss when the caller's runtime is gone).

mod encode;
mod gather;
pub(crate) mod health;
mod metrics;
mod transport;
mod wire;

use super::view::{LogView, SpanView};
use super::{ExportError, Exporter, FinishedSpan, LogEntry, RecordExporter};
use crate::config::Protocol;
use crate::stats::STATS;
use bytes::Bytes;
use encode::{Envelope, Scoped};
use health::{Health, Signal};
use std::future::{poll_fn, Future as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self as std_mpsc, SyncSender};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use transport::{Accepted, Transport};

/// Requests sent at once at most, when the backend is slower than telemark.
pub(crate) const IN_FLIGHT: usize = 4;

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
            .field("max_batch", &self.max_batch)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

/// Set when an OTLP exporter's shutdown ran out of time with items still queued: the pipeline
/// being stopped did not deliver everything (`Guard::shutdown_within` says so).
pub(crate) static GAVE_UP: AtomicBool = AtomicBool::new(false);

/// A finished request body.
struct Batch {
    signal: Signal,
    body: Bytes,
    items: usize,
}

/// What the collector asks of the OTLP thread, besides sending batches. It goes on a channel of
/// its own, so it is heard even while the requests in flight are at their bound.
enum Control {
    /// Send every batch handed over before this; then answer.
    Flush(SyncSender<()>),
    /// The same, then the final metrics, by the deadline; then answer and stop.
    Shutdown(SyncSender<()>, Instant),
}

/// What is encoded and not yet delivered (shared by both threads).
#[derive(Default)]
struct Queued {
    items: AtomicUsize,
    bytes: AtomicUsize,
}

impl Queued {
    fn add(&self, items: usize, bytes: usize) {
        self.items.fetch_add(items, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        STATS.queue_depth.fetch_add(items as u64, Relaxed);
    }

    fn settle(&self, items: usize, bytes: usize) {
        self.items.fetch_sub(items, Relaxed);
        self.bytes.fetch_sub(bytes, Relaxed);
        STATS.queue_depth.fetch_sub(items as u64, Relaxed);
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
    batches: mpsc::UnboundedSender<Batch>,
    control: mpsc::UnboundedSender<Control>,
    queued: Arc<Queued>,
    max_queue: usize,
    max_queue_bytes: usize,
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
    /// Whether a span or log record was dropped in this pass of telemark's thread.
    lost: bool,
}

impl Otlp {
    /// Starts the export thread; fails on a bad endpoint or header.
    pub(crate) fn start(s: OtlpSettings) -> Result<Otlp, String> {
        let transport = Transport::new(&s)?;
        let (batches, batches_rx) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        let envelope = Envelope::new(&s.resource);
        let sender = Sender {
            s: s.clone(),
            transport,
            envelope: envelope.clone(),
            queued: queued.clone(),
            in_flight: Default::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the OTLP runtime: {e}"))?;
        std::thread::Builder::new()
            .name("telemark-otlp".into())
            .spawn(move || {
                crate::caller::thread::mark_internal();
                runtime.block_on(sender.run(batches_rx, control_rx));
            })
            .map_err(|e| format!("cannot start the OTLP export thread: {e}"))?;
        Ok(Otlp {
            batches,
            control,
            queued,
            max_queue: s.max_queue.max(1),
            max_queue_bytes: s.max_queue_bytes.max(1),
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
            lost: false,
            envelope,
        })
    }

    /// Whether one more item fits in the queue.
    fn has_room(&self) -> bool {
        let items = self.queued.items.load(Relaxed) + self.spans.items + self.logs.items;
        let bytes = self.queued.bytes.load(Relaxed) + self.spans.bytes() + self.logs.bytes;
        items < self.max_queue && bytes < self.max_queue_bytes
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
        self.send(Batch { signal: Signal::Spans, body, items });
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
        self.send(Batch { signal: Signal::Logs, body: body.into(), items });
    }

    fn send(&mut self, batch: Batch) {
        let (items, bytes, signal) = (batch.items, batch.body.len(), batch.signal);
        self.queued.add(items, bytes);
        if self.batches.send(batch).is_err() {
            self.queued.settle(items, bytes);
            count_dropped(signal, items);
        }
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

    /// Sends a command and waits for its acknowledgement until `deadline`; false on timeout.
    fn wait(&self, make: impl FnOnce(SyncSender<()>) -> Control, deadline: Instant) -> bool {
        let (ack_tx, ack_rx) = std_mpsc::sync_channel(1);
        self.control.send(make(ack_tx)).is_ok()
            && ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok()
    }
}

impl Otlp {
    /// Adds a span to the open batch; without room in the queue it is dropped and counted.
    fn push_span(&mut self, span: &SpanView<'_>) {
        if !self.sends[0] {
            return;
        }
        if !self.has_room() {
            STATS.spans_dropped.fetch_add(1, Relaxed);
            self.lost = true;
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
                STATS.spans_dropped.fetch_add(1, Relaxed);
                STATS.too_large.fetch_add(1, Relaxed);
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

    /// Adds a log record to the open batch, under its target's scope; without room in the queue
    /// it is dropped and counted.
    fn push_log(&mut self, log: &LogView<'_>) {
        if !self.sends[1] {
            return;
        }
        if !self.has_room() {
            STATS.logs_dropped.fetch_add(1, Relaxed);
            self.lost = true;
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
                    STATS.logs_dropped.fetch_add(1, Relaxed);
                    STATS.too_large.fetch_add(1, Relaxed);
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
        if std::mem::take(&mut self.lost) {
            return Err(ExportError("OTLP export queue full".into()));
        }
        Ok(())
    }

    fn idle(&mut self) {
        self.seal_due(Instant::now());
    }

    fn flush(&mut self, deadline: Instant) {
        self.seal_spans();
        self.seal_logs();
        self.wait(Control::Flush, deadline);
    }

    fn shutdown(&mut self, deadline: Instant) {
        self.seal_spans();
        self.seal_logs();
        // The OTLP thread answers by `deadline`, having counted what it could not deliver.
        let answered = self.wait(|ack| Control::Shutdown(ack, deadline), deadline + super::ANSWER_GRACE);
        if !answered || self.queued.items.load(Relaxed) > 0 {
            GAVE_UP.store(true, Relaxed);
        }
    }
}

/// Counts `n` spans or log records of `signal` as dropped (a metrics push carries no items: its
/// counts are cumulative, and the next push carries them).
fn count_dropped(signal: Signal, n: usize) {
    let counter = match signal {
        Signal::Spans => &STATS.spans_dropped,
        Signal::Logs => &STATS.logs_dropped,
        Signal::Metrics => return,
    };
    counter.fetch_add(n as u64, Relaxed);
}

/// The OTLP thread: sends what the collector hands over, and pushes the metrics.
struct Sender {
    s: OtlpSettings,
    transport: Transport,
    envelope: Envelope,
    queued: Arc<Queued>,
    /// Spans and log records in requests being sent (counted as lost if shutdown gives up).
    in_flight: std::cell::Cell<[usize; 2]>,
}

/// A request that finished, delivered or not.
struct Done {
    signal: Signal,
    items: usize,
    bytes: usize,
    result: Result<Accepted, String>,
}

enum Event {
    Control(Option<Control>),
    Batch(Option<Batch>),
    Done(Done),
    PushMetrics,
}

impl Sender {
    async fn run(
        self,
        mut batches: mpsc::UnboundedReceiver<Batch>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut in_flight: JoinSet<Done> = JoinSet::new();
        let mut timer: Option<Pin<Box<tokio::time::Sleep>>> =
            self.s.metrics_every.map(|every| Box::pin(tokio::time::sleep(every)));
        loop {
            let event = poll_fn(|cx| {
                // A task that panicked settles nothing: shutdown then counts its items as lost.
                while let Poll::Ready(Some(done)) = in_flight.poll_join_next(cx) {
                    if let Ok(done) = done {
                        return Poll::Ready(Event::Done(done));
                    }
                }
                if let Poll::Ready(c) = control.poll_recv(cx) {
                    return Poll::Ready(Event::Control(c));
                }
                if let Some(t) = timer.as_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Event::PushMetrics);
                    }
                }
                if in_flight.len() < IN_FLIGHT {
                    if let Poll::Ready(b) = batches.poll_recv(cx) {
                        return Poll::Ready(Event::Batch(b));
                    }
                }
                Poll::Pending
            })
            .await;
            match event {
                Event::Done(done) => self.settle(done),
                Event::PushMetrics => {
                    self.push_metrics(&mut in_flight, None);
                    if let (Some(t), Some(every)) = (timer.as_mut(), self.s.metrics_every) {
                        t.as_mut().reset(tokio::time::Instant::now() + every);
                    }
                }
                Event::Batch(Some(b)) => self.spawn(&mut in_flight, b, None),
                Event::Control(Some(Control::Flush(ack))) => {
                    self.send_all(&mut in_flight, &mut batches).await;
                    let _ = ack.send(());
                }
                Event::Control(Some(Control::Shutdown(ack, deadline))) => {
                    // The final values: the collector processed everything recorded before this.
                    if self.s.metrics_every.is_some() {
                        self.push_metrics(&mut in_flight, Some(deadline));
                    }
                    let sent =
                        tokio::time::timeout_at(deadline.into(), self.send_all(&mut in_flight, &mut batches));
                    if sent.await.is_err() {
                        self.give_up(&mut batches);
                    }
                    let _ = ack.send(());
                    return;
                }
                Event::Batch(None) | Event::Control(None) => return,
            }
        }
    }

    /// Sends every batch handed over so far (at most [`IN_FLIGHT`] at once) and waits for all
    /// the answers.
    async fn send_all(&self, in_flight: &mut JoinSet<Done>, batches: &mut mpsc::UnboundedReceiver<Batch>) {
        loop {
            while in_flight.len() < IN_FLIGHT {
                match batches.try_recv() {
                    Ok(b) => self.spawn(in_flight, b, None),
                    Err(_) => break,
                }
            }
            match in_flight.join_next().await {
                Some(Ok(done)) => self.settle(done),
                Some(Err(_)) => {}
                None => return,
            }
        }
    }

    /// Counts what shutdown could not deliver in time as dropped: the requests being sent and
    /// those still waiting.
    fn give_up(&self, batches: &mut mpsc::UnboundedReceiver<Batch>) {
        GAVE_UP.store(true, Relaxed);
        let [spans, logs] = self.in_flight.take();
        STATS.spans_dropped.fetch_add(spans as u64, Relaxed);
        STATS.logs_dropped.fetch_add(logs as u64, Relaxed);
        while let Ok(b) = batches.try_recv() {
            self.queued.settle(b.items, b.body.len());
            count_dropped(b.signal, b.items);
        }
    }

    /// Spans and logs of `signal` being sent changed by `d`.
    fn count_in_flight(&self, signal: Signal, d: isize) {
        if signal != Signal::Metrics {
            let mut n = self.in_flight.get();
            n[signal as usize] = n[signal as usize].saturating_add_signed(d);
            self.in_flight.set(n);
        }
    }

    fn spawn(&self, in_flight: &mut JoinSet<Done>, b: Batch, deadline: Option<Instant>) {
        self.count_in_flight(b.signal, b.items as isize);
        let transport = self.transport.clone();
        in_flight.spawn(async move {
            let bytes = if b.signal == Signal::Metrics { 0 } else { b.body.len() };
            let result = transport.send(b.signal, b.body, deadline).await;
            Done { signal: b.signal, items: b.items, bytes, result }
        });
    }

    fn push_metrics(&self, in_flight: &mut JoinSet<Done>, deadline: Option<Instant>) {
        let mut items = Vec::new();
        // Counts run from the first `init` of the process (a later `init` does not reset them).
        metrics::encode(
            &mut items,
            &crate::metrics::snapshot(),
            &crate::metrics::exception_counts(),
            unix_nanos(crate::metrics::started()),
            unix_nanos(SystemTime::now()),
        );
        let mut body = Vec::new();
        let grpc = grpc_of(&self.s)[2];
        encode::request(
            &mut body,
            &self.envelope,
            &[Scoped { scope: self.envelope.scope(), items: &items }],
            grpc,
        );
        self.spawn(in_flight, Batch { signal: Signal::Metrics, body: body.into(), items: 0 }, deadline);
    }

    fn settle(&self, done: Done) {
        self.count_in_flight(done.signal, -(done.items as isize));
        if done.signal != Signal::Metrics {
            self.queued.settle(done.items, done.bytes);
        }
        let health = &self.s.health;
        match done.result {
            Ok(accepted) => {
                let rejected = (accepted.rejected as usize).min(done.items);
                match done.signal {
                    Signal::Spans => STATS.spans_exported.fetch_add((done.items - rejected) as u64, Relaxed),
                    Signal::Logs => STATS.logs_exported.fetch_add((done.items - rejected) as u64, Relaxed),
                    Signal::Metrics => 0,
                };
                count_dropped(done.signal, rejected);
                health.delivered(done.signal);
            }
            Err(cause) => {
                STATS.export_failures.fetch_add(1, Relaxed);
                count_dropped(done.signal, done.items);
                // A failed metrics push is said as one push lost.
                let lost = if done.signal == Signal::Metrics { 1 } else { done.items };
                health.failed(done.signal, &cause, lost as u64);
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
