//! Alert rules: those declared with `#[alert_on]` are known at link time with their source
//! location; the config adds rules and overrides them (and its mistakes are errors); the
//! Prometheus rule file passes the real `promtool check rules`, and `promtool test rules` over
//! synthetic series of the exported metrics shows every kind of rule firing when it should and
//! staying silent when it should not.
//!
//! promtool is required: install the Debian package `prometheus` (CI does), or point `PROMTOOL` at
//! the binary. Without it these tests fail; they do not skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use telemark::alerts::config::merge;
use telemark::alerts::parse::{parse_condition, parse_duration};
use telemark::alerts::{prometheus_rules, AlertsConfig, Metric, Op, Origin, Quantile, Rule, Severity};
use telemark::{alert_on, traced};
use telemark_tests as support;

// The rules of this test binary. Nothing calls these functions before
// `rules_are_known_at_link_time_with_their_source_location` has listed them.

#[traced]
#[alert_on(p99_latency > 250ms)]
#[alert_on(error_rate > 5%, name = "checkout_failing", severity = "critical", labels(team = "payments"))]
fn checkout(items: u32) -> Result<u32, String> {
    if items == 0 {
        return Err("empty cart".into());
    }
    Ok(items)
}

#[alert_on(errors > 3, window = "10m", for = "1m", notify = ["console"])]
fn refund(amount: u32) -> Result<u32, String> {
    Ok(amount)
}

/// The line of the first line of this file that contains `needle`.
fn line_of(needle: &str) -> u32 {
    let src = include_str!("alert_rules.rs");
    let i = src.lines().position(|l| l.contains(needle)).expect(needle);
    u32::try_from(i + 1).unwrap()
}

fn here() -> &'static str {
    "tests/alert_rules.rs"
}

#[test]
fn rules_are_known_at_link_time_with_their_source_location() {
    let rules = telemark::alerts::rules();
    let summary: Vec<(String, String, String, Origin)> = rules
        .iter()
        .map(|r| (r.name.to_string(), r.function.to_string(), r.condition(), r.origin.clone()))
        .collect();
    let at = |needle: &str| Origin::Macro { file: here(), line: line_of(needle) };
    assert_eq!(
        summary,
        [
            (
                "checkout_failing".to_string(),
                "alert_rules::checkout".to_string(),
                "error_rate > 5%".to_string(),
                at("#[alert_on(error_rate > 5%, name = \"checkout_failing\""),
            ),
            (
                "checkout_p99_latency".to_string(),
                "alert_rules::checkout".to_string(),
                "p99_latency > 250ms".to_string(),
                at("#[alert_on(p99_latency > 250ms)]"),
            ),
            (
                "refund_errors".to_string(),
                "alert_rules::refund".to_string(),
                "errors > 3".to_string(),
                at("#[alert_on(errors > 3, window"),
            ),
        ]
    );
    let refund_rule = &rules[2];
    assert_eq!((refund_rule.window, refund_rule.for_), (Duration::from_secs(600), Duration::from_secs(60)));
    assert_eq!(rules[0].severity, Severity::Critical);
    assert_eq!(rules[0].labels, [("team".into(), "payments".into())]);
    // The functions still work, and `checkout` still reports its own name in its rules.
    assert_eq!(checkout(2), Ok(2));
    assert_eq!(refund(3), Ok(3));
    assert_eq!(telemark::alerts::rules(), rules);
}

// ---- the config: rules and overrides ----

const CONFIG: &str = "\
evaluation_interval: 30s
rules:
  - function: alert_rules::refund
    condition: calls < 1
    window: 1h
    name: refund_idle
    severity: info
    notify: [console, oncall]
    summary: \"nobody refunded in {threshold}\"
    labels: { team: payments }
  - function: shop::search
    condition: p95 > 1.5s
overrides:
  - name: checkout_p99_latency
    threshold: 300ms
    severity: critical
  - name: checkout_failing
    notify: [oncall]
  - name: refund_errors
    disabled: true
channels:
  oncall:
    kind: webhook
    url: http://hooks.example.com/telemark
    secret: a-shared-secret-of-32-bytes-long
";

fn merged(yaml: &str) -> Result<Vec<Rule>, String> {
    let cfg = AlertsConfig::from_yaml(yaml, "alerts.yaml")?;
    merge(telemark::alerts::rules(), &cfg, Some("alerts.yaml"))
}

