//! Test support shared by the integration tests: an in-process OTLP receiver.
//!
//! Use from an integration test with `use telemark_tests as support;` and then
//! `let rx = support::Receiver::start();`, point the exporter at `rx.grpc_endpoint()` or
//! `rx.http_endpoint()`, make telemark deliver with `telemark::flush` (a barrier: it returns
//! once the receiver has answered) and assert on `rx.spans()` / `rx.logs()`.

// Test support: a failed expectation is a failed test, so panicking is how it reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod model;
mod receiver;
// Alert delivery (tests/alert_delivery.rs): a webhook listener, aiosmtpd, Alertmanager.
pub mod alertmanager;
pub mod smtp;
// A third-party collector between telemark and the receiver (tests/rotel.rs).
pub mod rotel;
// The web_services example's services as processes (tests/web_services.rs, tests/rotel.rs).
pub mod web_example;
// https for every test server: a CA made at test time and a TLS front.
pub mod tls;
pub mod webhook;

pub use model::{Attributes, Event, Link, Log, MetricPoint, PointValue, Span, SpanKind, Status, Value};
pub use receiver::{Receiver, RequestInfo, Signal};

/// The longest a test waits for something that telemark's flush barrier cannot wait for (another
/// process's output, a request that a server sent or received on its own schedule). It is a bound
/// on failure, not a pause: waits end as soon as what they wait for happens, and the bound is
/// reached only when it never does.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Asks `check` until it answers `Some` (at most [`WAIT`], then the test fails saying `what`).
/// For the state of another process that can only be asked, not awaited — Prometheus' and
/// Alertmanager's HTTP APIs: the pause between questions grows from 10 ms to 250 ms, and the answer
/// does not depend on it.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    let mut pause = std::time::Duration::from_millis(10);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(250));
    }
}

/// `http://127.0.0.1:PORT` where nothing listens (a port that was free a moment ago), for tests
/// of a dead backend.
pub fn dead_endpoint() -> String {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => format!("http://{addr}"),
        Err(e) => panic!("dead_endpoint: could not bind a probe listener: {e}"),
    }
}

/// The repository's root (where `configs/`, `examples/` and the workspace's `Cargo.toml` are).
pub fn repo_root() -> &'static std::path::Path {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests)
}

/// Records the pauses an alert channel's retry policy asks for, instead of spending them.
#[derive(Clone, Default)]
pub struct Pauses(std::sync::Arc<std::sync::Mutex<Vec<std::time::Duration>>>);

impl Pauses {
    /// The sleep to give the channel: it records the pause and returns at once.
    pub fn sleep(&self) -> impl FnMut(std::time::Duration) + Send + 'static {
        let p = self.0.clone();
        move |d| p.lock().unwrap().push(d)
    }
    /// The pauses asked for so far.
    pub fn taken(&self) -> Vec<std::time::Duration> {
        self.0.lock().unwrap().clone()
    }
}
