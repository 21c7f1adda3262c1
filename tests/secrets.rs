//! Secrets are never printed by telemark: header values, URL userinfo, query values, a webhook's
//! path token and secret, an SMTP password, an Alertmanager URL's query — set to sentinel values
//! everywhere they can be given (the file, the builder, `OTEL_EXPORTER_OTLP_HEADERS`, malformed
//! or not) and looked for in every `Debug` and error telemark produces, in what the alert
//! channels report after a failed delivery, and in every byte a program using telemark prints
//! (a child process: this test binary run again).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};
use telemark::alerts::channels::{AlertmanagerChannel, EmailChannel, SmtpSettings, WebhookChannel};
use telemark::alerts::notify::{Alert, AlertState, DispatchSettings, Dispatcher};
use telemark::alerts::{Metric, Severity};
use telemark::{traced, Config, Protocol};
use telemark_tests as support;

/// Every secret below contains it; nothing telemark prints may.
const SENTINEL: &str = "SENTINEL";

/// Texts checked, and the sentinels found in them.
#[derive(Default)]
struct Seen {
    places: Vec<String>,
    leaks: Vec<String>,
}

impl Seen {
    fn check(&mut self, place: &str, text: &str) {
        self.places.push(place.to_string());
        if text.contains(SENTINEL) {
            self.leaks.push(format!("{place}: {text}"));
        }
    }
    fn config_error(&mut self, place: &str, e: &telemark::config::ConfigError) {
        self.check(&format!("{place} (Display)"), &e.to_string());
        self.check(&format!("{place} (Debug)"), &format!("{e:?}"));
    }
}

