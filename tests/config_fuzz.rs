//! Malformed configurations, generated from a fixed seed: each one is either accepted or refused
//! with an error that names the file, the line and the key (or the environment variable) — never
//! a panic, an abort or a hang — and what is accepted runs: `init`, a span and a log, shutdown.
//!
//! The cases are mutations of `configs/config.yaml` and of small valid snippets (wrong types; huge,
//! negative and zero numbers; `u64::MAX`; bad durations and URLs; unknown and duplicate keys;
//! tabs; deep nesting; alias bombs; very long strings; truncations; bytes that are not UTF-8) and
//! malformed values of every `OTEL_*` variable telemark reads. Each case finishing is the evidence
//! that nothing hangs: a hang would hang the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;
use telemark::config::Switch;
use telemark::{traced, Config};
use telemark_tests as support;

/// splitmix64: a tiny deterministic generator, so every run makes the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that are wrong somewhere: types, numbers, durations, URLs, YAML oddities.
fn nasty_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "0",
        "-1",
        "-0",
        "1",
        "16",
        "15",
        "1000000000",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1e308",
        "1e-308",
        ".nan",
        ".inf",
        "-.inf",
        "0x10",
        "0o17",
        "1_000",
        "3.5",
        "true",
        "false",
        "null",
        "~",
        "\"\"",
        "''",
        "[]",
        "{}",
        "[1, 2]",
        "{a: 1}",
        "[[[[]]]]",
        "0s",
        "-1s",
        "1.5us",
        "10",
        "1h 30m",
        "5 minutes",
        "999999999999d",
        "106752d",
        "1ms",
        "10m1ms",
        "ftp://x",
        "grpc://collector:4317",
        "http://x:99999",
        "http://x:0",
        "http://",
        "http://a b",
        "http://user:pw@127.0.0.1:1",
        "https://x/v1/traces?key=v",
        "localhost:4317",
        "http://[::1",
        "http://ex%ample:1",
        "not a url",
        "!!binary aGVsbG8=",
        "!!str 5",
        "*nothing",
        "&a 1",
        "|\n  text",
        ">-\n  folded",
        "'unterminated",
        "\"unterminated",
        "{unclosed",
        "[unclosed",
        "\"\\u0000\"",
        "\"\\x07\"",
        "é",
        "🙂",
        "a: b: c",
        "- list",
        "? complex",
        ":",
        "@reserved",
        "`reserved",
        "%",
        "8MiB",
        "1GiB",
        "5GiB",
        "64KiB",
        "63KiB",
        "8 mb",
        "99999999999999999999GiB",
        "auto",
        "on",
        "human",
        "json",
        "stderr",
        "grpc",
        "http/json",
        "always_on",
        "traceidratio",
        "1.0000001",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(100_000));
    v.push(format!("\"{}\"", "\\u00e9".repeat(10_000)));
    v.push(format!("[{}]", "1,".repeat(50_000)));
    v
}

/// Keys a snippet sets, as `section.sub.key` paths.
const KEYS: &[&str] = &[
    "disabled",
    "service.name",
    "service.attributes.k",
    "tracing.level",
    "sampling.sampler",
    "sampling.ratio",
    "logging.level",
    "logging.install_subscriber",
    "exporters.console.enabled",
    "exporters.console.format",
    "exporters.console.output",
    "exporters.otlp.endpoint",
    "exporters.otlp.protocol",
    "exporters.otlp.timeout",
    "exporters.otlp.headers.authorization",
    "export.buffer_per_thread",
    "export.max_queue",
    "export.max_queue_bytes",
    "export.max_batch",
    "export.delay",
    "export.drain_interval",
    "export.shutdown_timeout",
    "export.max_retry_time",
    "exceptions.capture_backtrace",
    "exceptions.max_groups",
    "exceptions.rate_limit",
    "exceptions.rate_window",
    "metrics.enabled",
    "metrics.export_interval",
    "metrics.prometheus.listen",
    "alerts.evaluation_interval",
    "alerts.group_wait",
    "alerts.group_interval",
    "alerts.repeat_interval",
    "alerts.min_calls",
    "alerts.channels.hook.url",
    "alerts.channels.hook.timeout",
    "alerts.channels.hook.max_retries",
    "alerts.channels.mail.port",
    "alerts.channels.mail.host",
    "bogus",
    "export.bogus",
];

