//! The bridge from `tracing`: its spans join telemark's span stack (so `tracing` spans and
//! `#[traced]` spans nest in one tree) and its events become log records carrying the current
//! trace and span ids.

use crate::caller::callsite::{SpanContext, SpanKind, STATUS_ERROR, STATUS_OK, STATUS_UNSET};
use crate::caller::ids::{SpanId, TraceId};
use crate::caller::level::Level;
use crate::caller::sampling;
use crate::caller::span::{self, Parent, Start};
use crate::caller::thread::{self, Frame, LogRecord, Record, Site};
use crate::caller::value::Recorder;
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as Values};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The `tracing-subscriber` layer that feeds `tracing` spans and events into telemark.
///
/// `telemark::init` installs it (on a registry) as the global subscriber, where it is the only
/// filter: what the level directives (`tracing.level`, `logging.level`) leave out is never built.
/// To combine telemark with your own layers instead, set `logging.install_subscriber: false` and
/// add `telemark::tracing_layer()` to your registry: there it filters only what reaches telemark,
/// and never what your other layers (a `fmt` layer, say) see — their own filters decide for them.
#[derive(Debug, Clone, Copy)]
pub struct TelemarkLayer {
    /// Added to the program's own subscriber: filters for itself only.
    composed: bool,
}

impl Default for TelemarkLayer {
    /// The layer for your own subscriber, as [`tracing_layer`] gives it.
    fn default() -> Self {
        TelemarkLayer { composed: true }
    }
}

impl TelemarkLayer {
    /// The layer `init` installs alone on a registry: its level decision is the subscriber's.
    pub(crate) fn installed() -> Self {
        TelemarkLayer { composed: false }
    }

    /// Whether it is in a subscriber the program built (not the one `init` installed).
    pub(crate) fn is_composed(&self) -> bool {
        self.composed
    }
}

/// The layer that bridges `tracing` into telemark, for a subscriber of your own (with
/// `logging.install_subscriber: false`): `tracing_subscriber::registry().with(fmt::layer())
/// .with(telemark::tracing_layer())`. See the README, "Beside your own `tracing` subscriber".
pub fn tracing_layer() -> TelemarkLayer {
    TelemarkLayer::default()
}

/// What a bridged `tracing` span keeps in its extensions: its frame while it is not entered, and
/// its context.
struct Bridged {
    frame: Option<Frame>,
    ctx: Option<SpanContext>,
}

/// What a span's `otel.*` fields asked for, applied to its frame once they are read.
#[derive(Default)]
struct Special {
    kind: Option<SpanKind>,
    status: Option<u8>,
}

/// Reads a `tracing` span's or event's fields into telemark's recorder. On a span (`special` is
/// there) the fields tracing-opentelemetry 0.34 gives a meaning to are read as it reads them, and
/// are not kept as attributes:
///
/// - `otel.name`: the span's name (also when recorded later, with `Span::record`);
/// - `otel.kind`: `server`, `client`, `producer`, `consumer` or `internal` (any case) sets the
///   span kind; another value is ignored;
/// - `otel.status_code`: `ok` or `error` (any case) sets the status; another value unsets it;
/// - `otel.status_description` (tracing-opentelemetry's name) or `otel.status_message` (the
///   OpenTelemetry specification's word): status error with that message.
///
/// Where telemark goes further: an `error` field on a span (`error = %e`, or a `&dyn Error`)
/// also sets the status to error with its text — it is kept as an attribute too.
/// tracing-opentelemetry only turns it into `exception.*` attributes on the span, and sets the
/// status from an `error` field of an *event* (`#[instrument(err)]`), which telemark keeps as a
/// log record.
struct Visitor<'a, 'b> {
    rec: &'a mut Recorder<'b>,
    special: Option<&'a mut Special>,
}

impl<'a, 'b> Visitor<'a, 'b> {
    fn event(rec: &'a mut Recorder<'b>) -> Self {
        Visitor { rec, special: None }
    }
    fn span(rec: &'a mut Recorder<'b>, special: &'a mut Special) -> Self {
        Visitor { rec, special: Some(special) }
    }

    /// Takes `field` if it is one of the `otel.*` fields of a span; `text` gives its value.
    fn special<'v>(&mut self, field: &Field, text: impl FnOnce() -> TextOf<'v>) -> bool {
        let Some(sp) = self.special.as_deref_mut() else { return false };
        let name = field.name();
        if !name.starts_with("otel.") && name != "error" {
            return false;
        }
        let value = text();
        let v = value.as_str();
        match name {
            "otel.name" => self.rec.name(v),
            "otel.kind" => {
                if let Some(k) = kind_of(v) {
                    sp.kind = Some(k);
                }
            }
            "otel.status_code" => sp.status = Some(status_of(v)),
            "otel.status_message" | "otel.status_description" => {
                self.rec.status_message(v);
                sp.status = Some(STATUS_ERROR);
            }
            "error" => {
                self.rec.status_message(v);
                sp.status = Some(STATUS_ERROR);
                // Kept as an attribute as well: it is the program's data.
                return false;
            }
            _ => return false,
        }
        true
    }
}

