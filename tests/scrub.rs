//! Secrets and personal data recorded every way a program records them — arguments (`Debug` of
//! structs and header maps), `ret`, `fields` aliases, span names, log messages and fields, error
//! and panic messages, error chains, status messages — never reach an exporter: checked in every
//! byte an OTLP receiver got (gRPC) and in what an exporter of the program's own got.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use std::sync::OnceLock;
use telemark::testing::MemoryExporter;
use telemark::{capture_exceptions, traced, Config, Protocol};
use telemark_tests::Receiver;

/// Every secret the probes record: none may arrive, anywhere.
const SECRETS: &[&str] = &[
    "hdrBearer7x9Q2mZk",
    "sessCookie55aa77",
    "xApiKey0c1d2e3f",
    "Hunter2Pw9871",
    "retAccess44tokenZ",
    "aliasBearer88QW",
    "4111 1111 1111 1111",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "AKIAIOSFODNN7EXAMPLE",
    "urlPw_S3cr3t99",
    "panicPw1234zz",
    "MIIEpAIBAAKCAQEA75x",
    "causeToken0987abc",
    "spanNameSecret777x",
    "tracingAuthBasic66",
    "5555555555554444",
    "queryTok3nValue",
    "AKIAJZ2QWERTY7654321",
    "envPass_w0rd",
];

fn pipeline() -> &'static (Receiver, MemoryExporter, telemark::Guard) {
    static P: OnceLock<(Receiver, MemoryExporter, telemark::Guard)> = OnceLock::new();
    P.get_or_init(|| {
        let rx = Receiver::start();
        let memory = MemoryExporter::new();
        let config = Config::default()
            .service_name("scrub-tests")
            .otlp(rx.grpc_endpoint(), Protocol::Grpc)
            .exporter(memory.clone())
            .level("debug")
            .unwrap();
        let guard = telemark::init(config).expect("init");
        (rx, memory, guard)
    })
}

#[derive(Debug)]
#[allow(dead_code)]
struct LoginRequest {
    user: String,
    password: String,
}

#[derive(Debug)]
#[allow(dead_code)]
struct Session {
    user: u64,
    access_token: String,
}

#[derive(Debug)]
#[allow(dead_code)]
struct Deploy {
    host: String,
    key_pem: String,
}

#[traced]
fn handle(headers: &http::HeaderMap, body: &LoginRequest) -> usize {
    let _parent = telemark::propagation::extract(headers);
    headers.len() + body.user.len()
}

#[traced(ret)]
fn login(user: u64) -> Session {
    Session { user, access_token: "retAccess44tokenZ".into() }
}

#[traced(fields(h = header))]
fn forward(header: &str) -> usize {
    header.len()
}

#[traced]
fn pay(card: &str) -> Result<(), String> {
    telemark::tracing::info!("charging card {card} for order 17");
    telemark::tracing::warn!(key = "AKIAIOSFODNN7EXAMPLE", number = 5555555555554444u64, "card on file");
    Err(format!("gateway refused https://pay:urlPw_S3cr3t99@gateway.internal/charge for {card}"))
}

#[derive(Debug)]
struct Upstream(String);
impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upstream said {}", self.0)
    }
}
impl std::error::Error for Upstream {}

#[derive(Debug)]
struct Wrapped(Upstream);
impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}
impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[capture_exceptions]
#[traced]
fn verify(token: &str) -> Result<(), Wrapped> {
    Err(Wrapped(Upstream(format!("token={token} expired; session=causeToken0987abc"))))
}

#[traced]
fn deploy(d: &Deploy) -> usize {
    d.host.len()
}

#[test]
fn no_secret_reaches_an_exporter() {
    let (rx, memory, _) = pipeline();
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer hdrBearer7x9Q2mZk".parse().unwrap());
    headers.insert("cookie", "theme=dark; session=sessCookie55aa77".parse().unwrap());
    headers.insert("x-api-key", "xApiKey0c1d2e3f".parse().unwrap());
    headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    handle(&headers, &LoginRequest { user: "ann".into(), password: "Hunter2Pw9871".into() });
    login(7);
    forward("Bearer aliasBearer88QW");
    let _ = pay("4111 1111 1111 1111");
    let _ =
        verify("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let _ = std::panic::catch_unwind(|| {
        let _s = telemark::span("panicking");
        panic!("connect failed: DATABASE_URL=postgres://app@db?password=panicPw1234zz");
    });
    deploy(&Deploy {
        host: "a".into(),
        key_pem: "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75x\n-----END RSA PRIVATE KEY-----".into(),
    });
    {
        let _s = telemark::span("lookup session=spanNameSecret777x");
    }
    telemark::tracing::info_span!("outbound", authorization = "Basic tracingAuthBasic66").in_scope(|| {
        telemark::tracing::info!(url = "https://api.example.com/v1?access_token=queryTok3nValue", "GET");
        telemark::tracing::error!("aws key AKIAJZ2QWERTY7654321 in env; DB_PASSWORD=envPass_w0rd");
    });
    assert!(telemark::flush(telemark::QUERY_WAIT));

    // What the receiver got: every byte of every request, re-encoded from the official types.
    let mut wire = Vec::new();
    for r in rx.raw_trace_requests() {
        wire.extend(r.encode_to_vec());
    }
    for r in rx.raw_logs_requests() {
        wire.extend(r.encode_to_vec());
    }
    let wire = String::from_utf8_lossy(&wire).into_owned();
    let names: Vec<String> = rx.spans().into_iter().map(|s| s.name).collect();
    for expected in ["handle", "login", "forward", "pay", "verify", "deploy", "outbound"] {
        assert!(names.iter().any(|n| n == expected), "span `{expected}` did not arrive: {names:?}");
    }
    assert!(rx.logs().len() >= 5, "{} logs", rx.logs().len());
    // What the program's own exporter got.
    let own = format!("{:?}{:?}", memory.spans(), memory.logs());
    let mut leaks = Vec::new();
    for s in SECRETS {
        if wire.contains(s) {
            leaks.push(format!("OTLP: {s}"));
        }
        if own.contains(s) {
            leaks.push(format!("own exporter: {s}"));
        }
    }
    assert!(leaks.is_empty(), "leaked: {leaks:?}");
    eprintln!("scrub probes: {} secrets recorded 19 ways, 0 of them in {} bytes received over OTLP or in the own exporter", SECRETS.len(), wire.len());
    // Masked, not dropped: what is not secret arrives.
    let handle = rx.spans_named("handle").pop().unwrap();
    // A header map keeps its harmless headers only.
    let h = handle.attr_str("headers").unwrap();
    assert!(h.contains("traceparent") && !h.contains("authorization") && !h.contains("cookie"), "{h}");
    assert_eq!(handle.attr_str("body").unwrap(), "LoginRequest { user: \"ann\", password: \"[REDACTED]\" }");
    assert!(wire.contains("charging card [REDACTED] for order 17"));
    assert!(wire.contains("gateway.internal/charge"));
}
