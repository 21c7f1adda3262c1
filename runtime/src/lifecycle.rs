//! Startup and shutdown: [`init`] builds the pipeline — exporters, telemark's thread, the services
//! beside it (Prometheus endpoint, OTLP metrics push, the config's extension: the alerts), the
//! panic hook and the `tracing` subscriber — and the [`Guard`] it returns stops it under one
//! deadline: what was recorded is processed, the services stop (pushing the last metrics), the
//! exporters deliver.

use crate::caller::{sampling, thread};
use crate::config::{self, Config, ConsoleOutput, Switch};
use crate::error::Error;
use crate::{collector, exception, export, metrics, stats, TelemarkLayer};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

static EPOCH: AtomicU64 = AtomicU64::new(0);
static LIFECYCLE: Mutex<()> = Mutex::new(());

/// Keeps telemark running; dropping it flushes and shuts down within the configured
/// `export.shutdown_timeout` (5 s by default), whatever runtime the program uses.
#[must_use = "telemark shuts down when the guard is dropped"]
#[derive(Debug)]
pub struct Guard {
    epoch: u64,
    timeout: Duration,
}

/// What runs beside the collector: the Prometheus endpoint and the service of the config's
/// extension (the alerts). (The OTLP metrics push is the OTLP exporter's.)
struct Services {
    prometheus: Option<metrics::prometheus::Server>,
    extension: Option<Box<dyn config::Service>>,
}

impl Services {
    /// Stops everything by `deadline`.
    fn stop(self, deadline: Instant) {
        if let Some(e) = self.extension {
            e.stop(deadline);
        }
        drop(self.prometheus);
    }
}

static SERVICES: Mutex<Option<Services>> = Mutex::new(None);

impl Guard {
    /// Where the Prometheus scrape endpoint (`metrics.prometheus.listen`) listens, if it runs:
    /// useful with port 0.
    pub fn prometheus_address(&self) -> Option<std::net::SocketAddr> {
        SERVICES.lock().ok()?.as_ref()?.prometheus.as_ref().map(metrics::prometheus::Server::addr)
    }

    /// Flushes and shuts down now, waiting at most `timeout`; true if everything still queued was
    /// delivered in time, false if something was dropped on the way (a dead backend, a final
    /// refusal) or the time ran out.
    /// [`stats()`] says what was exported and dropped over the whole run.
    pub fn shutdown_within(mut self, timeout: Duration) -> bool {
        self.timeout = timeout;
        let ok = shutdown(self.epoch, timeout);
        self.epoch = 0;
        ok
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.epoch != 0 {
            shutdown(self.epoch, self.timeout);
        }
    }
}

fn shutdown(epoch: u64, timeout: Duration) -> bool {
    let Ok(_l) = LIFECYCLE.lock() else {
        return false;
    };
    if EPOCH.load(Relaxed) != epoch {
        return true; // a later init replaced this pipeline
    }
    // One deadline for the whole shutdown.
    stop_pipeline(Instant::now() + timeout)
}

/// Stops the running pipeline by `deadline` (the caller holds `LIFECYCLE`); true if everything
/// still queued was delivered in time (no export failed on the way). One deadline for every
/// step: it returns by `deadline` plus at most 2 × [`export::ANSWER_GRACE`] (the answers of
/// threads that gave up at the deadline), and by `deadline` when telemark's thread is stalled.
fn stop_pipeline(deadline: Instant) -> bool {
    // A failed attempt that a retry made good is not a loss: what counts is what was dropped.
    let lost = || {
        let s = stats::snapshot();
        (s.spans_dropped, s.logs_dropped, s.metric_pushes_dropped)
    };
    let before = lost();
    #[cfg(feature = "otlp")]
    export::otlp::GAVE_UP.store(false, Relaxed);
    sampling::uninstall();
    // What was recorded is processed first (exceptions grouped and counted), so that the metrics
    // the services push one last time are the final ones.
    let responsive = collector::request(collector::Command::Barrier, deadline);
    let services = SERVICES.lock().ok().and_then(|mut s| s.take());
    if let Some(s) = services {
        s.stop(deadline);
    }
    // The exporters stop by the deadline and then say what they gave up on (the collector waits
    // for them up to `ANSWER_GRACE` past it): the counts are final when this returns. A collector
    // that did not answer the barrier is stuck (in an exporter of the program's own): waiting
    // past the deadline for it would not help.
    let wait_until = if responsive { deadline + 2 * export::ANSWER_GRACE } else { deadline };
    let answered =
        collector::request(|ack| collector::Command::Shutdown(ack, deadline), wait_until.max(Instant::now()));
    let ok = answered && Instant::now() <= deadline;
    collector::detach();
    EPOCH.store(0, Relaxed);
    #[cfg(feature = "otlp")]
    let ok = ok && !export::otlp::GAVE_UP.load(Relaxed);
    ok && lost() == before
}

