//! Configuration: the shipped file parses, mistakes name the file, line and key, and the standard
//! OTEL_* variables override the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;
use telemark::config::{SamplerName, Switch};
use telemark::{Config, Protocol};
use telemark_tests as support;

fn shipped() -> Config {
    Config::from_yaml(
        &std::fs::read_to_string(support::repo_root().join("configs/config.yaml")).unwrap(),
        "configs/config.yaml",
    )
    .unwrap()
}

#[test]
fn the_documented_default_file_parses_to_the_defaults() {
    let c = shipped();
    let d = Config::default();
    assert_eq!(c.service.name, "my-service");
    assert_eq!(c.service.attributes.get("team").map(String::as_str), Some("platform"));
    assert_eq!(c.sampling, d.sampling);
    assert_eq!(c.tracing, d.tracing);
    assert_eq!(c.exporters, d.exporters);
    assert_eq!(c.export, d.export);
    assert_eq!(c.logging, d.logging);
    assert_eq!(c.exceptions, d.exceptions);
    assert_eq!(c.metrics, d.metrics);
    assert_eq!(c.alerts, d.alerts);
    assert_eq!(c.propagators, d.propagators);
}

#[test]
fn propagators_from_the_file_and_otel_propagators() {
    use telemark::config::{Propagator, Propagators};
    assert_eq!(Config::default().propagators.0, vec![Propagator::TraceContext, Propagator::Baggage]);
    let c = Config::from_yaml("propagators: [b3multi, tracecontext, b3multi]\n", "p.yaml").unwrap();
    assert_eq!(c.propagators.0, vec![Propagator::B3Multi, Propagator::TraceContext]);
    let c = Config::from_yaml("propagators: [none]\n", "p.yaml").unwrap();
    assert_eq!(c.propagators, Propagators(vec![]));

    let e = Config::from_yaml("service:\n  name: a\npropagators:\n  - tracecontext\n  - jaeger\n", "p.yaml")
        .unwrap_err();
    assert_eq!(e.source, "p.yaml");
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.key.as_deref().is_some_and(|k| k.starts_with("propagators")), "{e}");
    assert!(e.message.contains("unknown propagator `jaeger`") && e.message.contains("`b3multi`"), "{e}");
    let e = Config::from_yaml("propagators: [none, b3]\n", "p.yaml").unwrap_err();
    assert!(e.message.contains("`none` cannot be combined"), "{e}");

    let mut c = Config::default();
    c.apply_env(&|k| (k == "OTEL_PROPAGATORS").then(|| "b3, baggage".to_string())).unwrap();
    assert_eq!(c.propagators.0, vec![Propagator::B3, Propagator::Baggage]);
    c.apply_env(&|k| (k == "OTEL_PROPAGATORS").then(|| "none".to_string())).unwrap();
    assert!(c.propagators.0.is_empty());
    let e = Config::default()
        .apply_env(&|k| (k == "OTEL_PROPAGATORS").then(|| "tracecontext,xray".to_string()))
        .unwrap_err();
    assert_eq!(e.source, "environment variable OTEL_PROPAGATORS");
    assert!(e.message.contains("unknown propagator `xray`"), "{e}");
}

#[test]
fn an_invalid_ignore_pattern_names_file_and_line() {
    let yaml = "exceptions:\n  ignore:\n    - NotFound\n    - \"io::\"\n";
    let e = Config::from_yaml(yaml, "app.yaml").unwrap_err();
    assert_eq!(e.source, "app.yaml");
    assert!(e.line.is_some_and(|l| (2..=4).contains(&l)), "{e}");
    assert!(e.message.contains("invalid ignore pattern `io::`"), "{e}");
}