/// A config file with a secret in each place one can be.
fn secret_yaml(dead: &str) -> String {
    format!(
        "\
service: {{ name: secrets }}
exporters:
  console: {{ enabled: false }}
  otlp:
    endpoint: \"http://user:SENTINELpw@{dead}/?k=SENTINELqs\"
    protocol: http/protobuf
    timeout: 200ms
    headers: {{ authorization: \"Bearer SENTINELhdr\", x-api-key: SENTINELkey }}
alerts:
  channels:
    hook: {{ kind: webhook, url: \"http://{dead}/services/T0/B0/SENTINELhook?sig=SENTINELsig\", secret: SENTINELsecret-of-at-least-24-bytes, max_retries: 0, timeout: 1s }}
    mail: {{ kind: email, host: 127.0.0.1, port: {port}, from: a@b.c, to: [d@e.f], username: u, password: SENTINELsmtp }}
    am: {{ kind: alertmanager, url: \"http://{dead}/am?token=SENTINELam\" }}
",
        port = dead.rsplit(':').next().unwrap()
    )
}

fn dead_addr() -> String {
    support::dead_endpoint().trim_start_matches("http://").to_string()
}

#[traced]
fn secret_work() {
    tracing::info!("a log while the backend is down");
}

/// The child: reads the config from `TELEMARK_CONFIG` and the environment, prints its `Debug`,
/// runs against the dead backend (telemark says on stderr that export fails), and prints the init
/// error of a malformed `OTEL_EXPORTER_OTLP_HEADERS` as `main` would.
fn child() {
    let config = Config::from_env().unwrap();
    println!("config: {config:?}");
    let guard = telemark::init(config).unwrap();
    secret_work();
    telemark::flush(telemark::QUERY_WAIT);
    println!("stats: {:?}", telemark::stats());
    drop(guard);
    let mut c = Config::default();
    let e = c
        .apply_env(&|k| {
            (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "authorization Bearer SENTINELmal".into())
        })
        .unwrap_err();
    eprintln!("Error: {e:?}");
}

#[test]
fn no_secret_is_ever_printed() {
    if std::env::var_os("TELEMARK_SECRETS_CHILD").is_some() {
        return child();
    }
    let mut seen = Seen::default();
    let dead = dead_addr();

    // `Debug` of a configuration holding every secret, from the file and from the variables.
    let yaml = secret_yaml(&dead);
    let mut config = Config::from_yaml(&yaml, "secrets.yaml").unwrap();
    config
        .apply_env(&|k| {
            (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "x-env=SENTINELenv,y=SENTINEL%20y".into())
        })
        .unwrap();
    let debug = format!("{config:?}");
    assert!(debug.contains("[REDACTED]") && debug.contains("authorization"), "{debug}");
    seen.check("Debug of Config", &debug);
    seen.check("Debug of Config (pretty)", &format!("{config:#?}"));
    for (name, c) in config.alerts.channels.iter() {
        seen.check(&format!("Debug of alerts.channels.{name}"), &format!("{c:?}"));
    }
    seen.check("Debug of exporters.otlp", &format!("{:?}", config.exporters.otlp));

    // Errors: the file, the variables, and configs built in code, each carrying secrets.
    let bad_files = [
        ("otlp scheme", "exporters:\n  otlp:\n    endpoint: \"grpc://user:SENTINELpw@h:1/?k=SENTINELqs\"\n"),
        ("otlp port", "exporters:\n  otlp:\n    endpoint: \"http://user:SENTINELpw@h:99999/?k=SENTINELqs\"\n"),
        ("otlp garbage", "exporters:\n  otlp:\n    endpoint: \"user:SENTINELpw@h ?k=SENTINELqs\"\n"),
        ("otlp header value", "exporters:\n  otlp:\n    headers: { authorization: \"Bearer SENTINEL\\u0007\" }\n"),
        ("otlp header type", "exporters:\n  otlp:\n    headers: { authorization: [SENTINELlist] }\n"),
        (
            "webhook https port",
            "alerts:\n  channels:\n    h: { kind: webhook, url: \"https://hooks.example.com:99999/services/T0/B0/SENTINELhook\" }\n",
        ),
        ("webhook userinfo", "alerts:\n  channels:\n    h: { kind: webhook, url: \"http://u:SENTINELpw@h/x\" }\n"),
        (
            "webhook port",
            "alerts:\n  channels:\n    h: { kind: webhook, url: \"http://h:99999/services/T/B/SENTINELhook?t=SENTINELq\" }\n",
        ),
        ("webhook scheme", "alerts:\n  channels:\n    h: { kind: webhook, url: \"ftp://h/services/T/B/SENTINELhook\" }\n"),
        ("alertmanager", "alerts:\n  channels:\n    a: { kind: alertmanager, url: \"grpc://h/?token=SENTINELam\" }\n"),
        (
            "email AUTH in clear",
            "alerts:\n  channels:\n    m: { kind: email, host: h, from: a@b.c, to: [d@e.f], tls: none, username: u, password: SENTINELsmtp }\n",
        ),
        (
            "email password alone",
            "alerts:\n  channels:\n    m: { kind: email, host: h, from: a@b.c, to: [d@e.f], password: SENTINELsmtp }\n",
        ),
    ];
    for (what, text) in bad_files {
        let e = Config::from_yaml(text, "secrets.yaml").unwrap_err();
        assert!(e.line.is_some() && e.key.is_some(), "{what}: {e}");
        seen.config_error(&format!("file error: {what}"), &e);
    }
    for (var, value) in [
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization Bearer SENTINELmal"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=b,SENTINELnoeq"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "=SENTINELnokey"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%0ASENTINELcrlf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://user:SENTINELpw@h:1/?k=SENTINELqs"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:SENTINELpw@h:0"),
    ] {
        let e = Config::default().apply_env(&|k| (k == var).then(|| value.to_string())).unwrap_err();
        assert_eq!(e.source, format!("environment variable {var}"));
        seen.config_error(&format!("env error: {var}={value}"), &e);
    }
    let built = [
        (
            "builder scheme",
            Config::default().otlp("ftp://user:SENTINELpw@127.0.0.1:1/?k=SENTINELqs", Protocol::Grpc),
        ),
        (
            "builder https",
            Config::default().otlp("https://user:SENTINELpw@127.0.0.1:1/?k=SENTINELqs", Protocol::Grpc),
        ),
        (
            "builder header",
            Config::default()
                .otlp("http://127.0.0.1:1", Protocol::Grpc)
                .otlp_header("authorization", "Bearer SENTINEL\r\n"),
        ),
    ];
    for (what, config) in built {
        seen.check(&format!("Debug of {what} config"), &format!("{config:?}"));
        match telemark::init(config) {
            Ok(guard) => drop(guard),
            Err(e) => {
                seen.check(&format!("init error: {what} (Display)"), &e.to_string());
                seen.check(&format!("init error: {what} (Debug)"), &format!("{e:?}"));
            }
        }
    }

    // The channels: `Debug`, and what they report after failing to deliver.
    let dead = dead_addr();
    let hook = WebhookChannel::new(
        &format!("http://{dead}/services/T0/B0/SENTINELhook?sig=SENTINELsig"),
        Some("SENTINELsecret-of-at-least-24-bytes".into()),
        Duration::from_secs(5),
        0,
    )
    .unwrap()
    .with_sleep(|_| {});
    let am = AlertmanagerChannel::new(&format!("http://{dead}/am?token=SENTINELam"), Duration::from_secs(5))
        .unwrap();
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: dead.rsplit(':').next().unwrap().parse().unwrap(),
        from: "a@b.c".into(),
        to: vec!["d@e.f".into()],
        username: Some("u".into()),
        password: Some("SENTINELsmtp".into()),
        timeout: Duration::from_secs(5),
        ..SmtpSettings::default()
    };
    seen.check("Debug of SmtpSettings", &format!("{smtp:?}"));
    let mail = EmailChannel::new(smtp).unwrap();
    seen.check("Debug of WebhookChannel", &format!("{hook:?}"));
    seen.check("Debug of AlertmanagerChannel", &format!("{am:?}"));
    seen.check("Debug of EmailChannel", &format!("{mail:?}"));
    let settings = DispatchSettings {
        group_wait: Duration::ZERO,
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(3600),
    };
    let mut d = Dispatcher::new(settings);
    d.add_channel("hook", Box::new(hook));
    d.add_channel("am", Box::new(am));
    d.add_channel("mail", Box::new(mail));
    let alert = Alert {
        name: "x_errors".into(),
        function: "secrets::x".into(),
        severity: Severity::Critical,
        labels: BTreeMap::from([("alertname".into(), "x_errors".into())]),
        annotations: BTreeMap::new(),
        state: AlertState::Firing,
        metric: Metric::Errors,
        value: 1.0,
        starts_at: SystemTime::now(),
        ends_at: None,
        channels: vec!["hook".into(), "am".into(), "mail".into()],
    };
    let now = Instant::now();
    d.update(&[alert], now);
    d.tick(now);
    assert!(d.settle(support::WAIT), "a channel is stuck");
    let stats = d.stats();
    assert_eq!(stats.failed, 3, "{stats:?}");
    for c in &stats.channels {
        let e = c.last_error.clone().unwrap_or_default();
        assert!(!e.is_empty(), "{}: no last_error", c.name);
        seen.check(&format!("last_error of {}", c.name), &e);
    }
    seen.check("Debug of DeliveryStats", &format!("{stats:?}"));

    // Every byte a program printed: the child runs the secret config against a dead backend.
    let dir = std::env::temp_dir().join(format!("telemark-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets.yaml");
    std::fs::write(&file, secret_yaml(&dead_addr())).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_secret_is_ever_printed", "--nocapture", "--test-threads=1"])
        .env("TELEMARK_SECRETS_CHILD", "1")
        .env("TELEMARK_CONFIG", &file)
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-env=SENTINELenv")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("config: Config {"), "{stdout}");
    assert!(stderr.contains("OTLP export to http://[REDACTED]@127.0.0.1:"), "no failing line: {stderr}");
    assert!(stderr.contains("Error: environment variable OTEL_EXPORTER_OTLP_HEADERS"), "{stderr}");
    seen.check("child stdout", &stdout);
    seen.check("child stderr", &stderr);

    eprintln!(
        "secrets: {} places checked, {} occurrences of the sentinels found",
        seen.places.len(),
        seen.leaks.len()
    );
    assert!(seen.leaks.is_empty(), "secrets printed:\n{}", seen.leaks.join("\n"));
}