#[test]
fn config_adds_rules_and_overrides_declared_ones() {
    let cfg = AlertsConfig::from_yaml(CONFIG, "alerts.yaml").unwrap();
    assert_eq!(cfg.evaluation_interval, Duration::from_secs(30));
    assert_eq!(cfg.group_wait, Duration::from_secs(30), "a default");
    assert!(format!("{:?}", cfg.channels["oncall"]).contains("[REDACTED]"));
    assert!(!format!("{:?}", cfg.channels["oncall"]).contains("a-shared-secret"));
    let rules = merge(telemark::alerts::rules(), &cfg, Some("alerts.yaml")).unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_ref()).collect();
    assert_eq!(
        names,
        ["checkout_failing", "checkout_p99_latency", "refund_errors", "refund_idle", "search_p95_latency"]
    );
    let by = |n: &str| rules.iter().find(|r| r.name == n).unwrap();

    let p99 = by("checkout_p99_latency");
    assert_eq!((p99.threshold, p99.severity), (0.3, Severity::Critical));
    assert_eq!(p99.condition(), "p99_latency > 300ms");
    assert!(matches!(p99.origin, Origin::Macro { .. }), "an override keeps the origin");
    assert_eq!(by("checkout_failing").notify, ["oncall"]);
    assert_eq!(by("checkout_failing").threshold, 0.05, "not overridden");
    assert!(by("refund_errors").disabled);

    let idle = by("refund_idle");
    assert_eq!((idle.metric, idle.op, idle.threshold), (Metric::Calls, Op::Lt, 1.0));
    assert_eq!(idle.window, Duration::from_secs(3600));
    assert_eq!(idle.severity, Severity::Info);
    assert_eq!(idle.notify, ["console", "oncall"]);
    assert_eq!(idle.labels, [("team".into(), "payments".into())]);
    assert_eq!(idle.origin, Origin::Config { file: Some("alerts.yaml".into()), line: Some(3) });

    let search = by("search_p95_latency");
    assert_eq!(search.metric, Metric::Latency(Quantile::P95));
    assert_eq!(
        (search.threshold, search.window, search.for_),
        (1.5, Duration::from_secs(300), Duration::ZERO)
    );
    assert_eq!((search.severity, search.notify.clone()), (Severity::Warning, vec!["console".into()]));
    assert_eq!(search.origin, Origin::Config { file: Some("alerts.yaml".into()), line: Some(11) });

    // A disabled rule is left out of the Prometheus rules (and named in a comment).
    let file = prometheus_rules(&rules);
    assert!(!file.contains("- alert: \"refund_errors\""), "{file}");
    assert!(file.contains("# disabled by the config: refund_errors"), "{file}");
    assert_eq!(file.matches("- alert: ").count(), 4, "{file}");
}

#[track_caller]
fn assert_err(result: Result<Vec<Rule>, String>, parts: &[&str]) {
    let e = result.expect_err("expected an error");
    for p in parts {
        assert!(e.contains(p), "`{p}` not in: {e}");
    }
}

#[test]
fn an_override_must_name_a_rule() {
    assert_err(
        merged("overrides:\n  - name: checkout_p99_latancy\n    threshold: 1s\n"),
        &[
            "alerts.yaml:2: alerts.overrides[0]: no rule named `checkout_p99_latancy`",
            "did you mean `checkout_p99_latency`?",
        ],
    );
    assert_err(
        merged(
            "overrides:\n  - name: checkout_failing\n    function: alert_rules::refund\n    disabled: true\n",
        ),
        &[
            "no rule named `checkout_failing` on `alert_rules::refund`",
            "rules named so are on `alert_rules::checkout`",
        ],
    );
    assert_err(
        merged("overrides:\n  - name: checkout_failing\n    severity: info\n  - name: checkout_failing\n    disabled: true\n"),
        &["alerts.yaml:4: alerts.overrides[1]", "already overridden by alerts.overrides[0]"],
    );
    // Rules on two functions with one name: the override says which.
    let two = "rules:\n  - function: a::f\n    condition: errors > 1\n    name: broken\n  \
               - function: a::g\n    condition: errors > 1\n    name: broken\n";
    assert_err(
        merged(&format!("{two}overrides:\n  - name: broken\n    severity: critical\n")),
        &["rules on several functions are named `broken` (`a::f`, `a::g`); add `function: ...`"],
    );
    let rules =
        merged(&format!("{two}overrides:\n  - name: broken\n    function: a::g\n    severity: critical\n"))
            .unwrap();
    let sev: Vec<(&str, Severity)> = rules.iter().map(|r| (r.function.as_ref(), r.severity)).collect();
    assert!(
        sev.contains(&("a::f", Severity::Warning)) && sev.contains(&("a::g", Severity::Critical)),
        "{sev:?}"
    );
}

#[test]
fn an_override_threshold_must_suit_the_metric() {
    assert_err(
        merged("overrides:\n  - name: checkout_failing\n    threshold: 300ms\n"),
        &[
            "alerts.yaml:2: alerts.overrides[0]: threshold for `checkout_failing` (error_rate > 5%)",
            "`error_rate` takes a percentage (`5%`) or a fraction (`0.05`), not a unit like `ms`",
        ],
    );
    assert_err(
        merged("overrides:\n  - name: checkout_p99_latency\n    threshold: 2%\n"),
        &["`p99_latency` is a duration, not a percentage"],
    );
    assert_err(
        merged("overrides:\n  - name: checkout_p99_latency\n    threshold: 300\n"),
        &["a latency threshold needs a unit: write `300ms` or `300s`"],
    );
    assert_err(merged("overrides:\n  - name: refund_errors\n    threshold: -1\n"), &["cannot be negative"]);
    // Numbers and fractions are fine where they suit.
    let rules = merged("overrides:\n  - name: refund_errors\n    threshold: 10\n  - name: checkout_failing\n    threshold: 0.02\n")
        .unwrap();
    assert_eq!(rules.iter().find(|r| r.name == "refund_errors").unwrap().threshold, 10.0);
    assert_eq!(rules.iter().find(|r| r.name == "checkout_failing").unwrap().threshold, 0.02);
    // Not even a threshold: a config error with its line.
    let e =
        AlertsConfig::from_yaml("overrides:\n  - name: x\n    threshold: fast\n", "alerts.yaml").unwrap_err();
    assert!(e.contains("expected a number as the threshold"), "{e}");
}