#[test]
fn an_unknown_key_names_file_line_key_and_a_suggestion() {
    let yaml = "service:\n  name: shop\nexporters:\n  otlp:\n    endpiont: http://localhost:4317\n";
    let e = Config::from_yaml(yaml, "shop.yaml").unwrap_err();
    assert_eq!(e.source, "shop.yaml");
    assert_eq!(e.line, Some(5));
    assert_eq!(e.key.as_deref(), Some("exporters.otlp.endpiont"));
    assert!(e.message.contains("did you mean `endpoint`?"), "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with("shop.yaml:5:"), "{shown}");
}

#[test]
fn a_bad_value_names_its_key_and_what_would_be_right() {
    let yaml = "exporters:\n  otlp:\n    protocol: htp\n";
    let e = Config::from_yaml(yaml, "c.yaml").unwrap_err();
    assert_eq!(e.line, Some(3));
    assert_eq!(e.key.as_deref(), Some("exporters.otlp.protocol"));
    assert!(e.message.contains("expected `grpc` or `http/protobuf`"), "{e}");

    let e = Config::from_yaml("export:\n  delay: 10\n", "c.yaml").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("export.delay"));
    assert!(e.message.contains("needs a unit"), "{e}");

    let e = Config::from_yaml("sampling:\n  ratio: 1.5\n", "c.yaml").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("sampling.ratio"));

    let e = Config::from_yaml("tracing:\n  level: loud\n", "c.yaml").unwrap_err();
    assert!(e.message.contains("unknown level `loud`"), "{e}");

    let e = Config::from_yaml("bogus: 1\n", "c.yaml").unwrap_err();
    assert_eq!(e.line, Some(1));
    assert_eq!(e.key.as_deref(), Some("bogus"));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let e = Config::from_file("does/not/exist.yaml").unwrap_err();
    assert_eq!(e.source, "does/not/exist.yaml");
    assert!(e.message.contains("cannot read"), "{e}");
}

#[test]
fn otel_environment_variables_override_the_file() {
    let env: HashMap<&str, &str> = [
        ("OTEL_SERVICE_NAME", "checkout"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,team=pay%20ments"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret%3D1,x-tenant=7"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("RUST_LOG", "warn,checkout=debug"),
    ]
    .into_iter()
    .collect();
    let mut c = shipped();
    c.apply_env(&|k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.service.name, "checkout");
    assert_eq!(c.service.attributes.get("team").map(String::as_str), Some("pay ments"));
    assert_eq!(c.service.attributes.get("deployment.environment.name").map(String::as_str), Some("prod"));
    assert_eq!(c.exporters.otlp.endpoint, "http://collector:4318");
    assert_eq!(c.exporters.otlp.protocol, Protocol::HttpProtobuf);
    assert_eq!(c.exporters.otlp.headers.get("api-key").map(String::as_str), Some("secret=1"));
    assert_eq!(c.exporters.otlp.timeout, Duration::from_millis(2500));
    assert_eq!(c.sampling.sampler, SamplerName::TraceIdRatio);
    assert_eq!(c.sampling.ratio, 0.25);
    assert!(c.tracing.level.enabled("checkout::db", telemark::Level::Debug));
    assert!(!c.tracing.level.enabled("other", telemark::Level::Info));
    assert_eq!(c.exporters.console.enabled, Switch::Auto);
}

#[test]
fn bad_environment_values_name_the_variable() {
    for (var, value, expect) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "not supported"),
        ("OTEL_TRACES_SAMPLER", "sometimes", "unknown sampler"),
        ("OTEL_TRACES_SAMPLER_ARG", "2", "between 0 and 1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", "milliseconds"),
        ("OTEL_SDK_DISABLED", "yes", "`true` or `false`"),
    ] {
        let mut c = Config::default();
        let e = c.apply_env(&|k| (k == var).then(|| value.to_string())).unwrap_err();
        assert_eq!(e.source, format!("environment variable {var}"));
        assert!(e.message.contains(expect), "{var}: {e}");
    }
}

#[test]
fn an_invalid_endpoint_fails_init_with_a_clear_error() {
    let err = telemark::init(Config::default().otlp("not a url", Protocol::Grpc)).unwrap_err();
    assert!(err.to_string().contains("not a url"), "{err}");
}

// ---- one grammar for every duration ----