/// A block-style document setting `path` to `value` (channels get the settings their kind needs).
fn snippet(path: &str, value: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = String::new();
    for (depth, p) in parts.iter().enumerate() {
        let indent = "  ".repeat(depth);
        if depth + 1 == parts.len() {
            out.push_str(&format!("{indent}{p}: {value}\n"));
        } else {
            out.push_str(&format!("{indent}{p}:\n"));
            if *p == "hook" {
                out.push_str(&format!("{indent}  kind: webhook\n"));
                if !path.ends_with(".url") {
                    out.push_str(&format!("{indent}  url: http://127.0.0.1:1/hook\n"));
                }
            }
            if *p == "mail" {
                out.push_str(&format!(
                    "{indent}  kind: email\n{indent}  from: a@b.c\n{indent}  to: [d@e.f]\n"
                ));
                if !path.ends_with(".host") {
                    out.push_str(&format!("{indent}  host: 127.0.0.1\n"));
                }
            }
        }
    }
    out
}

/// One malformed text.
fn mutate(rng: &mut Rng, shipped: &str, values: &[String]) -> String {
    let lines: Vec<&str> = shipped.lines().collect();
    let keyed: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let t = lines[i].trim_start();
            !t.starts_with('#') && t.contains(": ")
        })
        .collect();
    match rng.below(12) {
        // A value of the shipped file replaced.
        0..=3 => {
            let i = *rng.pick(&keyed);
            let (k, _) = lines[i].split_once(": ").unwrap();
            let mut l = lines.clone();
            let line = format!("{k}: {}", rng.pick(values));
            l[i] = &line;
            l.join("\n")
        }
        // A snippet with one key set to a nasty value.
        4..=6 => {
            let key = KEYS[rng.below(KEYS.len())];
            let value: &String = rng.pick(values);
            snippet(key, value)
        }
        // An unknown key, or a line repeated (a duplicate key).
        7 => {
            let i = *rng.pick(&keyed);
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            if rng.below(2) == 0 {
                let indent = lines[i].len() - lines[i].trim_start().len();
                l.insert(i, format!("{}unknwn_{}: 1", " ".repeat(indent), rng.below(100)));
            } else {
                l.insert(i, lines[i].to_string());
            }
            l.join("\n")
        }
        // Tabs for indentation, or random bytes changed.
        8 => {
            if rng.below(2) == 0 {
                shipped.replace("  ", "\t")
            } else {
                let mut b: Vec<char> = shipped.chars().collect();
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(b.len());
                    b[at] = *rng.pick(&[
                        ':', '-', '{', '[', '"', '\'', '&', '*', '!', '\t', '\n', ' ', '#', '%', '|', '\0',
                    ]);
                }
                b.into_iter().collect()
            }
        }
        // Truncated anywhere.
        9 => {
            let cut = rng.below(shipped.len());
            let mut cut = cut;
            while !shipped.is_char_boundary(cut) {
                cut -= 1;
            }
            shipped[..cut].to_string()
        }
        // Deep nesting, block or flow.
        10 => {
            let depth = [10, 33, 100, 1000, 100_000][rng.below(5)];
            if rng.below(2) == 0 {
                format!("service:\n  attributes: {}{}\n", "[".repeat(depth), "]".repeat(depth))
            } else {
                let mut s = String::new();
                for d in 0..depth.min(2000) {
                    s.push_str(&format!("{}k{d}:\n", " ".repeat(d)));
                }
                s
            }
        }
        // An alias bomb ("billion laughs"), or aliases where values go.
        _ => {
            if rng.below(2) == 0 {
                let mut s = String::from(
                    "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
                );
                for i in 1..10 {
                    let refs = vec![format!("*a{}", i - 1); 9].join(",");
                    s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
                }
                format!(
                    "service:\n  attributes:\n{}",
                    s.lines().map(|l| format!("    {l}\n")).collect::<String>()
                )
            } else {
                "export:\n  max_queue: &q 0\n  max_batch: *q\nservice: &s\n  name: *s\n".to_string()
            }
        }
    }
}