#[test]
fn config_rules_get_the_checks_of_the_macro() {
    assert_err(
        merged("rules:\n  - function: alert_rules::checkout\n    condition: p99 > 1s\n"),
        &[
            "alerts.yaml:2: alerts.rules[0]: duplicate rule `checkout_p99_latency` on `alert_rules::checkout` \
             (its default name); give it `name: ...`",
            &format!("also declared by #[alert_on] at tests/alert_rules.rs:{}", line_of("#[alert_on(p99_latency > 250ms)]")),
        ],
    );
    assert_err(
        merged("rules:\n  - function: a::f\n    condition: errors > 1\n    window: 1m\n    for: 20m\n"),
        &["alerts.yaml:2: alerts.rules[0]: `for` (20m) is longer than 10 × the window (1m)"],
    );
    assert_err(
        merged("rules:\n  - function: a::f\n    condition: errors > 1\n    window: 0s\n"),
        &["the window cannot be zero"],
    );
    assert_err(
        merged("rules:\n  - function: a::f\n    condition: errors > 1\n    labels: { severity: page }\n"),
        &["labels: label `severity` is reserved"],
    );
    assert_err(
        merged("rules:\n  - function: a::f\n    condition: errors > 1\n    summary: \"{fn} broke\"\n"),
        &["summary: unknown placeholder `{fn}`", "did you mean `{function}`?"],
    );
    assert_err(
        merged("rules:\n  - function: checkout\n    condition: errors > 1\n"),
        &["function: expected the path telemark records as `code.function.name`"],
    );
    assert_err(
        merged("rules:\n  - function: a::f\n    condition: errors > 1\n    name: \"a b\"\n"),
        &["name: invalid rule name `a b`"],
    );
    assert_err(
        merged("rules:\n  - function: a::f\n    condition: errors > 1\n    notify: [pager]\n"),
        &["rule `f_errors` on `a::f` (declared by the config at alerts.yaml:2) notifies `pager`, which is not a \
           channel in alerts.channels (the channels are `console`)"],
    );
    // Mistakes in the grammar are config errors, on their line.
    for (yaml, part) in [
        ("rules:\n  - function: a::f\n    condition: p99 > 200\n", "a latency threshold needs a unit"),
        ("rules:\n  - function: a::f\n    condition: erors > 1\n", "did you mean `errors`?"),
        (
            "rules:\n  - function: a::f\n    condition: errors > 1\n    window: 5 minutes\n",
            "malformed duration",
        ),
        (
            "rules:\n  - function: a::f\n    condition: errors > 1\n    severity: warn\n",
            "did you mean `warning`?",
        ),
        ("rules:\n  - function: a::f\n    condition: errors > 1\n    windw: 5m\n", "windw"),
        ("group_wait: 30\n", "`30` needs a unit, like `30s`"),
        ("channels:\n  x:\n    kind: pager\n", "pager"),
    ] {
        let e = AlertsConfig::from_yaml(yaml, "alerts.yaml").unwrap_err();
        assert!(e.contains(part), "`{part}` not in: {e}");
        assert!(e.starts_with("alerts.yaml"), "{e}");
    }
}

#[test]
fn channels_are_checked() {
    for (channel, part) in [
        ("kind: webhook", "alerts.yaml:3:5: key `channels.oncall`: a webhook channel needs `url`"),
        (
            "kind: webhook\n    url: http://x\n    host: smtp.example.com",
            "`host` is a setting of email channels, not of a webhook channel",
        ),
        ("kind: email\n    host: smtp.example.com\n    from: a@example.com", "an email channel needs `to`"),
        (
            "kind: email\n    host: h\n    from: a@b\n    to: [c@d]\n    username: u",
            "`username` and `password` go together",
        ),
        ("kind: alertmanager\n    url: alertmanager:9093", "url: `alertmanager:9093` is not a URL"),
        (
            "kind: console\n    url: https://x",
            "`url` is a setting of webhook and alertmanager channels, not of a console channel",
        ),
    ] {
        let yaml = format!("channels:\n  oncall:\n    {channel}\n");
        assert_err(merged(&yaml), &[part]);
    }
    assert_err(
        merged("channels:\n  console:\n    kind: webhook\n    url: http://x\n"),
        &["`console` is the built-in console channel"],
    );
    let ok =
        "channels:\n  mail:\n    kind: email\n    host: smtp.example.com\n    from: alerts@example.com\n    \
              to: [oncall@example.com]\n    username: u\n    password: p\n  am:\n    kind: alertmanager\n    \
              url: http://alertmanager:9093\n    timeout: 5s\n    max_retries: 5\n";
    let cfg = AlertsConfig::from_yaml(ok, "alerts.yaml").unwrap();
    assert_eq!(cfg.channels["mail"].port(), 587);
    assert_eq!(cfg.channels["am"].timeout(), Duration::from_secs(5));
    assert_eq!(cfg.channels["am"].max_retries(), 5);
    merge(Vec::new(), &cfg, None).unwrap();
}

// ---- one grammar, one set of messages ----