#[test]
fn every_duration_takes_fractions_and_compound_terms() {
    let yaml = "\
exporters:
  otlp:
    timeout: 2.5s
export:
  shutdown_timeout: 1.5s
  delay: 1m30s
metrics:
  export_interval: 1m30s
exceptions:
  rate_window: 0.5m
alerts:
  group_wait: 1.5s
  repeat_interval: 1h30m
  evaluation_interval: 250ms
  channels:
    hook: { kind: webhook, url: \"http://x\", timeout: 1s500ms }
  rules:
    - { function: shop::pay, condition: errors > 1, window: 1m30.25s, for: 1.5s }
";
    let c = Config::from_yaml(yaml, "durations.yaml").unwrap();
    let ms = Duration::from_millis;
    assert_eq!(c.exporters.otlp.timeout, ms(2500));
    assert_eq!(c.export.shutdown_timeout, ms(1500));
    assert_eq!(c.export.delay, Duration::from_secs(90));
    assert_eq!(c.metrics.export_interval, Duration::from_secs(90));
    assert_eq!(c.exceptions.rate_window, Duration::from_secs(30));
    assert_eq!(c.alerts.group_wait, ms(1500));
    assert_eq!(c.alerts.repeat_interval, Duration::from_secs(5400));
    assert_eq!(c.alerts.evaluation_interval, ms(250));
    assert_eq!(c.alerts.channels["hook"].timeout, Some(ms(1500)));
    assert_eq!(c.alerts.rules[0].window, Some(ms(90_250)));
    assert_eq!(c.alerts.rules[0].for_, Some(ms(1500)));

    // Each form under each kind of key.
    for (text, expect) in [("1.5s", ms(1500)), ("2m30s", Duration::from_secs(150))] {
        let c = Config::from_yaml(&format!("export:\n  shutdown_timeout: {text}\n"), "d.yaml").unwrap();
        assert_eq!(c.export.shutdown_timeout, expect, "export.shutdown_timeout: {text}");
        let c = Config::from_yaml(&format!("alerts:\n  group_wait: {text}\n"), "d.yaml").unwrap();
        assert_eq!(c.alerts.group_wait, expect, "alerts.group_wait: {text}");
    }
}

#[test]
fn a_malformed_duration_reads_the_same_under_every_key() {
    let mut messages = Vec::new();
    for (section, key) in [
        ("export", "delay"),
        ("exceptions", "rate_window"),
        ("metrics", "export_interval"),
        ("alerts", "group_wait"),
        ("alerts", "evaluation_interval"),
    ] {
        for (value, expect) in [
            ("5 minutes", "did you mean `5m`?"),
            ("10", "`10` needs a unit, like `10s`"),
            ("-1s", "cannot be negative"),
            ("1.5us", "finer than a microsecond"),
        ] {
            let yaml = format!("{section}:\n  {key}: {value}\n");
            let e = Config::from_yaml(&yaml, "d.yaml").unwrap_err();
            assert_eq!(e.key.as_deref(), Some(format!("{section}.{key}").as_str()), "{e}");
            assert_eq!(e.line, Some(2), "{e}");
            assert!(e.message.contains(expect), "{section}.{key}: {value}: `{expect}` not in: {e}");
            messages.push((value, e.message));
        }
    }
    for (value, m) in &messages {
        let first = &messages.iter().find(|(v, _)| v == value).unwrap().1;
        assert_eq!(m, first, "`{value}` reads differently under another key");
    }
}

#[test]
fn duration_environment_variables_stay_milliseconds() {
    let env: HashMap<&str, &str> =
        [("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"), ("OTEL_METRIC_EXPORT_INTERVAL", "90000")]
            .into_iter()
            .collect();
    let mut c = Config::default();
    c.apply_env(&|k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.exporters.otlp.timeout, Duration::from_millis(1500));
    assert_eq!(c.metrics.export_interval, Duration::from_secs(90));
    for var in ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_METRIC_EXPORT_INTERVAL"] {
        let e = Config::default().apply_env(&|k| (k == var).then(|| "1.5s".to_string())).unwrap_err();
        assert!(e.message.contains("milliseconds"), "{var}: {e}");
    }
}

// ---- key paths from the deserializer ----

#[test]
fn flow_style_errors_name_their_key() {
    let yaml = "exporters:\n  otlp: {endpoint: \"http://x:4317\", protocl: grpc}\n";
    let e = Config::from_yaml(yaml, "flow.yaml").unwrap_err();
    assert_eq!(e.source, "flow.yaml");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.column.is_some(), "{e}");
    assert_eq!(e.key.as_deref(), Some("exporters.otlp.protocl"), "{e}");
    assert!(e.message.contains("did you mean `protocol`?"), "{e}");

    let e = Config::from_yaml("exporters: {otlp: {protocol: htp}}\n", "flow.yaml").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
    assert_eq!(e.key.as_deref(), Some("exporters.otlp.protocol"), "{e}");
    assert!(e.message.contains("expected `grpc` or `http/protobuf`"), "{e}");

    let e = Config::from_yaml("{service: {name: x}, bogus: 1}\n", "flow.yaml").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("bogus"), "{e}");
}

