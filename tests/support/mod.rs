//! Test support shared by the integration tests: an in-process OTLP receiver.
//!
//! Use from an integration test with `use telemark_tests as support;` and then
//! `let rx = support::Receiver::start();`, point the exporter at `rx.grpc_endpoint()` or
//! `rx.http_endpoint()`, and assert on `rx.wait_spans(..)` / `rx.wait_logs(..)`.

// Test support: a failed expectation is a failed test, so panicking is how it reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod model;
mod receiver;
// Alert delivery (tests/alert_delivery.rs): a webhook listener, aiosmtpd, Alertmanager.
pub mod alertmanager;
pub mod smtp;
pub mod webhook;

pub use model::{Attributes, Event, Link, Log, MetricPoint, PointValue, Span, SpanKind, Status, Value};
pub use receiver::{Receiver, RequestInfo, Signal};

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