#[test]
fn the_macro_and_the_config_share_the_grammar_and_its_messages() {
    // What the compiler says about a condition (the trybuild cases) is what the config says.
    for (case, condition) in [
        ("unknown_metric", "p99_latncy > 200ms"),
        ("unknown_metric_hint", "throughput < 10"),
        ("latency_without_unit", "p99_latency > 200"),
        ("unknown_unit", "p95 > 2sec"),
        ("unit_on_count", "errors > 5ms"),
        ("percent_on_count", "calls > 5%"),
        ("percent_over_100", "error_rate > 150%"),
        ("fraction_over_1", "error_rate > 5"),
        ("negative_threshold", "rate > -1"),
        ("bad_comparison", "errors => 5"),
        ("always_or_never", "errors >= 0"),
    ] {
        let path = support::repo_root().join(format!("ui/tests/ui/alert_on/fail/{case}.stderr"));
        let stderr = std::fs::read_to_string(&path).unwrap();
        let first = stderr.lines().next().unwrap();
        assert_eq!(first, format!("error: {}", parse_condition(condition).unwrap_err()), "{case}");
    }
    // `min_calls` too: what the compiler says is what a config rule, override or alerts.min_calls gets.
    use telemark::alerts::parse::{check_min_calls_metric, parse_min_calls};
    for (case, message) in [
        ("min_calls_zero", parse_min_calls("0").unwrap_err()),
        ("min_calls_negative", parse_min_calls("-10").unwrap_err()),
        ("min_calls_not_whole", parse_min_calls("2.5").unwrap_err()),
        ("min_calls_on_count", check_min_calls_metric(Metric::Errors).unwrap_err()),
    ] {
        let path = support::repo_root().join(format!("ui/tests/ui/alert_on/fail/{case}.stderr"));
        let stderr = std::fs::read_to_string(&path).unwrap();
        assert_eq!(stderr.lines().next().unwrap(), format!("error: {message}"), "{case}");
    }
    let stderr = std::fs::read_to_string(
        support::repo_root().join("ui/tests/ui/alert_on/fail/malformed_duration.stderr"),
    )
    .unwrap();
    assert!(
        stderr.starts_with(&format!("error: {}\n", parse_duration("5 minutes").unwrap_err())),
        "{stderr}"
    );
}

// ---- Prometheus ----

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("telemark-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs promtool in `dir`, asserting success and showing its output otherwise.
fn promtool(dir: &Path, args: &[&str], what: &str) -> String {
    let exe = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_string());
    let out = match Command::new(&exe).args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run `{exe}` ({e}): these tests need Prometheus' promtool — install the Debian package \
             `prometheus` (CI does) or set PROMTOOL=/path/to/promtool"
        ),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {} failed on {what}:\n{text}", args.join(" "));
    text
}

/// Rules of every metric kind and comparison, with labels and texts that need escaping.
const EVERY_KIND: &str = r#"
channels:
  oncall: { kind: webhook, url: "http://hooks.example.com/x" }
rules:
  - { function: shop::checkout, condition: error_rate > 5%, severity: critical }
  - { function: shop::checkout, condition: error_rate < 0.5, name: checkout_mostly_fine }
  - { function: shop::checkout, condition: errors >= 10, window: 15m, for: 5m }
  - { function: shop::checkout, condition: calls < 1, window: 1h, name: checkout_idle, severity: info }
  - { function: shop::checkout, condition: rate > 100, window: 1m }
  - { function: shop::checkout, condition: p50_latency > 500us, window: 90s }
  - { function: shop::checkout, condition: p90_latency > 20ms }
  - { function: shop::checkout, condition: p95_latency >= 100ms }
  - { function: shop::checkout, condition: p99_latency > 1.5s, window: 10m, for: 1h30m }
  - { function: shop::checkout, condition: max_latency > 10s, window: 1500ms }
  - { function: shop::checkout, condition: calls > 1000, window: 1.5s, for: 10.25s, name: checkout_burst }
  - { function: shop::checkout, condition: p99_latency <= 1ms, name: checkout_too_fast }
  - { function: shop::checkout, condition: exceptions > 0 }
  - function: shop::type
    condition: exceptions <= 3
    name: "odd:name-1.x"
    notify: [console, oncall]
    labels: { team: "pay\"ments\\", note: "line\nbreak", unicode: "ünï ✓", yes: "no", empty_looking: "~" }
    summary: "{function} {{literal}} braces: {value} vs {threshold}"
    description: "quotes \" and backslashes \\ and a {{{value}}} in braces"
"#;