#[test]
fn block_style_errors_name_file_line_column_and_key() {
    let yaml = "service:\n  name: shop\nexporters:\n  otlp:\n    # a comment\n    protocl: grpc\n";
    let e = Config::from_yaml(yaml, "block.yaml").unwrap_err();
    assert_eq!((e.line, e.column), (Some(6), Some(5)), "{e}");
    assert_eq!(e.key.as_deref(), Some("exporters.otlp.protocl"), "{e}");
    assert!(e.to_string().starts_with("block.yaml:6:5: key `exporters.otlp.protocl`: "), "{e}");
    assert!(e.message.contains("did you mean `protocol`?"), "{e}");
}

#[test]
fn nested_alerts_keys_are_named_in_full() {
    let yaml = "alerts:\n  channels:\n    ops:\n      kind: webhook\n      ulr: http://x\n";
    let e = Config::from_yaml(yaml, "a.yaml").unwrap_err();
    assert_eq!(e.line, Some(5), "{e}");
    assert_eq!(e.key.as_deref(), Some("alerts.channels.ops.ulr"), "{e}");
    assert!(e.message.contains("did you mean `url`?"), "{e}");

    let yaml =
        "alerts:\n  channels:\n    ops:\n      kind: webhook\n      url: http://x\n      timeout: soon\n";
    let e = Config::from_yaml(yaml, "a.yaml").unwrap_err();
    assert_eq!(e.line, Some(6), "{e}");
    assert_eq!(e.key.as_deref(), Some("alerts.channels.ops.timeout"), "{e}");
    assert!(e.message.contains("malformed duration `soon`"), "{e}");
}

#[test]
fn a_webhook_secret_too_short_or_empty_is_a_config_error_that_does_not_show_it() {
    let yaml = |secret: &str| {
        format!("alerts:\n  channels:\n    ops:\n      kind: webhook\n      url: http://x\n      secret: {secret}\n")
    };
    for (secret, why) in [
        ("tooShortSecret", "at least 24"),
        ("\"\"", "leave `secret` out"),
        ("whsec_c2hvcnQ=", "at least 24"),
        ("whsec_!!!", "not base64"),
    ] {
        let e = Config::from_yaml(&yaml(secret), "a.yaml").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("alerts.channels.ops.secret")), "{e}");
        assert!(e.message.contains(why), "{e}");
        assert!(e.to_string().starts_with("a.yaml:6:"), "{e}");
        let shown = secret.trim_start_matches("whsec_").trim_matches('"');
        assert!(shown.is_empty() || !e.to_string().contains(shown), "{e}");
    }
    // 24 bytes and more: plain text, or whsec_ with 24 bytes of base64.
    for secret in ["exactly-twenty-four-byte", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
        let c = Config::from_yaml(&yaml(secret), "a.yaml").unwrap();
        assert!(!format!("{c:?}").contains(secret), "redacted in Debug");
    }
    // Given in code, the same rule at start.
    let mut hook = telemark::alerts::ChannelConfig::webhook("http://127.0.0.1:1/");
    hook.secret = Some("short".into());
    let mut c = telemark::alerts::AlertsConfig::default();
    c.channels.insert("ops".into(), hook);
    let e = c.check().unwrap_err();
    assert!(e.starts_with("alerts.channels.ops: `secret` is too short"), "{e}");
}

#[test]
fn a_bad_value_in_a_sequence_names_its_index() {
    let yaml = "\
alerts:
  rules:
    - function: shop::pay
      condition: errors > 1
    - function: shop::refund
      condition: errors > 1
      window: 5 minutes
";
    let e = Config::from_yaml(yaml, "seq.yaml").unwrap_err();
    assert_eq!(e.line, Some(7), "{e}");
    assert_eq!(e.key.as_deref(), Some("alerts.rules[1].window"), "{e}");
    assert!(e.message.contains("did you mean `5m`?"), "{e}");

    // The same in flow style.
    let yaml = "alerts:\n  rules: [{function: a::f, condition: errors > 1}, {function: a::g, condition: erors > 1}]\n";
    let e = Config::from_yaml(yaml, "seq.yaml").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.key.as_deref(), Some("alerts.rules[1].condition"), "{e}");
    assert!(e.message.contains("did you mean `errors`?"), "{e}");

    // A sequence of strings: the entry, not the list.
    let e = Config::from_yaml("exceptions:\n  ignore:\n    - NotFound\n    - \"io::\"\n", "seq.yaml")
        .unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.key.as_deref(), Some("exceptions.ignore[1]"), "{e}");

    // An unknown key inside an entry.
    let yaml = "alerts:\n  overrides:\n    - name: x\n      treshold: 2\n";
    let e = Config::from_yaml(yaml, "seq.yaml").unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.key.as_deref(), Some("alerts.overrides[0].treshold"), "{e}");
    assert!(e.message.contains("did you mean `threshold`?"), "{e}");
}

