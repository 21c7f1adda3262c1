//! The `web_services` example (tests/examples/web_services.rs) run as the tests run it: each
//! service its own process with its own telemark pipeline, exporting where the test says.
//!
//! The example must be built: `cargo test --workspace` builds it; alone,
//! `cargo build -p telemark-tests --example web_services` first.

use std::io::{BufRead as _, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::{Receiver, Span, SpanKind};

/// A service of the example, started with `args`, exporting to `endpoint` over `protocol`.
pub struct Service {
    /// `http://127.0.0.1:PORT`, where it serves.
    pub addr: String,
    child: Child,
    rest: std::thread::JoinHandle<String>,
}

impl Service {
    /// Starts it (`["backend"]` or `["frontend", backend_addr]`) and returns once it listens.
    pub fn start(args: &[&str], endpoint: &str, protocol: &str) -> Service {
        // target/debug/deps/web_services-<hash> → target/debug/examples/web_services
        let exe = std::env::current_exe().unwrap();
        let path: PathBuf =
            exe.parent().and_then(|d| d.parent()).unwrap().join("examples").join("web_services");
        assert!(
            path.exists(),
            "{} is not built: run `cargo build -p telemark-tests --example web_services` first \
             (`cargo test --workspace` builds it)",
            path.display()
        );
        let mut cmd = Command::new(path);
        for (k, _) in std::env::vars() {
            if k.starts_with("OTEL_") || k == "RUST_LOG" || k == "TELEMARK_CONFIG" {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .args(args)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{args:?}: {line:?}"));
        let addr = format!("http://{addr}");
        // Drained, so that the service never blocks on a full pipe; kept for failure messages.
        let rest = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Service { child, addr, rest }
    }

    /// The port it serves on.
    pub fn port(&self) -> i64 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Closes its stdin (it shuts down, flushing telemark) and waits for it to exit.
    pub fn stop(mut self) -> String {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        let out = self.rest.join().unwrap();
        assert!(status.success(), "exited with {status}:\n{out}");
        out
    }
}

/// The request's `Authorization`: must never reach the receiver.
const BEARER: &str = "Bearer tm-web-bearer-9f4c2a71e3";
/// The request's `Cookie`: must never reach the receiver.
const COOKIE: &str = "session=tm-web-cookie-5b8d0e62f1";

// ---- the example, two processes ----

fn named<'a>(spans: &'a [Span], service: &str, name: &str) -> &'a Span {
    let of_service = |s: &&Span| s.resource_attr("service.name").and_then(|v| v.as_str()) == Some(service);
    let found: Vec<&Span> = spans.iter().filter(of_service).filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one `{name}` of {service}; got {:?}",
        spans.iter().map(|s| (&s.name, s.resource_attr("service.name"))).collect::<Vec<_>>()
    );
    found[0]
}

fn child_of(child: &Span, parent: &Span) {
    assert_eq!(child.trace_id, parent.trace_id, "{} in {}'s trace", child.name, parent.name);
    assert_eq!(child.parent_span_id, parent.span_id, "{} is {}'s child", child.name, parent.name);
}

/// What [`checkout`] learnt about the services it ran.
pub struct Run {
    /// The frontend's port.
    pub front_port: i64,
    /// The backend's port.
    pub back_port: i64,
    /// The backend's `http://127.0.0.1:PORT`.
    pub back_addr: String,
}

/// Runs the example's backend and frontend exporting to `endpoint` over `protocol` (`grpc` or
/// `http/protobuf`), asks the frontend for `/checkout/7` with an `Authorization` and a `Cookie`
/// header, and stops both (each flushes telemark before it exits).
pub fn checkout(endpoint: &str, protocol: &str) -> Run {
    let backend = Service::start(&["backend"], endpoint, protocol);
    let frontend = Service::start(&["frontend", &backend.addr], endpoint, protocol);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = rt.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{}/checkout/7?coupon=spring", frontend.addr))
            .header("authorization", BEARER)
            .header("cookie", COOKIE)
            .header("user-agent", "web-services-test/1.0")
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "cart 7: 215\n");
    let (front_port, back_port) = (frontend.port(), backend.port());
    let back_addr = backend.addr.clone();
    frontend.stop();
    backend.stop();
    Run { front_port, back_port, back_addr }
}

