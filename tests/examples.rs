//! The examples as a newcomer runs them: the quickstart on the console with no backend, and the
//! OTLP example pointed at a collector (here, the test receiver) by one environment variable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::path::PathBuf;
use std::process::Command;
use support::Receiver;

fn example(name: &str) -> Command {
    // target/debug/deps/examples-<hash> → target/debug/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir: PathBuf = exe.parent().and_then(|d| d.parent()).unwrap().join("examples");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built (cargo test builds examples)", path.display());
    let mut cmd = Command::new(path);
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") || k == "RUST_LOG" || k == "TELEMARK_CONFIG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn quickstart_prints_a_span_tree_and_correlated_logs() {
    let out = example("quickstart").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("└─ handle_order [server]"), "{stdout}");
    assert!(stdout.contains("├─ price"), "{stdout}");
    assert!(stdout.contains("api_token=[REDACTED]"), "{stdout}");
    assert!(stdout.contains("error: unknown item \"lamp\""), "{stdout}");
    let log = stdout.lines().find(|l| l.contains("received order order_id=1")).expect("log line");
    let trace = log.split("trace_id=").nth(1).unwrap().split_whitespace().next().unwrap();
    assert!(stdout.contains(&format!("trace {trace}")), "the log's trace id heads a printed tree:\n{stdout}");
}

#[test]
fn otlp_example_sends_to_the_endpoint_in_the_environment() {
    for (protocol, endpoint_of) in [
        ("grpc", Receiver::grpc_endpoint as fn(&Receiver) -> String),
        ("http/protobuf", Receiver::http_endpoint),
    ] {
        let rx = Receiver::start();
        let out = example("otlp")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint_of(&rx))
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .env("OTEL_SERVICE_NAME", "otlp-example")
            .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc,x-tenant=42")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("all_delivered=true"), "{protocol}: {stderr}");
        assert!(!stderr.contains("is failing"), "{protocol}: {stderr}");
        // The example shut down only once the receiver had answered (`all_delivered=true`).
        let spans = rx.spans();
        let handles: Vec<_> = spans.iter().filter(|s| s.name == "handle").collect();
        assert_eq!(handles.len(), 3, "{protocol}");
        let lookups: Vec<_> = spans.iter().filter(|s| s.name == "lookup").collect();
        assert_eq!(lookups.len(), 3);
        for l in &lookups {
            assert!(handles.iter().any(|h| h.span_id == l.parent_span_id && h.trace_id == l.trace_id));
            assert_eq!(l.attr_str("db.system"), Some("postgresql"));
        }
        assert_eq!(lookups.iter().filter(|l| l.status.is_error()).count(), 1);
        let h = handles[0];
        assert_eq!(h.resource_attr("service.name").and_then(|v| v.as_str()), Some("otlp-example"));
        assert_eq!(h.resource_attr("deployment.environment.name").and_then(|v| v.as_str()), Some("test"));
        let logs = rx.logs();
        let handling: Vec<_> = logs.iter().filter(|l| l.body == "handling request").collect();
        assert_eq!(handling.len(), 3);
        for l in handling {
            assert!(handles.iter().any(|h| h.span_id == l.span_id && h.trace_id == l.trace_id));
        }
        assert!(spans.iter().all(|s| s.transport == if protocol == "grpc" { "grpc" } else { "http" }));
        let headers = rx.headers();
        assert!(!headers.is_empty());
        for h in &headers {
            assert_eq!(h.get("authorization").map(String::as_str), Some("Bearer abc"), "{protocol}: {h:?}");
            assert_eq!(h.get("x-tenant").map(String::as_str), Some("42"));
        }
    }
}

#[test]
fn otlp_example_says_once_that_a_dead_endpoint_fails_and_reports_what_was_lost() {
    for protocol in ["grpc", "http/protobuf"] {
        let out = example("otlp")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", support::dead_endpoint())
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8(out.stderr).unwrap();
        let failing: Vec<&str> = stderr.lines().filter(|l| l.contains("is failing")).collect();
        assert_eq!(failing.len(), 1, "{protocol}: one line, not one per batch or signal:\n{stderr}");
        assert!(failing[0].starts_with("telemark: OTLP export to http://127.0.0.1:"), "{}", failing[0]);
        assert!(!stderr.contains("recovered"), "{stderr}");
        let report = stderr.lines().find(|l| l.starts_with("otlp example:")).expect("the example's report");
        assert!(report.contains("all_delivered=false"), "{report}");
        assert!(report.contains("spans: 6 recorded, 0 exported, 6 dropped"), "{report}");
    }
}