#[test]
fn promtool_checks_the_rule_file() {
    let cfg = AlertsConfig::from_yaml(EVERY_KIND, "every_kind.yaml").unwrap();
    let rules = merge(telemark::alerts::rules(), &cfg, None).unwrap();
    assert_eq!(rules.len(), 14 + 3);
    let file = prometheus_rules(&rules);
    let dir = TempDir::new("promtool-check");
    dir.write("rules.yml", &file);
    let out = promtool(&dir.0, &["check", "rules", "rules.yml"], &file);
    assert!(out.contains("SUCCESS: 17 rules found"), "{out}");
    // The escapes come back as written.
    assert!(file.contains(r#""team": "pay\"ments\\""#), "{file}");
    assert!(file.contains(r#""note": "line\nbreak""#), "{file}");
    assert!(file.contains(r#""yes": "no""#), "{file}");
    // Sub-second windows as Prometheus writes durations (no fractions).
    assert!(file.contains("[1s500ms]"), "{file}");
    assert!(file.contains(r#"for: "10s250ms""#), "{file}");
    assert!(
        file.contains(
            r#""summary": "shop::type {{ \"{\" }}literal{{ \"}\" }} braces: {{ $value | humanize }} vs 3""#
        ),
        "{file}"
    );
}

#[test]
fn the_example_writes_the_checked_in_rule_file() {
    // target/debug/deps/alert_rules-<hash> → target/debug/examples/alert_rules
    let exe = std::env::current_exe().unwrap();
    let example = exe.parent().and_then(|d| d.parent()).unwrap().join("examples").join("alert_rules");
    assert!(example.exists(), "{} is not built (cargo test builds examples)", example.display());
    let dir = TempDir::new("example-rules");
    let path = dir.0.join("alerts.rules.yml");
    let out = Command::new(&example).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("6 alert rules:"), "{stdout}");
    assert!(
        stdout.contains("checkout_p99_latency on alert_rules::checkout: p99_latency > 300ms over 10m for 2m"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&path).unwrap();
    let checked_in = std::fs::read_to_string(support::repo_root().join("configs/alerts.rules.yml")).unwrap();
    assert!(
        written == checked_in,
        "configs/alerts.rules.yml is out of date: run `cargo run --example alert_rules`\n--- generated:\n{written}"
    );
    let out = promtool(&dir.0, &["check", "rules", "alerts.rules.yml"], &written);
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");
}

// ---- promtool test rules: every kind fires when it should, and only then ----

/// The buckets the histogram exports, in seconds: 1µs to 100s in a 1-2-5 series (then +Inf).
fn bounds() -> Vec<f64> {
    telemark::metrics::BOUNDS_NS.iter().map(|ns| *ns as f64 / 1e9).collect()
}

/// Values of a counter at 1m intervals from 0m to 40m: `before` per minute up to 20m, then
/// `after` per minute up to 40m — constant slopes on each side.
fn two_phases(before: u64, after: u64) -> String {
    format!("0+{before}x20 {}+{after}x19", 20 * before + after)
}

/// The cumulative `le` buckets of a histogram that gets, per minute, `before` and then `after`
/// calls with these latencies (seconds).
fn histogram(function: &str, before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(String, String)> {
    let le = |b: Option<f64>, calls: &[(f64, u64)]| -> u64 {
        calls.iter().filter(|(s, _)| b.is_none_or(|b| *s <= b)).map(|(_, n)| n).sum()
    };
    let mut series = Vec::new();
    for b in bounds().into_iter().map(Some).chain([None]) {
        let label = match b {
            Some(b) => format!("{b}"),
            None => "+Inf".to_string(),
        };
        series.push((
            format!(
                "telemark_function_duration_seconds_bucket{{function=\"{function}\",module=\"shop\",le=\"{label}\"}}"
            ),
            two_phases(le(b, before), le(b, after)),
        ));
    }
    series
}

fn calls(function: &str, outcome: &str) -> String {
    format!("telemark_function_calls_total{{function=\"{function}\",module=\"shop\",outcome=\"{outcome}\"}}")
}

/// An alert expected to fire: its name, function, extra labels and summary.
type Firing = (&'static str, &'static str, &'static [(&'static str, &'static str)], &'static str);

#[test]
fn promtool_test_every_kind_fires_when_it_should() {
    // One rule per kind. Every series is a counter with a constant slope from 0m to 20m and another
    // from 20m to 40m (`two_phases`), and the rules are evaluated at 10m (a window entirely in the
    // first phase) and 35m (entirely in the second). Within a constant slope Prometheus'
    // extrapolation in `rate` and `increase` is exact (the window's first sample is at its start,
    // and extrapolating a straight line gives the same line), so the values are those of the
    // in-process evaluator: `increase` = value now − value at now − window, `rate` = increase /
    // window, quantiles by `histogram_quantile`.
    let config = r#"
rules:
  - { function: shop::checkout, condition: error_rate > 5%, summary: "{function} fails {value} of calls (> {threshold})" }
  - { function: shop::pay, condition: errors > 10, for: 2m, severity: critical, labels: { team: payments } }
  - { function: shop::search, condition: calls > 100 }
  - { function: shop::browse, condition: rate > 1, summary: "{value}/s" }
  - { function: shop::render, condition: p99_latency > 500ms, summary: "p99 {value} > {threshold}" }
  - { function: shop::report, condition: max_latency > 1s, summary: "max {value}" }
  - { function: shop::import, condition: exceptions > 5 }
  - { function: shop::nightly, condition: calls < 1, summary: "idle" }
  - { function: shop::ghost, condition: rate < 0.1, summary: "never called" }
  - { function: shop::ghost, condition: p99_latency < 1ms, summary: "no latency without calls" }
  - { function: shop::quiet, condition: error_rate > 5%, summary: "too few calls (the default min_calls)" }
  - { function: shop::quiet, condition: error_rate > 5%, min_calls: 3, name: quiet_enough, summary: "{value} of {function}" }
  - { function: shop::rare, condition: p99_latency > 500ms, summary: "too few calls for a p99" }
  - { function: shop::rare, condition: max_latency > 500ms, summary: "max {value}" }
"#;
    let cfg = AlertsConfig::from_yaml(config, "promtool.yaml").unwrap();
    let rules = merge(Vec::new(), &cfg, None).unwrap();
    let mut series: Vec<(String, String)> = vec![
        // error_rate: 0% then 6 errors per 60 ok calls (9.09%).
        (calls("shop::checkout", "ok"), two_phases(60, 60)),
        (calls("shop::checkout", "error"), two_phases(0, 6)),
        (calls("shop::checkout", "panic"), two_phases(0, 0)),
        // errors: 1 per minute (5 per window), then 3 per minute (15), with `for: 2m`.
        (calls("shop::pay", "ok"), two_phases(10, 10)),
        (calls("shop::pay", "error"), two_phases(1, 2)),
        (calls("shop::pay", "panic"), two_phases(0, 1)),
        // calls: 50 per window, then 150.
        (calls("shop::search", "ok"), two_phases(10, 30)),
        // rate: 0.5/s, then 2/s.
        (calls("shop::browse", "ok"), two_phases(30, 120)),
        // exceptions: none, then 2 per minute (10 per window).
        (
            "telemark_exceptions_total{function=\"shop::import\",module=\"shop\"}".to_string(),
            two_phases(0, 2),
        ),
        // calls < 1: one call a minute, then none.
        (calls("shop::nightly", "ok"), two_phases(1, 0)),
        // shop::ghost: no series at all.
        // The latencies' calls (the min_calls of their quantiles counts them).
        (calls("shop::render", "ok"), two_phases(60, 60)),
        (calls("shop::report", "ok"), two_phases(60, 60)),
        // min_calls: no call, then one a minute that fails (5 in a window, an error rate of 100%):
        // too few for the default of 10, enough for 3.
        (calls("shop::quiet", "ok"), two_phases(0, 0)),
        (calls("shop::quiet", "error"), two_phases(0, 1)),
        // No call, then one a minute of 700 ms: a p99 over 5 calls is no p99; the max is a max.
        (calls("shop::rare", "ok"), two_phases(0, 1)),
    ];
    // p99: 60 calls a minute under 50ms; then 50 under 50ms, 9 under 100ms and 1 of 700ms: the 99th
    // percentile (rank 59.4) lands in (0.5s, 1s] and interpolates to 0.7s.
    series.extend(histogram("shop::render", &[(0.03, 60)], &[(0.03, 50), (0.07, 9), (0.7, 1)]));
    // max: everything under 50ms (max = the bucket's bound, 50ms), then one call a minute of 1.5s
    // (max = 2s, the upper bound of its bucket).
    series.extend(histogram("shop::report", &[(0.03, 60)], &[(0.03, 59), (1.5, 1)]));
    series.extend(histogram("shop::rare", &[], &[(0.7, 1)]));

    // (alert, labels beyond severity and function, summary) of the alerts firing at 35m.
    let firing: &[Firing] = &[
        ("checkout_error_rate", "shop::checkout", &[], "shop::checkout fails 9.091% of calls (> 5%)"),
        ("pay_errors", "shop::pay", &[("team", "payments")], "shop::pay: errors is 15 (> 10 over 5m)"),
        ("search_calls", "shop::search", &[], "shop::search: calls is 150 (> 100 over 5m)"),
        ("browse_rate", "shop::browse", &[], "2/s"),
        ("render_p99_latency", "shop::render", &[], "p99 700ms > 500ms"),
        ("report_max_latency", "shop::report", &[], "max 2s"),
        ("import_exceptions", "shop::import", &[], "shop::import: exceptions is 10 (> 5 over 5m)"),
        ("nightly_calls", "shop::nightly", &[], "idle"),
        ("ghost_rate", "shop::ghost", &[], "never called"),
        ("quiet_enough", "shop::quiet", &[], "100% of shop::quiet"),
        ("rare_max_latency", "shop::rare", &[], "max 1s"),
    ];
    // Rules that do not fire at 35m: a latency without calls, and the ratio and quantile over
    // fewer calls than their min_calls.
    let silent = ["ghost_p99_latency", "quiet_error_rate", "rare_p99_latency"];
    // The in-process evaluator on the same rules and the same traffic, on a controlled clock: the
    // same alerts fire at 10m and 35m as the ones promtool is told to expect below.
    let expected_35m: Vec<&str> = firing.iter().map(|f| f.0).collect();
    assert_eq!(evaluator_firing(&rules, 10), ["ghost_rate"]);
    assert_eq!(evaluator_firing(&rules, 35), {
        let mut v = expected_35m.clone();
        v.sort_unstable();
        v
    });
    let mut tests = String::new();
    for r in &rules {
        let name = r.name.as_ref();
        // At 10m only the rule on a function never called fires; at 35m every rule but the
        // latency of that function (no calls, no latency) and those held back by min_calls.
        let at_10m = name == "ghost_rate";
        let at_35m = firing.iter().find(|f| f.0 == name);
        assert_eq!(at_35m.is_some(), !silent.contains(&name), "{name}");
        for (time, fires) in [("10m", at_10m), ("35m", at_35m.is_some())] {
            tests.push_str(&format!("      - eval_time: {time}\n        alertname: {}\n", q(name)));
            let Some((_, function, labels, summary)) = at_35m.filter(|_| fires) else {
                tests.push_str("        exp_alerts: []\n");
                continue;
            };
            tests.push_str("        exp_alerts:\n          - exp_labels:\n");
            tests.push_str(&format!("              severity: {}\n", q(r.severity.as_str())));
            tests.push_str(&format!("              function: {}\n", q(function)));
            for (k, v) in labels.iter() {
                tests.push_str(&format!("              {k}: {}\n", q(v)));
            }
            tests.push_str(&format!("            exp_annotations:\n              summary: {}\n", q(summary)));
        }
    }
    let mut input = String::new();
    for (s, values) in &series {
        input.push_str(&format!("      - series: {}\n        values: {}\n", q(s), q(values)));
    }
    let test_file = format!(
        "rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    \
         alert_rule_test:\n{tests}"
    );
    let dir = TempDir::new("promtool-test");
    let rules_file = prometheus_rules(&rules);
    dir.write("rules.yml", &rules_file);
    dir.write("test.yml", &test_file);
    let out = promtool(&dir.0, &["test", "rules", "test.yml"], &format!("{rules_file}\n---\n{test_file}"));
    assert!(out.contains("SUCCESS"), "{out}");
}

/// A YAML double-quoted string (the test's own texts need no escapes beyond `"` and `\`).
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The traffic of `promtool_test_every_kind_fires_when_it_should`, minute by minute, as the
/// in-process metrics would hold it: cumulative counts per outcome, per-bucket latencies and
/// exceptions, with the per-minute rates of the two phases.
fn metrics_at(minute: u64) -> (Vec<telemark::metrics::FunctionMetrics>, Vec<(String, u64)>) {
    use telemark::metrics::{bucket, FunctionMetrics, BUCKETS};
    let cum = |before: u64, after: u64| before * minute.min(20) + after * minute.saturating_sub(20);
    let f = |function: &'static str, ok: (u64, u64), err: (u64, u64), panic: (u64, u64)| FunctionMetrics {
        function,
        module: "shop",
        calls: [cum(ok.0, ok.1), cum(err.0, err.1), cum(panic.0, panic.1)],
        buckets: [0; BUCKETS],
        sum: Duration::ZERO,
        exceptions: 0,
    };
    let with_latency = |mut m: FunctionMetrics, before: &[(f64, u64)], after: &[(f64, u64)]| {
        for (secs, n) in before {
            m.buckets[bucket((secs * 1e9) as u64)] += n * minute.min(20);
        }
        for (secs, n) in after {
            m.buckets[bucket((secs * 1e9) as u64)] += n * minute.saturating_sub(20);
        }
        m
    };
    let metrics = vec![
        f("shop::checkout", (60, 60), (0, 6), (0, 0)),
        f("shop::pay", (10, 10), (1, 2), (0, 1)),
        f("shop::search", (10, 30), (0, 0), (0, 0)),
        f("shop::browse", (30, 120), (0, 0), (0, 0)),
        f("shop::nightly", (1, 0), (0, 0), (0, 0)),
        with_latency(
            f("shop::render", (60, 60), (0, 0), (0, 0)),
            &[(0.03, 60)],
            &[(0.03, 50), (0.07, 9), (0.7, 1)],
        ),
        with_latency(f("shop::report", (60, 60), (0, 0), (0, 0)), &[(0.03, 60)], &[(0.03, 59), (1.5, 1)]),
        f("shop::quiet", (0, 0), (0, 1), (0, 0)),
        with_latency(f("shop::rare", (0, 1), (0, 0), (0, 0)), &[], &[(0.7, 1)]),
    ];
    (metrics, vec![("shop::import".to_string(), cum(0, 2))])
}

/// The alerts the in-process evaluator has firing at `minute`, evaluating every minute from 0.
fn evaluator_firing(rules: &[Rule], minute: u64) -> Vec<&'static str> {
    let mut e = telemark::alerts::eval::Evaluator::new(rules.to_vec());
    let t0 = std::time::Instant::now();
    let w0 = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for m in 0..=minute {
        let (metrics, exceptions) = metrics_at(m);
        let at = Duration::from_secs(60 * m);
        e.evaluate(t0 + at, w0 + at, &metrics, &exceptions);
    }
    let mut names: Vec<&'static str> = e
        .active()
        .into_iter()
        .filter(|a| a.state == telemark::alerts::State::Firing)
        .map(|a| &*Box::leak(a.rule.name.to_string().into_boxed_str()))
        .collect();
    names.sort_unstable();
    names
}

// ---- min_calls: an error rate over too few calls is no reason to fire ----

/// `shop::pay` with `ok` and `failed` calls so far (cumulative), all of 300 ms.
fn pay(ok: u64, failed: u64) -> telemark::metrics::FunctionMetrics {
    use telemark::metrics::{bucket, FunctionMetrics, BUCKETS};
    let mut buckets = [0; BUCKETS];
    buckets[bucket(300_000_000)] = ok + failed;
    FunctionMetrics {
        function: "shop::pay",
        module: "shop",
        calls: [ok, failed, 0],
        buckets,
        sum: Duration::ZERO,
        exceptions: 0,
    }
}

/// For each cumulative (ok, failed) in `traffic`, one evaluation 15 s after the previous (all
/// within the 5m window): the names of the rules firing after it.
fn firing_after_each(yaml: &str, traffic: &[(u64, u64)]) -> Vec<Vec<String>> {
    let cfg = AlertsConfig::from_yaml(yaml, "min_calls.yaml").unwrap();
    let rules = merge(Vec::new(), &cfg, Some("min_calls.yaml")).unwrap();
    let mut e = telemark::alerts::eval::Evaluator::new(rules);
    let t0 = std::time::Instant::now();
    let w0 = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    traffic
        .iter()
        .enumerate()
        .map(|(i, (ok, failed))| {
            let at = Duration::from_secs(15 * i as u64);
            e.evaluate(t0 + at, w0 + at, &[pay(*ok, *failed)], &[]);
            let mut names: Vec<String> = e
                .active()
                .into_iter()
                .filter(|a| a.state == telemark::alerts::State::Firing)
                .map(|a| a.rule.name.to_string())
                .collect();
            names.sort();
            names
        })
        .collect()
}

#[test]
fn an_error_rate_rule_does_not_fire_on_the_first_failed_call() {
    // One failed call is an error rate of 100%, and so are nine: too few calls to tell a failing
    // function from an unlucky call. The tenth failed call in the window fires it (the default
    // min_calls).
    let got = firing_after_each(
        "rules:\n  - { function: shop::pay, condition: error_rate > 5% }\n",
        &[(0, 0), (0, 1), (0, 9), (0, 10), (90, 10)],
    );
    let none: Vec<String> = Vec::new();
    let fires = vec!["pay_error_rate".to_string()];
    assert_eq!(got, [none.clone(), none.clone(), none, fires.clone(), fires]);
}

#[test]
fn min_calls_is_set_per_rule_by_override_and_globally() {
    let none: Vec<String> = Vec::new();
    let fires = vec!["pay_error_rate".to_string()];
    // Per rule: three calls are enough.
    let got = firing_after_each(
        "rules:\n  - { function: shop::pay, condition: error_rate > 5%, min_calls: 3 }\n",
        &[(0, 2), (0, 3)],
    );
    assert_eq!(got, [none.clone(), fires.clone()]);
    // Globally (alerts.min_calls), for the rules without their own.
    let global = "min_calls: 25\nrules:\n  - { function: shop::pay, condition: error_rate > 5% }\n";
    assert_eq!(firing_after_each(global, &[(0, 24), (0, 25)]), [none.clone(), fires.clone()]);
    // An override wins over the rule's own and the global one.
    let overridden =
        "min_calls: 25\nrules:\n  - { function: shop::pay, condition: error_rate > 5%, min_calls: 3 }\n\
                      overrides:\n  - { name: pay_error_rate, min_calls: 1 }\n";
    assert_eq!(firing_after_each(overridden, &[(0, 0), (0, 1)]), [none, fires]);

    // What each rule ends up with: the macro's rules too.
    let rules = merged(
        "min_calls: 20\nrules:\n  - { function: shop::pay, condition: p99_latency > 200ms, min_calls: 3 }\n  \
         - { function: shop::pay, condition: max_latency > 1s }\noverrides:\n  - name: checkout_failing\n    \
         min_calls: 50\n",
    )
    .unwrap();
    let by = |n: &str| rules.iter().find(|r| r.name == n).unwrap();
    assert_eq!(by("checkout_failing").min_calls, Some(50), "#[alert_on], overridden");
    assert_eq!(by("checkout_p99_latency").min_calls, Some(20), "#[alert_on], alerts.min_calls");
    assert_eq!(by("pay_p99_latency").min_calls, Some(3));
    assert_eq!(by("pay_max_latency").min_calls_in_force(), None, "max_latency takes none");
    assert_eq!(by("refund_errors").min_calls_in_force(), None, "nor do counts");
    assert_eq!(
        by("checkout_failing").to_string(),
        "checkout_failing on alert_rules::checkout: error_rate > 5% over 5m, min_calls 50"
    );
    // Without the config: the default.
    let default = merge(telemark::alerts::rules(), &AlertsConfig::default(), None).unwrap();
    let failing = default.iter().find(|r| r.name == "checkout_failing").unwrap();
    assert_eq!(failing.min_calls, Some(telemark::alerts::DEFAULT_MIN_CALLS));
    assert_eq!(telemark::alerts::DEFAULT_MIN_CALLS, 10);
}

#[test]
fn min_calls_mistakes_are_config_errors_with_their_line() {
    assert_err(
        merged("rules:\n  - function: a::f\n    condition: errors > 1\n    min_calls: 5\n"),
        &["alerts.yaml:2: alerts.rules[0]: min_calls: `min_calls` applies to `error_rate` and the latency \
             quantiles `p50_latency` to `p99_latency`, not to `errors`"],
    );
    assert_err(
        merged("overrides:\n  - name: checkout_p99_latency\n    min_calls: 5\n  - name: refund_errors\n    min_calls: 5\n"),
        &["alerts.yaml:4: alerts.overrides[1]: min_calls for `refund_errors` (errors > 3): `min_calls` applies to"],
    );
    for (yaml, line, part) in [
        ("min_calls: 0\n", 1, "`min_calls` is at least 1"),
        (
            "rules:\n  - function: a::f\n    condition: error_rate > 1%\n    min_calls: 2.5\n",
            4,
            "not `2.5`: write `2` or `3`",
        ),
        (
            "rules:\n  - function: a::f\n    condition: error_rate > 1%\n    min_calls: -3\n",
            4,
            "cannot be negative, got `-3`",
        ),
        (
            "overrides:\n  - name: x\n    min_calls: lots\n",
            3,
            "write a whole number of at least 1, like `20`",
        ),
    ] {
        let e = AlertsConfig::from_yaml(yaml, "alerts.yaml").unwrap_err();
        assert!(e.contains(part), "`{part}` not in: {e}");
        assert!(e.starts_with(&format!("alerts.yaml:{line}:")), "line {line}: {e}");
    }
    // A config built in code is checked too.
    let mut cfg = AlertsConfig::default();
    cfg.min_calls = 0;
    assert_err(merge(Vec::new(), &cfg, None), &["alerts.min_calls: `min_calls` is at least 1"]);
}