/// Asserts what the receiver got from a [`checkout`]: both services' spans in one trace with the
/// HTTP semantic conventions' attributes, the backend's log with the baggage the frontend set, the
/// per-route metrics, and neither the request's secrets nor its query in any body received.
pub fn assert_arrived(rx: &Receiver, run: &Run) {
    let Run { front_port, back_port, back_addr } = run;
    let (front_port, back_port) = (*front_port, *back_port);
    // Both processes flushed before they exited: everything is at the receiver.
    let spans = rx.spans();
    let server = named(&spans, "frontend", "GET /checkout/{cart}");
    let handler = named(&spans, "frontend", "checkout");
    let items = named(&spans, "frontend", "cart_items");
    let fetch = named(&spans, "frontend", "fetch_price");
    let client = named(&spans, "frontend", "GET");
    let back_server = named(&spans, "backend", "GET /price/{item}");
    let price = named(&spans, "backend", "price");

    assert!(server.is_root(), "no traceparent came in: a new trace");
    child_of(handler, server);
    child_of(items, handler);
    child_of(fetch, handler);
    child_of(client, fetch);
    child_of(back_server, client);
    child_of(price, back_server);
    for (span, kind) in [
        (server, SpanKind::Server),
        (handler, SpanKind::Internal),
        (client, SpanKind::Client),
        (back_server, SpanKind::Server),
        (price, SpanKind::Internal),
    ] {
        assert_eq!(span.kind, kind, "{}", span.name);
    }

    for (s, route, path, port) in [
        (server, "/checkout/{cart}", "/checkout/7", front_port),
        (back_server, "/price/{item}", "/price/71", back_port),
    ] {
        assert_eq!(s.attr_str("http.route"), Some(route));
        assert_eq!(s.attr_str("http.request.method"), Some("GET"));
        assert_eq!(s.attr_i64("http.response.status_code"), Some(200));
        assert_eq!(s.attr_str("url.path"), Some(path));
        assert_eq!(s.attr_str("url.scheme"), Some("http"));
        assert_eq!(s.attr_str("server.address"), Some("127.0.0.1"));
        assert_eq!(s.attr_i64("server.port"), Some(port));
        assert_eq!(s.attr_str("client.address"), Some("127.0.0.1"));
        assert_eq!(s.attr_str("network.protocol.version"), Some("1.1"));
        assert!(s.status.is_unset(), "{:?}", s.status);
        assert!(s.attr("url.query").is_none() && s.attr("code.function.name").is_none());
        assert!(s.attr("code.file.path").is_none() && s.attr("code.line.number").is_none());
    }
    assert_eq!(server.attr_str("user_agent.original"), Some("web-services-test/1.0"));
    assert_eq!(client.attr_str("http.request.method"), Some("GET"));
    assert_eq!(client.attr_str("url.full"), Some(format!("{back_addr}/price/71").as_str()));
    assert_eq!(client.attr_str("server.address"), Some("127.0.0.1"));
    assert_eq!(client.attr_i64("server.port"), Some(back_port));
    assert_eq!(client.attr_i64("http.response.status_code"), Some(200));
    assert_eq!(client.resource_attr("service.name").and_then(|v| v.as_str()), Some("frontend"));
    assert_eq!(back_server.resource_attr("service.name").and_then(|v| v.as_str()), Some("backend"));

    // The backend's log: the baggage the frontend's handler set, and the trace.
    let logs = rx.logs();
    let pricing = logs.iter().find(|l| l.body == "pricing").expect("the backend's log");
    assert_eq!(pricing.attr_str("tenant"), Some("acme"));
    assert_eq!(pricing.trace_id, server.trace_id);
    assert_eq!(pricing.span_id, price.span_id);
    assert_eq!(pricing.resource_attr("service.name").and_then(|v| v.as_str()), Some("backend"));

    // The calls by route and by function, each service's under its own name; a service's last
    // push (at its shutdown) holds its totals.
    let points = rx.metric_points();
    let calls = |service: &str, function: &str| -> Vec<i64> {
        points
            .iter()
            .filter(|p| p.name == "telemark.function.calls" && p.attr_str("function") == Some(function))
            .filter(|p| p.attr_str("outcome") == Some("ok"))
            .filter(|p| p.resource_attr("service.name").and_then(|v| v.as_str()) == Some(service))
            .filter_map(|p| p.as_i64())
            .collect()
    };
    for (service, function) in [
        ("frontend", "GET /checkout/{cart}"),
        ("frontend", "web_services::checkout"),
        ("frontend", "web_services::fetch_price"),
        ("backend", "GET /price/{item}"),
        ("backend", "web_services::price"),
    ] {
        let seen = calls(service, function);
        let functions: std::collections::BTreeSet<_> =
            points.iter().filter_map(|p| p.attr_str("function")).collect();
        assert_eq!(
            seen.last(),
            Some(&1),
            "{service}'s successful calls of `{function}`: {seen:?} (of {functions:?})"
        );
    }

    // Neither secret, nor the query, left either process.
    let bodies = rx.raw_bodies();
    assert!(bodies.len() >= 2, "traces and logs of both services: {} bodies", bodies.len());
    let contains =
        |needle: &str| bodies.iter().any(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()));
    assert!(contains("web-services-test/1.0"), "the search finds what was recorded");
    for secret in ["tm-web-bearer-9f4c2a71e3", "tm-web-cookie-5b8d0e62f1", "coupon=spring"] {
        assert!(!contains(secret), "`{secret}` reached the receiver");
    }
}