/// Starts telemark: the collector thread, the exporters, the `tracing` bridge and the panic hook.
///
/// Call it once, early in `main`, and keep the guard until the end. Calling it again replaces the
/// running pipeline. With `disabled: true` (or `OTEL_SDK_DISABLED=true`) it returns a guard that
/// does nothing, and instrumented code costs one branch.
pub fn init<A: config::Extension>(config: Config<A>) -> Result<Guard, Error> {
    config.validate()?;
    if !config.disabled && config.logging.install_subscriber && foreign_subscriber() {
        return Err(Error::SubscriberAlreadySet);
    }
    let _l = LIFECYCLE.lock().map_err(|_| Error::Exporter("telemark's lifecycle lock is poisoned".into()))?;
    if EPOCH.load(Relaxed) != 0 {
        // Replace the running pipeline.
        stop_pipeline(Instant::now() + config.export.shutdown_timeout);
    }
    let timeout = config.export.shutdown_timeout;
    if config.disabled {
        return Ok(Guard { epoch: 0, timeout });
    }
    // Before anything starts: a `scrub:` pattern built in code may not compile.
    let sanitizer =
        crate::sanitize::Sanitizer::new(&config.scrub, &config.limits).map_err(|(key, message)| {
            crate::config::ConfigError {
                source: config.source.clone().unwrap_or_else(|| "Config".into()),
                line: None,
                column: None,
                key: Some(key),
                message,
            }
        })?;
    crate::caller::value::set_value_cap(sanitizer.caller_cap());
    crate::collector::set_code_attributes(config.tracing.code_attributes);
    thread::RING_CAPACITY.store(config.export.buffer_per_thread.max(16), Relaxed);
    let mut exporters: Vec<Box<dyn export::Exporter>> = Vec::new();
    #[allow(unused_mut)]
    let mut direct: Option<Box<dyn export::RecordExporter>> = None;
    let otlp = &config.exporters.otlp;
    let otlp_on = !otlp.endpoint.trim().is_empty()
        || (0..3).any(|i| otlp.signal(i).endpoint.as_ref().is_some_and(|e| !e.trim().is_empty()));
    #[cfg(not(feature = "otlp"))]
    if otlp_on {
        return Err(Error::Exporter(
            "an OTLP endpoint is configured but telemark was built without its `otlp` feature".into(),
        ));
    }
    #[cfg(feature = "otlp")]
    if otlp_on {
        let o = &config.exporters.otlp;
        let mut destinations = [None, None, None];
        for (i, d) in destinations.iter_mut().enumerate() {
            *d = o.destination(i).map_err(Error::Exporter)?;
        }
        // The failing/recovered lines name the traces' destination (or the first there is).
        let shown = destinations
            .iter()
            .flatten()
            .next()
            .map_or(String::new(), |d| config::check::redact_url(&d.url, config::check::Path::Keep));
        let settings = export::otlp::OtlpSettings {
            max_queue: config.export.max_queue,
            max_queue_bytes: config.export.max_queue_bytes,
            max_retry_time: config.export.max_retry_time,
            max_batch: config.export.max_batch.max(1),
            max_request_bytes: config.export.max_request_bytes,
            delay: config.export.delay,
            resource: resource(&config),
            metrics_every: (config.metrics.enabled && destinations[2].is_some())
                .then(|| config.metrics.export_interval.max(Duration::from_millis(10))),
            destinations,
            health: std::sync::Arc::new(export::otlp::health::Health::new(
                format!("OTLP export to {shown}"),
                config.export.max_queue_bytes,
            )),
        };
        direct = Some(Box::new(export::otlp::Otlp::start(settings).map_err(Error::Exporter)?));
    }
    let c = &config.exporters.console;
    let console_on = match c.enabled {
        Switch::On => true,
        Switch::Off => false,
        Switch::Auto => console_auto(
            otlp_on,
            !config.extra.is_empty(),
            config.logging.install_subscriber,
            own_subscriber(),
        ),
    };
    if console_on {
        use std::io::IsTerminal;
        let (output, tty) = match c.output {
            ConsoleOutput::Stdout => (export::console::Output::Stdout, std::io::stdout().is_terminal()),
            ConsoleOutput::Stderr => (export::console::Output::Stderr, std::io::stderr().is_terminal()),
        };
        let color = match c.color {
            Switch::On => true,
            Switch::Off => false,
            Switch::Auto => export::console::color_auto(tty, std::env::var_os("NO_COLOR").as_deref()),
        };
        exporters.push(Box::new(export::console::Console::new(c.format, output, color)));
    }
    let install_subscriber = config.logging.install_subscriber;
    let x = &config.exceptions;
    exception::configure(
        exception::Limits {
            max_groups: x.max_groups.max(1),
            per_window: x.rate_limit,
            window: x.rate_window,
        },
        x.ignore.clone(),
        x.capture_backtrace,
    );
    let filters =
        sampling::Filters { spans: config.tracing.level.clone(), logs: config.logging.level.clone() };
    let sampler = config.sampling.sampler();
    exporters.extend(config.extra);
    metrics::set_enabled(config.metrics.enabled);
    // A previous pipeline's endpoint goes first, so the same address can be bound again.
    if let Ok(mut s) = SERVICES.lock() {
        *s = None;
    }
    let prometheus = match &config.metrics.prometheus.listen {
        Some(listen) => Some(metrics::prometheus::Server::start(listen).map_err(|e| {
            Error::Exporter(format!("metrics.prometheus.listen `{listen}`: cannot listen: {e}"))
        })?),
        None => None,
    };
    let extension = config.alerts.start(config.source.as_deref()).map_err(Error::Alerts)?;
    if let Ok(mut s) = SERVICES.lock() {
        *s = Some(Services { prometheus, extension });
    }
    crate::caller::clock::reanchor();
    collector::start(
        direct,
        exporters,
        sanitizer,
        config.export.drain_interval.max(Duration::from_millis(1)),
    )
    .map_err(Error::Thread)?;
    install_panic_hook();
    if install_subscriber {
        install_tracing_subscriber();
    }
    crate::caller::propagation::install(&config.propagators.0);
    sampling::install(filters, sampler);
    let epoch = EPOCH.fetch_add(0, Relaxed).max(next_epoch());
    EPOCH.store(epoch, Relaxed);
    Ok(Guard { epoch, timeout })
}