#[derive(Default, Debug)]
struct Counts {
    generated: usize,
    ok: usize,
    err_named: usize,
    /// Of those, errors outside every key (a syntax error in a comment, the document itself).
    top_level: usize,
    err_unnamed: Vec<String>,
    panics: Vec<String>,
}

impl Counts {
    fn take(
        &mut self,
        label: &str,
        r: std::thread::Result<Result<Config, telemark::config::ConfigError>>,
        ok: &mut Vec<Config>,
    ) {
        self.generated += 1;
        match r {
            Err(_) => self.panics.push(label.to_string()),
            Ok(Ok(c)) => {
                self.ok += 1;
                ok.push(c);
            }
            Ok(Err(e)) => {
                let named = if e.source.starts_with("environment variable ") {
                    e.source.len() > "environment variable ".len()
                } else {
                    e.source == "fuzz.yaml" || e.source.ends_with(".yaml")
                } && (e.source.starts_with("environment variable ")
                    || (e.line.is_some() && e.key.is_some()));
                if named {
                    self.err_named += 1;
                    if e.key.as_deref() == Some("(top level)") {
                        self.top_level += 1;
                    }
                    if std::env::var_os("TELEMARK_FUZZ_SHOW").is_some() {
                        eprintln!("{label}: {}", e.to_string().chars().take(300).collect::<String>());
                    }
                } else {
                    self.err_unnamed.push(format!("{label}: {e}"));
                }
            }
        }
    }
}

#[traced]
fn fuzzed_work(i: usize) {
    tracing::info!(i, "fuzzed config runs");
}

