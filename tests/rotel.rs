//! telemark beside a third-party collector: the `web_services` example's two services export to
//! rotel (<https://github.com/streamfold/rotel>, an OpenTelemetry collector written in Rust),
//! over OTLP gRPC and over OTLP HTTP, and rotel forwards to the test receiver. What arrives there
//! is what arrives directly ([`web_example::assert_arrived`]: one trace across both services,
//! the baggage, the metrics by route, no secret), and rotel's own debug log recorded the same
//! spans, logs and metrics.
//!
//! rotel ships as the PyPI wheel `rotel` (`.ci/run` installs it); see `support::rotel` for how
//! its binary is found. The example must be built (`cargo test --workspace` builds it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use support::rotel::{Export, Rotel};
use support::{web_example, Receiver};

/// telemark sends to rotel over `into` (`grpc` or `http/protobuf`); rotel forwards over `out`.
fn through_rotel(into: &str, out: Export) {
    let rx = Receiver::start();
    let mut rotel = Rotel::start(&rx, out);
    let endpoint = if into == "grpc" { rotel.grpc_endpoint() } else { rotel.http_endpoint() };
    let run = web_example::checkout(&endpoint, into);
    // Both services flushed into rotel before they exited (rotel had answered); stopping rotel
    // makes it export what it holds and exit: everything is at the receiver now.
    let recorded = rotel.stop();

    web_example::assert_arrived(&rx, &run);
    // It came from rotel, over what rotel was told to use: every signal, every request accepted.
    let requests = rx.requests();
    let transport = if out == Export::Grpc { "grpc" } else { "http" };
    assert!(requests.iter().all(|r| r.transport == transport && r.accepted), "{requests:?}");
    for signal in [support::Signal::Traces, support::Signal::Logs, support::Signal::Metrics] {
        assert!(requests.iter().any(|r| r.signal == signal), "no {signal:?} from rotel: {requests:?}");
    }

    // What rotel itself recorded: each service's spans, the backend's log, the metrics.
    for seen in [
        "GET /checkout/{cart}",
        "GET /price/{item}",
        "fetch_price",
        "pricing",
        "telemark.function.calls",
        "telemark.function.duration",
    ] {
        assert!(recorded.contains(seen), "rotel's debug log lacks `{seen}`:\n{recorded}");
    }
    for secret in ["tm-web-bearer-9f4c2a71e3", "tm-web-cookie-5b8d0e62f1", "coupon=spring"] {
        assert!(!recorded.contains(secret), "rotel saw `{secret}`");
    }
}

#[test]
fn grpc_into_rotel_grpc_out() {
    through_rotel("grpc", Export::Grpc);
}

#[test]
fn http_into_rotel_http_out() {
    through_rotel("http/protobuf", Export::Http);
}