fn next_epoch() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

/// The resource's attributes, in order; a key given twice keeps its place and its last value.
#[cfg(feature = "otlp")]
fn resource<A>(config: &Config<A>) -> Vec<(String, String)> {
    let s = &config.service;
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| match attrs.iter_mut().find(|(key, _)| key == k) {
        Some(kv) => kv.1 = v.to_string(),
        None => attrs.push((k.to_string(), v.to_string())),
    };
    put("service.name", &s.name);
    put("telemetry.sdk.name", "telemark");
    put("telemetry.sdk.language", "rust");
    put("telemetry.sdk.version", env!("CARGO_PKG_VERSION"));
    if let Some(v) = &s.version {
        put("service.version", v);
    }
    if let Some(e) = &s.environment {
        put("deployment.environment.name", e);
    }
    for (k, v) in &s.attributes {
        if k != "service.name" {
            put(k, v);
        }
    }
    attrs
}

/// Delivers everything recorded so far to the exporters (and, for OTLP, to the collector), waiting
/// at most `timeout`. True if everything was delivered (or dropped for good, and counted) in
/// time; false when it timed out, when nothing is running, or as soon as the OTLP backend failed
/// an attempt with telemetry left to send — that is kept, and sent when the backend recovers.
pub fn flush(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    collector::request(|ack| collector::Command::Flush(ack, deadline), deadline)
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = exception::panic_message(payload);
            let location = info.location().map(|l| (l.file().to_string(), l.line()));
            // A panic inside telemark's call into std's `Backtrace` (a std bug) may find this
            // thread holding std's global backtrace lock, which is not re-entrant: capturing a
            // backtrace now, or std's default hook (it takes the lock to print), would wait for
            // this thread forever. Then the message is written here and the panic unwinds, which
            // releases the lock.
            let inside_backtrace = exception::inside_std_backtrace();
            // Captured on every thread but telemark's own, before the panic unwinds; never blocks
            // or panics itself.
            let note = if inside_backtrace || thread::is_internal() {
                exception::PanicNote { message: msg, ..Default::default() }
            } else {
                exception::record_panic_message(&msg, location.as_ref().map(|(f, l)| (f.as_str(), *l)))
            };
            let _ = thread::with(|l| {
                if let Ok(mut m) = l.panic_note.try_borrow_mut() {
                    *m = Some(note);
                }
            });
            if inside_backtrace {
                let current = std::thread::current();
                let at = info.location().map_or(String::new(), |l| format!(" at {l}"));
                let _ = writeln!(
                    std::io::stderr(),
                    "\nthread '{}' panicked{at} inside std's backtrace code:\n{}",
                    current.name().unwrap_or("<unnamed>"),
                    exception::panic_message(info.payload())
                );
            } else {
                previous(info);
            }
        }));
    });
}