/// A field's value as text: borrowed when it was a `&str`, formatted otherwise.
enum TextOf<'a> {
    Str(&'a str),
    Owned(String),
}

impl TextOf<'_> {
    fn as_str(&self) -> &str {
        match self {
            TextOf::Str(s) => s,
            TextOf::Owned(s) => s,
        }
    }
}

fn kind_of(v: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find_map(|(n, k)| v.eq_ignore_ascii_case(n).then_some(k))
}

fn status_of(v: &str) -> u8 {
    if v.eq_ignore_ascii_case("ok") {
        STATUS_OK
    } else if v.eq_ignore_ascii_case("error") {
        STATUS_ERROR
    } else {
        STATUS_UNSET
    }
}

impl Visit for Visitor<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.special(field, || TextOf::Owned(format!("{value:?}"))) {
            self.rec.debug(field.name(), value);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.special(field, || TextOf::Str(value)) {
            self.rec.str(field.name(), value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.rec.i64(field.name(), value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.rec.i64(field.name(), v),
            Err(_) => self.rec.display(field.name(), &value),
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.rec.f64(field.name(), value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.rec.bool(field.name(), value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.special(field, || TextOf::Owned(value.to_string())) {
            self.rec.display(field.name(), value);
        }
    }
}

impl Special {
    /// Applies what the fields asked for to the span's frame.
    fn apply(&self, frame: &mut Frame) {
        if let Some(k) = self.kind {
            frame.kind = k;
        }
        if let Some(s) = self.status {
            frame.status = s;
        }
    }
}

/// Whether the level directives want this callsite. Every crate is treated alike (hyper, h2,
/// tonic, tower-http… at the levels the directives give them): telemark's own HTTP/gRPC stack is
/// kept out by thread, not by crate — `on_new_span` and `on_event` ignore whatever happens on a
/// thread marked with `thread::mark_internal` (the collector, the OTLP thread and its runtime's
/// threads, the Prometheus server, the alert threads), so the exporter never feeds itself.
fn wanted(meta: &Metadata<'_>) -> bool {
    let level = Level::from_tracing(meta.level());
    if meta.is_span() {
        sampling::span_enabled(meta.target(), level)
    } else {
        sampling::log_enabled(meta.target(), level)
    }
}

impl<S> Layer<S> for TelemarkLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // Alone (installed by `init`), its decision is the subscriber's: what telemark does not want
    // is never built. Composed, a `false` here would hide the callsite from the program's other
    // layers too (a plain layer's `enabled` is a global filter): it lets everything through and
    // filters in `on_new_span` and `on_event`.
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.composed || wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.composed || wanted(meta)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if thread::is_internal() || (self.composed && !wanted(attrs.metadata())) {
            return;
        }
        let Some(span_ref) = ctx.span(id) else { return };
        let parent = if attrs.is_root() {
            Parent::Root
        } else if let Some(p) = attrs.parent() {
            let pctx = ctx.span(p).and_then(|s| s.extensions().get::<Bridged>().and_then(|b| b.ctx.clone()));
            match pctx {
                Some(c) => Parent::Explicit(Some(c)),
                None => Parent::Current,
            }
        } else {
            Parent::Current
        };
        let meta = attrs.metadata();
        let kind = SpanKind::Internal;
        let mut special = Special::default();
        let mut frame = thread::with(|l| {
            let start = Start { site: Site::Tracing(meta), kind, parent, ratio: 1.0 };
            span::begin(l, start, |rec| attrs.record(&mut Visitor::span(rec, &mut special)), false)
        })
        .flatten();
        if let Some(f) = frame.as_mut().filter(|f| f.recording) {
            special.apply(f);
        }
        let ctx = frame.as_ref().map(Frame::context);
        span_ref.extensions_mut().insert(Bridged { frame, ctx });
    }

    fn on_record(&self, id: &Id, values: &Values<'_>, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let mut ext = span_ref.extensions_mut();
        let Some(b) = ext.get_mut::<Bridged>() else {
            return;
        };
        let mut special = Special::default();
        if let Some(frame) = b.frame.as_mut().filter(|f| f.recording) {
            let mut rec = Recorder::new(&mut frame.data);
            values.record(&mut Visitor::span(&mut rec, &mut special));
            frame.dropped += rec.dropped;
            special.apply(frame);
        } else if let Some(c) = &b.ctx {
            // Entered right now: its data sits on a thread's stack.
            let span_id = c.span_id;
            drop(ext);
            span::with_frame_data(span_id, |rec, status| {
                values.record(&mut Visitor::span(rec, &mut special));
                if let Some(s) = special.status {
                    *status = s;
                }
            });
            if let Some(k) = special.kind {
                span::set_kind(span_id, k);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let mut ext = span_ref.extensions_mut();
        let Some(b) = ext.get_mut::<Bridged>() else {
            return;
        };
        let frame = match b.frame.take() {
            Some(f) => f,
            None => match &b.ctx {
                Some(c) => Frame::borrowed(c),
                None => return,
            },
        };
        drop(ext);
        thread::with(|l| {
            if let Ok(mut s) = l.stack.try_borrow_mut() {
                thread::push(&mut s, frame);
            }
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let span_id = {
            let ext = span_ref.extensions();
            match ext.get::<Bridged>().and_then(|b| b.ctx.as_ref()) {
                Some(c) => c.span_id,
                None => return,
            }
        };
        let popped =
            thread::with(|l| l.stack.try_borrow_mut().ok().and_then(|mut s| thread::pop(&mut s, span_id)))
                .flatten();
        if let Some(frame) = popped.filter(|f| f.recording) {
            if let Some(b) = span_ref.extensions_mut().get_mut::<Bridged>() {
                b.frame = Some(frame);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(&id) else {
            return;
        };
        let frame = span_ref.extensions_mut().get_mut::<Bridged>().and_then(|b| b.frame.take());
        if let Some(frame) = frame.filter(|f| f.recording) {
            let end = minstant::Instant::now();
            thread::with(|l| span::finish(l, frame, end, false));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if thread::is_internal() || (self.composed && !wanted(event.metadata())) {
            return;
        }
        let (trace_id, span_id) = match context_of(event, |p| ctx.span(p).and_then(|s| bridged_context(&s))) {
            Some(c) => (c.trace_id, c.span_id),
            None => (TraceId::INVALID, SpanId::INVALID),
        };
        let meta = event.metadata();
        let time = minstant::Instant::now();
        thread::with(|l| {
            let mut data = l.buffer();
            let mut rec = Recorder::new(&mut data);
            event.record(&mut Visitor::event(&mut rec));
            let dropped = rec.dropped;
            l.submit(Record::Log(LogRecord {
                time,
                level: Level::from_tracing(meta.level()),
                source: crate::caller::thread::LogSource::Tracing(meta),
                trace_id,
                span_id,
                dropped,
                data,
            }));
        });
    }
}

/// The telemark context a bridged `tracing` span carries.
fn bridged_context<R: for<'l> LookupSpan<'l>>(
    span: &tracing_subscriber::registry::SpanRef<'_, R>,
) -> Option<SpanContext> {
    span.extensions().get::<Bridged>().and_then(|b| b.ctx.clone())
}

/// The span an event belongs to: its explicit parent's (`parent_of` looks it up), or the span
/// current on this thread.
fn context_of(event: &Event<'_>, parent_of: impl FnOnce(&Id) -> Option<SpanContext>) -> Option<SpanContext> {
    let explicit = event.parent().and_then(parent_of);
    let current = if event.is_contextual() { thread::with(|l| l.current()).flatten() } else { None };
    explicit.or(current)
}

/// A `tracing-subscriber` `fmt` event format that starts each line with the trace and span ids
/// telemark gives the event (`trace_id=… span_id=… `), then writes what `inner` writes; a line
/// outside any span is `inner`'s alone. Made by [`with_trace_ids`].
#[derive(Debug, Clone, Default)]
pub struct WithTraceIds<E> {
    inner: E,
}

/// Wraps a `fmt` event format so that your own log lines carry telemark's trace ids, next to
/// `telemark::tracing_layer()`:
/// `fmt::layer().event_format(telemark::with_trace_ids(fmt::format()))`.
pub fn with_trace_ids<E>(inner: E) -> WithTraceIds<E> {
    WithTraceIds { inner }
}

impl<S, N, E> tracing_subscriber::fmt::FormatEvent<S, N> for WithTraceIds<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    E: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let c = context_of(event, |p| ctx.span(p).and_then(|s| bridged_context(&s)));
        if let Some(c) = c.filter(|c| c.trace_id != TraceId::INVALID) {
            write!(writer, "trace_id={} span_id={} ", c.trace_id, c.span_id)?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}
