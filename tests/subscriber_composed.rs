//! The composed form: the program's own subscriber (an `EnvFilter`, a `fmt` layer) with
//! `telemark::tracing_layer()` in it and `logging.install_subscriber: false`. Checked on what the
//! OTLP receiver got and on the lines the `fmt` layer wrote. Its own binary: the global subscriber
//! is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use support::Receiver;
use telemark::{traced, Config, Protocol};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, EnvFilter};

/// Where the `fmt` layer writes: the program's console, in memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[traced]
fn handle(order: u32) {
    tracing::info!(order, "composed hello");
    // Shown by the program's `fmt` layer (its filter says `app=debug`), not sent: telemark's
    // directives say `info`.
    tracing::debug!(target: "app", "debug for the console only");
    let lib = tracing::debug_span!(target: "reqwest::connect", "library.connect");
    lib.in_scope(|| tracing::debug!(target: "reqwest::connect", "connecting"));
}

#[test]
fn the_composed_form_prints_once_with_trace_ids_and_sends_everything() {
    let rx = Receiver::start();
    let lines = Lines::default();
    let out = lines.clone();
    tracing_subscriber::registry()
        .with(EnvFilter::new("info,app=debug,reqwest=debug"))
        .with(
            fmt::layer()
                .event_format(telemark::with_trace_ids(fmt::format().without_time().with_ansi(false)))
                .with_writer(move || out.clone()),
        )
        .with(telemark::tracing_layer())
        .init();
    let config = Config::default()
        .service_name("composed")
        .otlp(rx.grpc_endpoint(), Protocol::Grpc)
        .level("info,reqwest=debug")
        .unwrap()
        .install_subscriber(false);
    let guard = telemark::init(config).expect("init beside the program's subscriber");

    handle(7);
    assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");

    // Sent: the span, the library's span under it, the logs with their trace ids.
    let outer = rx.spans_named("handle").pop().expect("the #[traced] span");
    let lib = rx.spans_named("library.connect").pop().expect("the library's span");
    assert_eq!(lib.parent_span_id, outer.span_id);
    let logs = rx.logs();
    let hello = logs.iter().find(|l| l.body == "composed hello").expect("the OTLP log record");
    assert_eq!(
        (hello.trace_id.as_str(), hello.span_id.as_str()),
        (outer.trace_id.as_str(), outer.span_id.as_str())
    );
    let connecting = logs.iter().find(|l| l.body == "connecting").expect("the library's event");
    assert_eq!(connecting.span_id, lib.span_id);
    assert!(
        !logs.iter().any(|l| l.body == "debug for the console only"),
        "telemark's `info` let a debug log through"
    );

    // Printed once, by the program's layer, with the trace ids.
    let text = lines.text();
    let hello_lines: Vec<_> = text.lines().filter(|l| l.contains("composed hello")).collect();
    assert_eq!(hello_lines.len(), 1, "{text}");
    assert!(
        hello_lines[0].starts_with(&format!("trace_id={} span_id={} ", outer.trace_id, outer.span_id)),
        "{text}"
    );
    // telemark's filter decides for telemark only: the program's `app=debug` line is there.
    assert!(
        text.contains("debug for the console only"),
        "telemark's layer hid a line from the program's: {text}"
    );
    let connecting_line = text.lines().find(|l| l.contains("connecting")).expect("the library's line");
    assert!(connecting_line.contains(&format!("span_id={}", lib.span_id)), "{text}");

    // With `install_subscriber` left on, a subscriber that has telemark's layer is accepted.
    drop(guard);
    let again = Config::default().service_name("composed").otlp(rx.grpc_endpoint(), Protocol::Grpc);
    let guard = telemark::init(again).expect("a subscriber with telemark's layer is not foreign");
    drop(guard);
}