#[test]
fn malformed_configs_are_refused_by_name_and_accepted_ones_run() {
    let shipped = std::fs::read_to_string(support::repo_root().join("configs/config.yaml")).unwrap();
    let values = nasty_values();
    let mut rng = Rng(0x7e1e_3a2c_2026_0012);
    let mut counts = Counts::default();
    let mut accepted = Vec::new();

    // From text: mutations and snippets.
    for i in 0..1200 {
        let text = mutate(&mut rng, &shipped, &values);
        let r = catch_unwind(AssertUnwindSafe(|| Config::from_yaml(&text, "fuzz.yaml")));
        counts.take(&format!("case {i}"), r, &mut accepted);
    }
    // Through files: bytes that are not UTF-8, special files, a file over the cap.
    let dir = std::env::temp_dir().join(format!("telemark-config-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for i in 0..60 {
        let mut bytes = shipped.clone().into_bytes();
        let at = rng.below(bytes.len());
        bytes[at] = [0xff, 0xc3, 0x80, 0xfe][i % 4];
        let p = dir.join(format!("bad-utf8-{i}.yaml"));
        std::fs::write(&p, &bytes).unwrap();
        files.push(p);
    }
    let big = dir.join("big.yaml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    files.push(big);
    files.push(dir.clone());
    files.push("/dev/zero".into());
    let fifo = dir.join("fifo.yaml");
    if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        files.push(fifo);
    }
    let mut file_errors = 0;
    for p in &files {
        let r = catch_unwind(AssertUnwindSafe(|| Config::from_file(p)));
        match &r {
            // A file that cannot be read at all has no line: it names the file.
            Ok(Err(e)) if e.line.is_none() => {
                assert_eq!(e.source, p.display().to_string());
                assert!(e.message.contains("regular file") || e.message.contains("1 MiB"), "{e}");
                file_errors += 1;
                counts.generated += 1;
            }
            Ok(Err(e)) => {
                assert!(e.message.contains("UTF-8") || e.line.is_some(), "{e}");
                assert!(e.key.is_some(), "no key: {e}");
                counts.generated += 1;
                counts.err_named += 1;
            }
            _ => counts.take(&p.display().to_string(), r, &mut accepted),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    // The OTEL_* variables, through `apply_env` (no process-wide environment is changed).
    let vars = [
        "OTEL_SDK_DISABLED",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_PROPAGATORS",
        "RUST_LOG",
    ];
    let env_values: Vec<String> = values
        .iter()
        .cloned()
        .chain(
            ["a=b,c", "=x", "k=%zz", "k=\u{7}", "k=v\r\nInjected: 1", "a,b,c", ",,,", "k=v=w"]
                .map(String::from),
        )
        .collect();
    let mut env_cases = 0;
    for i in 0..300 {
        let var = *rng.pick(&vars);
        let value = rng.pick(&env_values).clone();
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut c = Config::default();
            c.apply_env(&|k| (k == var).then(|| value.clone())).map(|()| c)
        }));
        if let Ok(Err(e)) = &r {
            assert_eq!(e.source, format!("environment variable {var}"), "{e}");
        }
        counts.take(&format!("env {i} {var}"), r, &mut accepted);
        env_cases += 1;
    }

    // What was accepted runs: init (console off, no network), a span and a log, shutdown.
    let mut ran = 0;
    let mut init_errors = Vec::new();
    for (i, mut c) in accepted.into_iter().enumerate() {
        c.exporters.console.enabled = Switch::Off;
        c.exporters.otlp.endpoint.clear();
        c.metrics.prometheus.listen = None;
        let r = catch_unwind(AssertUnwindSafe(|| match telemark::init(c) {
            Ok(guard) => {
                fuzzed_work(i);
                telemark::flush(telemark::QUERY_WAIT);
                guard.shutdown_within(Duration::from_secs(5));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }));
        match r {
            Ok(Ok(())) => ran += 1,
            Ok(Err(e)) => init_errors.push(e),
            Err(_) => counts.panics.push(format!("init of accepted config {i}")),
        }
    }
    eprintln!(
        "config fuzz: {} generated ({} OTEL_* values, {} unreadable files), {} ok ({ran} ran: init, \
         span, log, shutdown; {} refused by init), {} refused naming file+line+key or the variable ({} \
         of them outside every key: `(top level)`), {} refused without, {} panics",
        counts.generated,
        env_cases,
        file_errors,
        counts.ok,
        init_errors.len(),
        counts.err_named,
        counts.top_level,
        counts.err_unnamed.len(),
        counts.panics.len()
    );
    assert!(counts.generated >= 1100 + 100);
    assert!(counts.panics.is_empty(), "panics: {:?}", counts.panics);
    assert!(
        counts.err_unnamed.is_empty(),
        "errors that do not name file, line and key:\n{}",
        counts.err_unnamed.join("\n")
    );
    assert!(init_errors.iter().all(|e| e.contains("fuzz.yaml")), "init errors: {init_errors:?}");
    assert!(ran > 0);
}

/// `TELEMARK_CONFIG=/dev/zero`: refused at once, in a child process (the variable is the
/// process's), not read until memory runs out.
#[test]
fn telemark_config_naming_a_device_is_refused() {
    if std::env::var_os("TELEMARK_FUZZ_CHILD").is_some() {
        match Config::from_env() {
            Ok(_) => println!("accepted"),
            Err(e) => println!("refused: {e}"),
        }
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "telemark_config_naming_a_device_is_refused", "--nocapture"])
        .env("TELEMARK_FUZZ_CHILD", "1")
        .env("TELEMARK_CONFIG", "/dev/zero")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("refused: /dev/zero: cannot read the file: it is not a regular file"),
        "{stdout}"
    );
}
