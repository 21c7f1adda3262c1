//! Alerts end to end, in process: a rule from the config is evaluated on telemark's thread over the
//! function's metrics; the alert goes pending, fires, reaches a custom channel and a real webhook
//! listener, shows in `alerts::active()`, and resolves when the errors stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::webhook::WebhookServer;
use telemark::alerts::{AlertState, Notification};
use telemark::{traced, Config};

/// telemark's pipeline is process-wide: these tests take turns.
static TURN: Mutex<()> = Mutex::new(());

static FAILING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[traced]
fn checkout(order: u32) -> Result<u32, String> {
    if FAILING.load(std::sync::atomic::Ordering::Relaxed) {
        Err(format!("payment for {order} declined"))
    } else {
        Ok(order)
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_error_rate_alert_fires_to_its_channels_and_resolves() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let hook = WebhookServer::start();
    let yaml = format!(
        r#"
exporters:
  console:
    enabled: false
alerts:
  evaluation_interval: 50ms
  group_wait: 0s
  group_interval: 100ms
  repeat_interval: 1h
  rules:
    - function: alerts::checkout
      condition: error_rate > 50%
      name: checkout_failing
      window: 400ms
      for: 100ms
      severity: critical
      notify: [test, hook]
      summary: "{{function}} fails {{value}} of calls (over {{threshold}})"
      labels:
        team: payments
  channels:
    hook:
      kind: webhook
      url: {url}
      secret: s3cret
"#,
        url = hook.url("/alerts")
    );
    let seen: Arc<Mutex<Vec<Notification>>> = Arc::default();
    let sink = seen.clone();
    let config = Config::from_yaml(&yaml, "alerts-test.yaml").unwrap().alert_handler(
        "test",
        move |n: &Notification| {
            sink.lock().unwrap().push(n.clone());
            Ok(())
        },
    );
    let guard = telemark::init(config).unwrap();
    let rules = telemark::alerts::rules();
    let rule = rules.iter().find(|r| r.name == "checkout_failing").expect("the config rule is in force");
    assert_eq!(rule.function, "alerts::checkout");

    // Healthy traffic: nothing fires.
    for i in 0..20 {
        checkout(i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(telemark::alerts::active().is_empty(), "{:?}", telemark::alerts::active());

    // Errors climb: pending, then firing (after `for`), then delivered.
    FAILING.store(true, std::sync::atomic::Ordering::Relaxed);
    let fail_until = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    wait_until("the firing notification", Duration::from_secs(10), || {
        let _ = checkout(n);
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
        seen.lock().unwrap().iter().any(|n| n.status == AlertState::Firing)
    });
    assert!(Instant::now() < fail_until);
    let firing = seen.lock().unwrap().iter().find(|n| n.status == AlertState::Firing).cloned().unwrap();
    let alert = &firing.alerts[0];
    assert_eq!(alert.labels.get("alertname").map(String::as_str), Some("checkout_failing"));
    assert_eq!(alert.labels.get("severity").map(String::as_str), Some("critical"));
    assert_eq!(alert.labels.get("team").map(String::as_str), Some("payments"));
    assert!(alert.value > 0.5, "{}", alert.value);
    let summary = alert.annotations.get("summary").unwrap();
    assert!(summary.starts_with("alerts::checkout fails ") && summary.ends_with("(over 50%)"), "{summary}");
    let active = telemark::alerts::active();
    assert!(active
        .iter()
        .any(|a| a.rule.name == "checkout_failing" && a.state == telemark::alerts::State::Firing));

    let req = hook.wait_for(Duration::from_secs(5), |r| r.json()["status"] == "firing").expect("webhook");
    assert!(req.header("x-telemark-signature").is_some_and(|s| s.starts_with("sha256=")));

    // Recovery: the error rate drops, the alert resolves, once.
    FAILING.store(false, std::sync::atomic::Ordering::Relaxed);
    wait_until("the resolved notification", Duration::from_secs(10), || {
        let _ = checkout(n);
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
        seen.lock().unwrap().iter().any(|n| n.status == AlertState::Resolved)
    });
    assert!(telemark::alerts::active().iter().all(|a| a.rule.name != "checkout_failing"));
    let firing_count = seen.lock().unwrap().iter().filter(|n| n.status == AlertState::Firing).count();
    assert_eq!(firing_count, 1, "one notification per change (repeat_interval is an hour)");
    hook.wait_for(Duration::from_secs(5), |r| r.json()["status"] == "resolved").expect("resolved webhook");
    drop(guard);
    let d = telemark::alerts::delivery();
    assert_eq!(d.failed + d.dropped + d.handler_panics, 0, "{d:?}");
    assert!(d.sent >= 4, "firing and resolved, to two channels: {d:?}");
}

#[test]
fn an_override_naming_no_rule_is_an_error() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let yaml = "alerts:\n  overrides:\n    - name: no_such_rule\n      disabled: true\n";
    let config = Config::from_yaml(yaml, "ops.yaml").unwrap();
    let err = telemark::init(config).unwrap_err().to_string();
    assert!(err.contains("no_such_rule"), "{err}");
    assert!(err.contains("ops.yaml"), "{err}");
}
