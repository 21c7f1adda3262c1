//! Alerts end to end, in process: a rule from the config is evaluated on telemark's thread over the
//! function's metrics; the alert goes pending, fires, reaches a custom channel and a real webhook
//! listener (and another behind mutual TLS, configured by the channel's certificate keys), shows in
//! `alerts::active()`, and resolves when the errors stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::sync::{Arc, Condvar, Mutex};
use support::tls::{addr_of, TestPki, TlsFront};
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

/// The notifications a custom channel got, and a way to wait for the next ones.
#[derive(Clone, Default)]
struct Seen(Arc<(Mutex<Vec<Notification>>, Condvar)>);

impl Seen {
    fn push(&self, n: &Notification) {
        self.0 .0.lock().unwrap().push(n.clone());
        self.0 .1.notify_all();
    }

    /// Waits (at most `support::WAIT`) until a notification with `status` arrived; returns it.
    fn wait(&self, status: AlertState) -> Notification {
        let (list, cv) = &*self.0;
        let g = list.lock().unwrap();
        let (g, _) =
            cv.wait_timeout_while(g, support::WAIT, |l| !l.iter().any(|n| n.status == status)).unwrap();
        g.iter().find(|n| n.status == status).cloned().unwrap_or_else(|| panic!("no {status:?} notification"))
    }

    fn count(&self, status: AlertState) -> usize {
        self.0 .0.lock().unwrap().iter().filter(|n| n.status == status).count()
    }
}

#[test]
fn an_error_rate_alert_fires_to_its_channels_and_resolves() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let hook = WebhookServer::start();
    // And another listener behind TLS that requires a client certificate: the config's
    // `certificate`, `client_certificate` and `client_key` reach the channel.
    let pki = TestPki::new();
    let secure = WebhookServer::start();
    let front = TlsFront::start(addr_of(&secure.url("")), pki.server_config(true, false));
    // Evaluated when `alerts::active()` asks (it evaluates what was recorded before the call), over
    // a window longer than the test: what fires depends on the calls made, not on the clock. A
    // group's next notification (the resolution) goes out a `group_interval` after the last.
    let yaml = format!(
        r#"
exporters:
  console:
    enabled: false
alerts:
  evaluation_interval: 1h
  group_wait: 0s
  group_interval: 1ms
  repeat_interval: 1h
  rules:
    - function: alerts::checkout
      condition: error_rate > 50%
      name: checkout_failing
      window: 1h
      min_calls: 20
      severity: critical
      notify: [test, hook, secure]
      summary: "{{function}} fails {{value}} of calls (over {{threshold}})"
      labels:
        team: payments
  channels:
    hook:
      kind: webhook
      url: {url}
      secret: whsec_Ly8wk0BSx+30Uq1w51qpLVzHhhmzZE+xR+wzprtgAGM=
    secure:
      kind: webhook
      url: {secure_url}
      certificate: {ca}
      client_certificate: {cert}
      client_key: {key}
"#,
        url = hook.url("/alerts"),
        secure_url = front.url() + "/alerts",
        ca = pki.ca.display(),
        cert = pki.client_cert.display(),
        key = pki.client_key.display(),
    );
    let seen = Seen::default();
    let sink = seen.clone();
    let config = Config::from_yaml(&yaml, "alerts-test.yaml").unwrap().alert_handler(
        "test",
        move |n: &Notification| {
            sink.push(n);
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
    assert!(telemark::alerts::active().is_empty(), "{:?}", telemark::alerts::active());

    // Errors climb past half of the calls: it fires and is delivered.
    FAILING.store(true, std::sync::atomic::Ordering::Relaxed);
    for i in 0..40 {
        assert!(checkout(i).is_err());
    }
    let active = telemark::alerts::active();
    let a = active.iter().find(|a| a.rule.name == "checkout_failing").expect("active");
    assert_eq!(a.state, telemark::alerts::State::Firing);
    assert!((a.value - 40.0 / 60.0).abs() < 1e-9, "{}", a.value);
    let firing = seen.wait(AlertState::Firing);
    let alert = &firing.alerts[0];
    assert_eq!(alert.labels.get("alertname").map(String::as_str), Some("checkout_failing"));
    assert_eq!(alert.labels.get("severity").map(String::as_str), Some("critical"));
    assert_eq!(alert.labels.get("team").map(String::as_str), Some("payments"));
    assert_eq!(
        alert.annotations.get("summary").unwrap(),
        "alerts::checkout fails 66.667% of calls (over 50%)"
    );
    let req = hook.wait_for(|r| r.json()["status"] == "firing").expect("webhook");
    let secret = "whsec_Ly8wk0BSx+30Uq1w51qpLVzHhhmzZE+xR+wzprtgAGM=";
    assert_eq!(
        support::webhook::python_verify(secret, &req.signed(), None),
        Ok(()),
        "signed from the config"
    );

    // Recovery: the error rate drops to 40 of 160 calls, the alert resolves, once, with that value.
    FAILING.store(false, std::sync::atomic::Ordering::Relaxed);
    for i in 0..100 {
        checkout(i).unwrap();
    }
    assert!(telemark::alerts::active().iter().all(|a| a.rule.name != "checkout_failing"));
    let resolved = seen.wait(AlertState::Resolved);
    assert_eq!(
        resolved.alerts[0].annotations.get("summary").unwrap(),
        "alerts::checkout fails 25% of calls (over 50%)"
    );
    hook.wait_for(|r| r.json()["status"] == "resolved").expect("resolved webhook");
    // The same over mutual TLS, from the config.
    secure.wait_for(|r| r.json()["status"] == "firing").expect("firing webhook over TLS");
    secure.wait_for(|r| r.json()["status"] == "resolved").expect("resolved webhook over TLS");
    assert_eq!((front.handshakes(), front.failures().len()), (2, 0), "{:?}", front.failures());
    drop(guard);
    assert_eq!(seen.count(AlertState::Firing), 1, "one notification per change");
    assert_eq!(seen.count(AlertState::Resolved), 1);
    let d = telemark::alerts::delivery();
    assert_eq!(d.failed + d.dropped + d.handler_panics, 0, "{d:?}");
    assert_eq!(d.sent, 6, "firing and resolved, to three channels: {d:?}");
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