#[test]
fn json_console_format_from_a_config_file() {
    let dir = std::env::temp_dir().join(format!("telemark-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    std::fs::write(&file, "exporters:\n  console:\n    format: json\n").unwrap();
    let out = example("quickstart").env("TELEMARK_CONFIG", &file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(line.starts_with('{') && line.ends_with('}'), "not a JSON object: {line}");
    }
    let log = lines.iter().find(|l| l.contains("\"message\":\"received order\"")).expect("log line");
    assert!(log.contains("\"trace_id\":\"") && log.contains("\"span_id\":\""), "{log}");
    assert!(lines.iter().any(|l| l.contains("\"span\":\"handle_order\"")), "{stdout}");
}

#[test]
fn async_service_runs_without_a_backend() {
    let out = example("async_service").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("send_receipt [producer]"), "{stdout}");
    assert!(stdout.contains("error: card declined (code 51)"), "{stdout}");
    assert!(
        stdout.contains("flaky_job") && stdout.contains("error: job 2 hit an impossible state"),
        "{stdout}"
    );
}

#[test]
fn exceptions_example_announces_each_group_once_and_lists_the_groups() {
    let out = example("exceptions").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Two timeouts with different ids: one group, announced once, counted twice.
    let announced = stdout.lines().filter(|l| l.starts_with("new exception group")).collect::<Vec<_>>();
    assert_eq!(
        announced.iter().filter(|l| l.contains("DbError::Timeout")).count(),
        1,
        "announced once: {stdout}"
    );
    for kind in ["DbError::NotFound", "ParseIntError", "panic"] {
        assert!(announced.iter().any(|l| l.contains(kind)), "{kind} announced: {stdout}");
    }
    assert!(!stdout.contains("cache miss for order 1\n"), "ignored errors are not printed as exceptions");
    assert!(
        stdout.contains("ERROR exception exceptions::DbError::Timeout: query 7017 timed out after 250 ms")
    );
    assert!(stdout.contains(" WARN exception ParseIntError"), "level = \"warn\": {stdout}");
    assert!(
        stdout.contains("    stack (innermost call first; ~ marks a frame in a library):\n"),
        "a readable stack whose marks are explained: {stdout}"
    );
    assert!(stdout.contains("library frames: core"), "runs of library frames folded: {stdout}");
    let longest_run = stdout.split('\n').fold((0, 0), |(run, max), l| {
        let run = if l.trim_start().starts_with("~ ") { run + 1 } else { 0 };
        (run, max.max(run))
    });
    assert!(longest_run.1 <= 1, "no two library frames in a row: {stdout}");
    assert!(stdout.contains("exceptions::load_order"), "{stdout}");
    // Every group is listed once everything before `groups()` was grouped, whatever the load.
    let (before, groups) = stdout.split_once("\nexception groups:\n").expect("the groups at the end");
    assert!(groups.contains("2 × "), "the timeout group counted twice: {groups}");
    for kind in ["DbError::Timeout", "DbError::NotFound", "ParseIntError", "panic"] {
        assert_eq!(groups.matches(kind).count(), 1, "{kind} listed: {groups}");
        assert!(before.contains("new exception group") && before.contains(kind), "{before}");
    }
    assert!(!groups.contains("new exception group"), "printed before the list: {groups}");
    assert!(groups.contains("ignored: 5"), "{groups}");
    assert!(stdout.contains("worker thread panicked: true"));
}

#[test]
fn alerts_example_fires_on_the_console_and_the_webhook_then_resolves() {
    let out = example("alerts").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let all = format!("{stdout}{stderr}");
    let pos = |needle: &str| all.find(needle).unwrap_or_else(|| panic!("no `{needle}` in:\n{all}"));
    assert!(pos("watching: charge_error_rate on alerts::charge: error_rate > 20%") < pos("-- incident"));
    assert!(pos("[FIRING:1] charge_error_rate (critical)") > 0);
    assert!(pos("[RESOLVED] charge_error_rate") > pos("[FIRING:1] charge_error_rate"));
    let firing =
        stdout.find("[webhook] received a firing notification").expect("webhook got the firing alert");
    let resolved =
        stdout.find("[webhook] received a resolved notification").expect("webhook got the resolution");
    assert!(firing < resolved && pos("-- incident") < firing && resolved > pos("-- recovered"));
    assert_eq!(all.matches("[FIRING:1]").count(), 1, "one notification per change:\n{all}");
}
