//! OTLP over TLS, end to end: a CA made when the test runs, a TLS front on 127.0.0.1 before the
//! receiver's gRPC and HTTP ports, and what arrived there. The right CA delivers over gRPC and
//! HTTP (gzip too); a wrong CA, an expired certificate and a missing client certificate deliver
//! nothing and never fall back to plaintext; mutual TLS with the client certificate delivers; the
//! standard variables (per signal too) and schemeless endpoints work; TLS files with a plaintext
//! endpoint are refused by `init`.
//!
//! One pipeline per process: the cases run one after the other in one test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use telemark::{traced, Config};
use telemark_tests::tls::{addr_of, TestPki, TlsFront};
use telemark_tests::{Receiver, Signal};

#[traced]
fn secured(case: &str) -> usize {
    tracing::info!(case, "a log record from a traced function");
    case.len()
}

/// A config for `endpoint` with `extra` YAML under `exporters.otlp`.
fn config(endpoint: &str, protocol: &str, extra: &str) -> Config {
    let yaml = format!(
        "service: {{name: tls}}\nexport: {{shutdown_timeout: 1s}}\nmetrics: {{enabled: false}}\n\
         exporters:\n  console: {{enabled: false}}\n  otlp:\n    endpoint: \"{endpoint}\"\n    protocol: {protocol}\n    timeout: 2s\n{extra}"
    );
    Config::from_yaml(&yaml, "tls.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn files(pki: &TestPki, client: bool) -> String {
    let mut s = format!("    certificate: {}\n", pki.ca.display());
    if client {
        s += &format!(
            "    client_certificate: {}\n    client_key: {}\n",
            pki.client_cert.display(),
            pki.client_key.display()
        );
    }
    s
}

/// Runs one span (and its log record) through a pipeline made of `config`: true when both were
/// delivered (the flush barrier returns once the receiver answered), false when the front saw the
/// handshake fail (what this then waits for) and nothing of the case reached the receiver.
fn deliver(config: Config, rx: &Receiver, front: &TlsFront, case: &str, expect: bool) -> bool {
    let guard = telemark::init(config).expect("init");
    let failed_before = front.failures().len();
    secured(case);
    let out = if expect {
        assert!(telemark::flush(telemark::QUERY_WAIT), "{case}: flushed");
        let logs = rx.wait_logs(|l| l.iter().any(|l| l.attr_str("case") == Some(case)));
        assert!(logs.iter().any(|l| l.attr_str("case") == Some(case)), "{case}: the log record");
        rx.spans().iter().any(|s| s.attr_str("case") == Some(case))
    } else {
        let tls_before = telemark::stats().export_failures_by.tls;
        let why = front.wait_failure_after(failed_before);
        assert!(why.is_some(), "{case}: the handshake did not fail");
        println!("{case}: the server saw {why:?}");
        // The flush returns once an attempt failed (the telemetry is kept for a retry); the
        // failure is counted as TLS's.
        assert!(!telemark::flush(telemark::QUERY_WAIT), "{case}: nothing was delivered");
        let stats = telemark::stats();
        assert!(stats.export_failures_by.tls > tls_before, "{case}: {:?}", stats.export_failures_by);
        let arrived = rx.spans().iter().any(|s| s.attr_str("case") == Some(case))
            || rx.logs().iter().any(|l| l.attr_str("case") == Some(case));
        assert!(!arrived, "{case}: arrived");
        false
    };
    drop(guard);
    out
}

#[test]
fn otlp_over_tls_delivers_only_to_the_right_server() {
    let pki = TestPki::new();
    let rx = Receiver::start();
    let grpc_addr = addr_of(&rx.grpc_endpoint());
    let http_addr = addr_of(&rx.http_endpoint());

    // The right CA, gRPC and HTTP, with and without gzip.
    let grpc = TlsFront::start(grpc_addr, pki.server_config(false, false));
    let http = TlsFront::start(http_addr, pki.server_config(false, false));
    assert!(deliver(config(&grpc.url(), "grpc", &files(&pki, false)), &rx, &grpc, "grpc", true));
    assert!(deliver(config(&http.url(), "http/protobuf", &files(&pki, false)), &rx, &http, "http", true));
    let gzip = format!("{}    compression: gzip\n", files(&pki, false));
    assert!(deliver(config(&grpc.url(), "grpc", &gzip), &rx, &grpc, "grpc-gzip", true));
    assert!(deliver(config(&http.url(), "http/protobuf", &gzip), &rx, &http, "http-gzip", true));
    let encodings: Vec<(Signal, String)> = rx
        .requests()
        .iter()
        .filter_map(|r| {
            let h = r.headers.get("grpc-encoding").or(r.headers.get("content-encoding"))?;
            Some((r.signal, h.clone()))
        })
        .collect();
    assert!(encodings.iter().any(|(s, h)| *s == Signal::Traces && h == "gzip"), "{encodings:?}");
    assert_eq!(grpc.failures(), Vec::<String>::new());
    assert_eq!(http.failures(), Vec::<String>::new());

    // A CA that did not sign the server's certificate: nothing is sent.
    let wrong = format!("    certificate: {}\n", pki.other_ca.display());
    let requests = rx.requests().len();
    assert!(!deliver(config(&grpc.url(), "grpc", &wrong), &rx, &grpc, "wrong-ca-grpc", false));
    assert!(!deliver(config(&http.url(), "http/protobuf", &wrong), &rx, &http, "wrong-ca-http", false));
    // The platform's roots (no certificate given) do not know the test CA either.
    assert!(!deliver(config(&http.url(), "http/protobuf", ""), &rx, &http, "platform-roots", false));
    assert_eq!(rx.requests().len(), requests, "nothing reached the receiver");

    // An expired certificate from the right CA.
    let expired = TlsFront::start(grpc_addr, pki.server_config(false, true));
    assert!(!deliver(config(&expired.url(), "grpc", &files(&pki, false)), &rx, &expired, "expired", false));
    assert_eq!(rx.requests().len(), requests, "nothing reached the receiver");

    // Mutual TLS: without the client certificate nothing is sent; with it, it is delivered.
    let mtls_grpc = TlsFront::start(grpc_addr, pki.server_config(true, false));
    let mtls_http = TlsFront::start(http_addr, pki.server_config(true, false));
    assert!(!deliver(
        config(&mtls_grpc.url(), "grpc", &files(&pki, false)),
        &rx,
        &mtls_grpc,
        "no-client-cert",
        false
    ));
    assert_eq!(rx.requests().len(), requests, "nothing reached the receiver");
    assert!(deliver(
        config(&mtls_grpc.url(), "grpc", &files(&pki, true)),
        &rx,
        &mtls_grpc,
        "mtls-grpc",
        true
    ));
    assert!(deliver(
        config(&mtls_http.url(), "http/protobuf", &files(&pki, true)),
        &rx,
        &mtls_http,
        "mtls-http",
        true
    ));

    // The standard variables: generic ones, then per signal — spans over gRPC with TLS, logs
    // over HTTP with TLS and mutual TLS, each to its own front.
    let vars: HashMap<&str, String> = HashMap::from([
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.ca.display().to_string()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", grpc.url()),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".into()),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", format!("{}/v1/logs", mtls_http.url())),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf".into()),
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", pki.client_cert.display().to_string()),
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", pki.client_key.display().to_string()),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip".into()),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2000".into()),
    ]);
    let mut c = config("", "grpc", "");
    c.apply_env(&|k| vars.get(k).cloned()).unwrap();
    let (g, h) = (grpc.handshakes(), mtls_http.handshakes());
    assert!(deliver(c, &rx, &grpc, "variables", true));
    assert!(
        grpc.handshakes() > g && mtls_http.handshakes() > h,
        "spans and logs each through their own front"
    );
    let logs = rx.requests().into_iter().rfind(|r| r.signal == Signal::Logs).unwrap();
    assert_eq!(logs.transport, "http");
    assert_eq!(logs.headers.get("content-encoding").map(String::as_str), Some("gzip"));

    // Schemeless: TLS unless `insecure`.
    let port = grpc.url().rsplit(':').next().unwrap().to_string();
    let schemeless = format!("127.0.0.1:{port}");
    assert!(deliver(config(&schemeless, "grpc", &files(&pki, false)), &rx, &grpc, "schemeless-tls", true));
    let plain = format!("127.0.0.1:{}", grpc_addr.port());
    assert!(deliver(config(&plain, "grpc", "    insecure: true\n"), &rx, &grpc, "schemeless-insecure", true));

    // TLS files with a plaintext endpoint: refused before anything is sent.
    let e = telemark::init(config(&rx.grpc_endpoint(), "grpc", &files(&pki, false))).unwrap_err().to_string();
    assert!(e.contains("plaintext") && e.contains("exporters.otlp"), "{e}");
    // A certificate file that is not there: named with its key.
    let missing = "    certificate: /nonexistent/ca.pem\n";
    let e = telemark::init(config(&grpc.url(), "grpc", missing)).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/ca.pem") && e.contains("exporters.otlp"), "{e}");
    assert!(Path::new(&pki.ca).exists());
}