// ---- what `fn main() -> Result<(), Box<dyn Error>>` prints ----

/// What a user's `main` does: read the config, start telemark, `?` on both. A `main` returning
/// `Err` prints `Error: {:?}` of it (std's `Termination` for `Result`).
fn users_main(yaml: &str) -> Result<telemark::Guard, Box<dyn std::error::Error>> {
    let config = Config::from_yaml(yaml, "app.yaml")?;
    Ok(telemark::init(config)?)
}

#[test]
fn errors_print_from_main_as_they_display() {
    let e = users_main("exporters:\n  otlp:\n    protocl: grpc\n").unwrap_err();
    let printed = format!("{e:?}");
    assert_eq!(printed, e.to_string());
    assert!(
        printed.starts_with("app.yaml:3:5: key `exporters.otlp.protocl`: unknown field `protocl`"),
        "{printed}"
    );
    assert!(printed.ends_with("did you mean `protocol`?"), "{printed}");

    // `telemark::Error` (what `init` returns) prints as it displays, for each kind.
    let config_error = Config::from_yaml("export:\n  delay: soon\n", "app.yaml").unwrap_err();
    let e = telemark::Error::from(config_error);
    assert_eq!(format!("{e:?}"), e.to_string());
    assert!(format!("{e:?}").starts_with("telemark configuration: app.yaml:2:"), "{e:?}");

    let e =
        users_main("alerts:\n  overrides:\n    - name: checkout_slow\n      threshold: 1s\n").unwrap_err();
    let printed = format!("{e:?}");
    assert_eq!(printed, e.to_string());
    assert!(
        printed
            .starts_with("telemark alerts: app.yaml:3: alerts.overrides[0]: no rule named `checkout_slow`"),
        "{printed}"
    );

    let e = users_main("exporters:\n  otlp:\n    endpoint: not a url\n").unwrap_err();
    let printed = format!("{e:?}");
    assert_eq!(printed, e.to_string());
    assert!(
        printed.starts_with("app.yaml:3:15: key `exporters.otlp.endpoint`: `not a url` is not a URL"),
        "{printed}"
    );
    assert!(printed.contains("key `exporters.otlp.endpoint`"), "{printed}");
}

// ---- values in range, whichever way they come in ----

#[test]
fn out_of_range_values_name_their_range_line_and_key() {
    for (yaml, line, key, message) in [
        (
            "export:\n  buffer_per_thread: 1000000000\n",
            2,
            "export.buffer_per_thread",
            "1000000000 is out of range 16..=1048576 (records per thread)",
        ),
        (
            "export:\n  buffer_per_thread: 18446744073709551615\n",
            2,
            "export.buffer_per_thread",
            "18446744073709551615 is out of range 16..=1048576",
        ),
        ("export:\n  max_queue: 0\n", 2, "export.max_queue", "0 is out of range 1..=16777216"),
        (
            "export:\n  max_queue_bytes: 1KiB\n",
            2,
            "export.max_queue_bytes",
            "1024 is out of range 65536..=4294967296",
        ),
        ("export:\n  max_retry_time: 10ms\n", 2, "export.max_retry_time", "10ms is out of range 1s..=1d"),
        (
            "exporters:\n  otlp:\n    timeout: 0s\n",
            3,
            "exporters.otlp.timeout",
            "0s is out of range 1ms..=10m",
        ),
        ("exceptions:\n  rate_limit: 0\n", 2, "exceptions.rate_limit", "0 is out of range 1..=1000000"),
        (
            "alerts:\n  evaluation_interval: 1us\n",
            2,
            "alerts.evaluation_interval",
            "1us is out of range 10ms..=1d",
        ),
    ] {
        let e = Config::from_yaml(yaml, "r.yaml").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(line), Some(key)), "{e}");
        assert!(e.message.contains(message), "{e}");
    }
    // From a variable: the same range, the variable named.
    let e = Config::default()
        .apply_env(&|k| (k == "OTEL_EXPORTER_OTLP_TIMEOUT").then(|| "0".into()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable OTEL_EXPORTER_OTLP_TIMEOUT: 0s is out of range 1ms..=10m (per-request timeout)"
    );
    // From code: `init` refuses it before anything starts.
    let mut c = Config::default();
    c.export.buffer_per_thread = 1_000_000_000;
    let e = telemark::init(c).unwrap_err();
    assert_eq!(
        e.to_string(),
        "telemark configuration: the Config built in code: key `export.buffer_per_thread`: 1000000000 is out \
         of range 16..=1048576 (records per thread)"
    );
}