/// Whether the program set a `tracing` subscriber of its own, without telemark's layer, as the
/// default (the global one, unless a scoped one is set on this thread). A subscriber that has
/// `telemark::tracing_layer()` among its layers (the composed form), or the one telemark
/// installed, is not foreign. (`tracing::dispatcher::has_been_set` would say the same for the
/// global one, but it is hidden and unstable.)
fn foreign_subscriber() -> bool {
    tracing::dispatcher::get_default(|d| {
        !d.is::<tracing::subscriber::NoSubscriber>() && d.downcast_ref::<TelemarkLayer>().is_none()
    })
}

/// Whether the program brought its own `tracing` subscriber (telemark's layer in it): the
/// default one is not `NoSubscriber` and not the one `init` installed.
fn own_subscriber() -> bool {
    tracing::dispatcher::get_default(|d| {
        !d.is::<tracing::subscriber::NoSubscriber>()
            && d.downcast_ref::<TelemarkLayer>().is_none_or(|l| l.is_composed())
    })
}

/// `exporters.console.enabled: auto`: on when nothing else shows what the program does — no OTLP
/// endpoint, no exporter added in code, and no subscriber of the program's own (which prints its
/// logs itself: telemark's console would print each line twice).
fn console_auto(
    otlp_on: bool,
    extra_exporters: bool,
    install_subscriber: bool,
    own_subscriber: bool,
) -> bool {
    !otlp_on && !extra_exporters && install_subscriber && !own_subscriber
}

fn install_tracing_subscriber() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(TelemarkLayer::installed());
        // `init` refused a foreign global subscriber before starting; one set since (another
        // thread, meanwhile) wins, and this one is dropped.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

#[cfg(test)]
mod tests {
    use super::console_auto;

    #[test]
    fn console_auto_is_off_beside_the_programs_own_subscriber() {
        // Alone: the console is what shows the program's spans and logs.
        assert!(console_auto(false, false, true, false));
        // Something else shows them.
        assert!(!console_auto(true, false, true, false));
        assert!(!console_auto(false, true, true, false));
        // The program prints its logs itself: they would be printed twice.
        assert!(!console_auto(false, false, false, false));
        assert!(!console_auto(false, false, true, true));
    }
}