#[test]
fn endpoints_are_http_urls_with_a_host_and_a_port_in_range() {
    for (endpoint, expect) in [
        ("ftp://collector:4317", "unsupported scheme `ftp`"),
        ("grpc://collector:4317", "unsupported scheme `grpc`"),
        ("http://collector:99999", "port 99999 is out of range 1..=65535"),
        ("http://", "no host"),
        ("collector:99999", "port 99999 is out of range"),
        ("collector:4317 x", "is not a URL"),
    ] {
        let yaml = format!("exporters:\n  otlp:\n    endpoint: \"{endpoint}\"\n");
        let e = Config::from_yaml(&yaml, "e.yaml").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("exporters.otlp.endpoint")), "{e}");
        assert!(e.message.contains(expect), "{endpoint}: {e}");
        let e = Config::default()
            .apply_env(&|k| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| endpoint.to_string()))
            .unwrap_err();
        assert!(e.message.contains(expect), "{endpoint}: {e}");
        let e = Config::default().otlp(endpoint, Protocol::Grpc).validate().unwrap_err();
        assert_eq!(e.key.as_deref(), Some("exporters.otlp.endpoint"));
    }
    assert!(Config::from_yaml(
        "exporters:\n  otlp:\n    endpoint: \"https://c.example:4318/otlp\"\n",
        "e.yaml"
    )
    .is_ok());
    // The specification's schemeless form: https, or http with `insecure`.
    assert!(Config::from_yaml("exporters:\n  otlp:\n    endpoint: \"collector:4317\"\n", "e.yaml").is_ok());
}

#[test]
fn alert_channels_are_checked_whether_or_not_a_rule_uses_them() {
    for (channel, expect) in [
        ("{ kind: webhook, url: \"ftp://h/x\" }", "unsupported scheme `ftp`"),
        ("{ kind: webhook, url: \"http://h:99999/x\" }", "invalid port"),
        ("{ kind: webhook, url: \"http://h/x\", timeout: 0s }", "0s is out of range 1ms..=10m"),
        ("{ kind: email, host: h, from: a@b.c, to: [d@e.f], port: 0 }", "0 is out of range 1..=65535"),
        ("{ kind: alertmanager }", "needs `url`"),
    ] {
        let yaml = format!("alerts:\n  channels:\n    ops: {channel}\n");
        let e = Config::from_yaml(&yaml, "a.yaml").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.key.as_deref().is_some_and(|k| k.starts_with("alerts.channels.ops")), "{e}");
        assert!(e.message.contains(expect), "{channel}: {e}");
    }
}

#[test]
fn the_file_must_be_a_small_regular_file() {
    let e = Config::from_file("/dev/zero").unwrap_err();
    assert!(e.message.contains("not a regular file"), "{e}");
    let dir = std::env::temp_dir();
    let e = Config::from_file(&dir).unwrap_err();
    assert!(e.message.contains("a directory"), "{e}");
    let big = dir.join(format!("telemark-big-{}.yaml", std::process::id()));
    std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
    let e = Config::from_file(&big).unwrap_err();
    let _ = std::fs::remove_file(&big);
    assert!(e.message.contains("more than the 1 MiB"), "{e}");
    let bad = dir.join(format!("telemark-utf8-{}.yaml", std::process::id()));
    std::fs::write(&bad, b"export:\n  delay: 1\xffs\n").unwrap();
    let e = Config::from_file(&bad).unwrap_err();
    let _ = std::fs::remove_file(&bad);
    assert_eq!((e.line, e.column, e.key.as_deref()), (Some(2), Some(11), Some("export.delay")), "{e}");
}

#[test]
fn an_alias_bomb_stops_early() {
    let mut yaml =
        String::from("service:\n  attributes:\n    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        yaml.push_str(&format!("    a{i}: &a{i} [{refs}]\n"));
    }
    let e = Config::from_yaml(&yaml, "bomb.yaml").unwrap_err();
    assert!(e.line.is_some() && e.key.is_some(), "{e}");
}
