//! Alert delivery end to end on 127.0.0.1: the dispatcher (on a controlled clock: no test sleeps
//! through a group_wait) and its channels against a real webhook listener, a real SMTP server
//! (aiosmtpd) and a real Prometheus Alertmanager. Missing programs fail the test with what to
//! install (`.ci/run` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};
use support::alertmanager::Alertmanager;
use support::smtp::{SmtpServer, SMTP_PASSWORD, SMTP_USER};
use support::webhook::{Reply, WebhookServer};
use telemark_runtime::alerts::channels::{AlertmanagerChannel, EmailChannel, SmtpSettings, WebhookChannel};
use telemark_runtime::alerts::notify::{Alert, AlertState, DeliveryStats, DispatchSettings, Dispatcher};
use telemark_runtime::alerts::{Metric, Quantile, Severity};

const SETTINGS: DispatchSettings = DispatchSettings {
    group_wait: Duration::from_secs(30),
    group_interval: Duration::from_secs(300),
    repeat_interval: Duration::from_secs(4 * 3600),
};

fn alert(name: &str, function: &str, channel: &str) -> Alert {
    Alert {
        name: name.into(),
        function: function.into(),
        severity: Severity::Critical,
        labels: BTreeMap::from([
            ("alertname".into(), name.into()),
            ("function".into(), function.into()),
            ("severity".into(), "critical".into()),
            ("team".into(), "payments".into()),
        ]),
        annotations: BTreeMap::from([
            ("summary".into(), format!("{function}: p99 latency 312ms > 200ms")),
            ("description".into(), "over the last 5m\n.a line that starts with a dot".into()),
        ]),
        state: AlertState::Firing,
        metric: Metric::Latency(Quantile::P99),
        value: 0.312,
        starts_at: SystemTime::now() - Duration::from_secs(60),
        ends_at: None,
        channels: vec![channel.into()],
    }
}

fn resolve(a: &Alert) -> Alert {
    Alert { state: AlertState::Resolved, ends_at: Some(SystemTime::now()), ..a.clone() }
}

/// Polls the dispatcher's counters until `what` holds (or 10 s).
fn wait_stats(d: &Dispatcher, what: impl Fn(&DeliveryStats) -> bool) -> DeliveryStats {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = d.stats();
        if what(&s) || Instant::now() > end {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `f` and returns how long it took.
fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && s.ends_with('Z')
}

#[test]
fn webhook_v4_body_signature_retry_after_and_resolved() {
    let hook = WebhookServer::start();
    hook.script([Reply::unavailable_retry_after(1)]);
    let channel =
        WebhookChannel::new(&hook.url("/hooks/ops"), Some("topsecret".into()), Duration::from_secs(2), 3)
            .unwrap()
            .with_backoff(Duration::from_millis(10), Duration::from_secs(2))
            .with_external_url("http://dash.example");
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ops", Box::new(channel));

    let t0 = Instant::now();
    let a = alert("checkout_p99_latency", "shop::checkout", "ops");
    let b = alert("checkout_p99_latency", "shop::pay", "ops");
    d.update(std::slice::from_ref(&a), t0);
    d.tick(t0);
    d.update(&[a.clone(), b.clone()], t0 + Duration::from_secs(10));
    d.tick(t0 + Duration::from_secs(10));
    assert!(hook.requests().is_empty(), "nothing before group_wait");
    d.tick(t0 + SETTINGS.group_wait);

    // 503 with Retry-After: 1, then 200.
    let reqs = hook.wait_requests(2, Duration::from_secs(10));
    assert_eq!(reqs.len(), 2, "one retry after the 503");
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(900), "Retry-After: 1 honoured, waited {gap:?}");
    assert_eq!(reqs[0].body, reqs[1].body);
    let r = &reqs[1];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hooks/ops"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("x-telemark-signature").map(String::from),
        Some(format!("sha256={}", hmac_hex("topsecret", &r.body))),
        "HMAC-SHA256 of the body"
    );

    let v = r.json();
    assert_eq!(
        keys(&v),
        [
            "alerts",
            "commonAnnotations",
            "commonLabels",
            "externalURL",
            "groupKey",
            "groupLabels",
            "receiver",
            "status",
            "truncatedAlerts",
            "version"
        ]
    );
    assert_eq!(v["version"], "4");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["receiver"], "ops");
    assert_eq!(v["groupKey"], "ops:{alertname=\"checkout_p99_latency\"}");
    assert_eq!(v["externalURL"], "http://dash.example");
    assert_eq!(v["groupLabels"], serde_json::json!({"alertname": "checkout_p99_latency"}));
    assert_eq!(
        v["commonLabels"],
        serde_json::json!({"alertname": "checkout_p99_latency", "severity": "critical", "team": "payments"})
    );
    assert_eq!(
        v["commonAnnotations"],
        serde_json::json!({"description": "over the last 5m\n.a line that starts with a dot"})
    );
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "both alerts in one notification");
    for (got, want) in alerts.iter().zip([&a, &b]) {
        assert_eq!(
            keys(got),
            ["annotations", "endsAt", "fingerprint", "generatorURL", "labels", "startsAt", "status"]
        );
        assert_eq!(got["status"], "firing");
        assert_eq!(got["labels"]["function"], want.function.as_str());
        assert_eq!(got["annotations"]["summary"], want.annotations["summary"].as_str());
        assert_eq!(got["endsAt"], "0001-01-01T00:00:00Z");
        assert!(is_rfc3339(got["startsAt"].as_str().unwrap()), "{}", got["startsAt"]);
        assert_eq!(got["fingerprint"], want.fingerprint().as_str());
    }
    let s = wait_stats(&d, |s| s.sent == 1);
    assert_eq!((s.sent, s.failed, s.dropped), (1, 0, 0));

    // One resolves: one notification, at the group's next look.
    let t1 = t0 + SETTINGS.group_wait + Duration::from_secs(5);
    d.update(&[resolve(&a), b.clone()], t1);
    d.tick(t1);
    d.tick(t0 + SETTINGS.group_wait + SETTINGS.group_interval);
    let reqs = hook.wait_requests(3, Duration::from_secs(5));
    assert_eq!(reqs.len(), 3);
    let v = reqs[2].json();
    assert_eq!(v["status"], "firing", "shop::pay still fires");
    assert_eq!(v["alerts"][0]["status"], "resolved");
    assert_eq!(v["alerts"][0]["labels"]["function"], "shop::checkout");
    assert!(is_rfc3339(v["alerts"][0]["endsAt"].as_str().unwrap()));
    assert_ne!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(v["alerts"][1]["status"], "firing");
    d.shutdown(Instant::now() + Duration::from_secs(2));
}

#[test]
fn webhook_400_is_not_retried_and_counts_as_failed() {
    let hook = WebhookServer::start();
    hook.set_default(Reply::status(400));
    let channel = WebhookChannel::new(&hook.url("/"), None, Duration::from_secs(2), 3)
        .unwrap()
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5));
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ops", Box::new(channel));
    let t0 = Instant::now();
    d.update(&[alert("errors", "shop::checkout", "ops")], t0);
    d.tick(t0 + SETTINGS.group_wait);
    let s = wait_stats(&d, |s| s.failed == 1);
    assert_eq!((s.sent, s.failed), (0, 1));
    let err = s.channel("ops").and_then(|c| c.last_error.clone()).unwrap_or_default();
    assert!(err.contains("HTTP 400"), "{err}");
    assert!(hook.requests()[0].header("x-telemark-signature").is_none(), "no secret, no signature");
    assert_eq!(hook.wait_requests(2, Duration::from_millis(200)).len(), 1, "no retry on a 400");

    // 5xx are retried, up to max_retries.
    hook.set_default(Reply::status(502));
    d.update(&[alert("errors", "shop::pay", "ops")], t0 + SETTINGS.group_wait);
    d.tick(t0 + SETTINGS.group_wait + SETTINGS.group_interval);
    let s = wait_stats(&d, |s| s.failed == 2);
    assert_eq!(s.failed, 2);
    assert_eq!(hook.wait_requests(5, Duration::from_secs(5)).len(), 1 + 4, "first attempt + 3 retries");
    let err = s.channel("ops").and_then(|c| c.last_error.clone()).unwrap_or_default();
    assert!(err.contains("HTTP 502 (after 4 attempts)"), "{err}");
    d.shutdown(Instant::now() + Duration::from_secs(2));
}

#[test]
fn dead_and_silent_endpoints_cost_the_caller_nothing_and_are_counted() {
    // Nothing listens; and a listener that reads the request and never answers.
    let dead = support::dead_endpoint();
    let silent = WebhookServer::start();
    silent.set_default(Reply::Hang);
    let dead_channel = WebhookChannel::new(&format!("{dead}/hook"), None, Duration::from_millis(300), 1)
        .unwrap()
        .with_backoff(Duration::from_millis(2), Duration::from_millis(5));
    let silent_channel = WebhookChannel::new(&silent.url("/hook"), None, Duration::from_millis(300), 1)
        .unwrap()
        .with_backoff(Duration::from_millis(20), Duration::from_millis(50));
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("dead", Box::new(dead_channel));
    d.add_channel_with_capacity("silent", Box::new(silent_channel), 1);

    let t0 = Instant::now();
    let mut worst = Duration::ZERO;
    // Twenty evaluations, each with five distinct alerts for both channels.
    for i in 0..20u64 {
        let now = t0 + SETTINGS.group_wait * (i as u32);
        let alerts: Vec<Alert> = (0..5)
            .map(|k| {
                let mut a = alert(&format!("alert_{i}_{k}"), "shop::checkout", "dead");
                a.channels.push("silent".into());
                a
            })
            .collect();
        worst = worst.max(timed(|| {
            d.update(&alerts, now);
            d.tick(now);
        }));
    }
    // The silent one is stuck in a request now: the caller still pays nothing.
    silent.wait_requests(1, Duration::from_secs(5));
    for _ in 0..10 {
        worst = worst.max(timed(|| {
            let now = t0 + SETTINGS.group_wait * 40;
            d.update(&[alert("late", "shop::checkout", "silent")], now);
            d.tick(now + SETTINGS.group_wait);
            let _ = d.stats();
        }));
    }
    assert!(worst < Duration::from_millis(50), "update + tick took {worst:?} with dead channels");

    // Everything is accounted for: the silent channel's queue of one overflowed (dropped); what
    // was tried failed after its timeouts and retries.
    let s = wait_stats(&d, |s| s.queued == 0);
    let dead_s = s.channel("dead").cloned().unwrap();
    let silent_s = s.channel("silent").cloned().unwrap();
    assert_eq!(s.sent, 0, "{s:?}");
    assert_eq!(dead_s.failed + dead_s.dropped, 100, "{dead_s:?}");
    assert!(dead_s.failed >= 1);
    assert!(dead_s.last_error.as_deref().unwrap_or("").contains("could not connect"), "{dead_s:?}");
    assert_eq!(silent_s.failed + silent_s.dropped, 101, "{silent_s:?}");
    assert!(silent_s.dropped >= 90, "a queue of one: {silent_s:?}");
    assert!(silent_s.last_error.as_deref().unwrap_or("").contains("timed out"), "{silent_s:?}");
    assert_eq!(s.undelivered(), 100 + 101);

    // And shutdown does not wait past its deadline for them.
    let took = timed(|| {
        d.shutdown(Instant::now() + Duration::from_millis(100));
    });
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
}

#[test]
fn email_over_a_real_smtp_server() {
    let smtp = SmtpServer::start();
    let to = vec!["oncall@example.com".to_string(), "Payments Team <payments@example.com>".to_string()];
    let email = EmailChannel::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.port(),
        from: "Telemark <alerts@example.com>".into(),
        to: to.clone(),
        timeout: Duration::from_secs(5),
        ..SmtpSettings::default()
    })
    .unwrap();
    let authed = EmailChannel::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.port(),
        from: "alerts@example.com".into(),
        to: vec!["oncall@example.com".into()],
        username: Some(SMTP_USER.into()),
        password: Some(SMTP_PASSWORD.into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let bad_password = EmailChannel::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.port(),
        from: "alerts@example.com".into(),
        to: vec!["oncall@example.com".into()],
        username: Some(SMTP_USER.into()),
        password: Some("wrong".into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("mail", Box::new(email));
    d.add_channel("authed", Box::new(authed));
    d.add_channel("bad", Box::new(bad_password));
    let t0 = Instant::now();
    let a = alert("checkout_p99_latency", "shop::checkout", "mail");
    d.update(std::slice::from_ref(&a), t0);
    d.tick(t0 + SETTINGS.group_wait);

    let mails = smtp.wait_mails(1, Duration::from_secs(10));
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.mail_from, "alerts@example.com");
    assert_eq!(m.rcpt_tos, ["oncall@example.com", "payments@example.com"]);
    assert_eq!(m.login, None);
    assert_eq!(m.header("Subject").as_deref(), Some("[FIRING:1] checkout_p99_latency (critical)"));
    assert_eq!(m.header("From").as_deref(), Some("Telemark <alerts@example.com>"));
    assert_eq!(m.header("To").as_deref(), Some("oncall@example.com, Payments Team <payments@example.com>"));
    assert_eq!(m.header("Content-Type").as_deref(), Some("text/plain; charset=utf-8"));
    let date = m.header("Date").unwrap_or_default();
    assert!(date.ends_with(" +0000") && date.len() == 31, "{date}");
    let body = m.body();
    assert!(body.starts_with("[FIRING:1] checkout_p99_latency (critical)\r\n"), "{body}");
    assert!(body.contains("- firing checkout_p99_latency on shop::checkout  value=312ms"), "{body}");
    assert!(body.contains("summary: shop::checkout: p99 latency 312ms > 200ms"), "{body}");
    assert!(
        body.contains("\r\n.a line that starts with a dot\r\n"),
        "dot-stuffing undone by the server: {body}"
    );
    assert!(body.contains("labels: severity=critical team=payments"), "{body}");

    // Resolved: one more mail.
    d.update(&[resolve(&a)], t0 + SETTINGS.group_wait + Duration::from_secs(1));
    d.tick(t0 + SETTINGS.group_wait + SETTINGS.group_interval);
    let mails = smtp.wait_mails(2, Duration::from_secs(10));
    assert_eq!(mails[1].header("Subject").as_deref(), Some("[RESOLVED] checkout_p99_latency (critical)"));

    // AUTH PLAIN, and a wrong password counted as failed.
    let mut b = alert("errors", "shop::pay", "authed");
    b.channels.push("bad".into());
    d.update(&[b], t0);
    d.tick(t0 + SETTINGS.group_wait);
    let mails = smtp.wait_mails(3, Duration::from_secs(10));
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2].login.as_deref(), Some(SMTP_USER));
    assert_eq!(mails[2].rcpt_tos, ["oncall@example.com"]);
    let s = wait_stats(&d, |s| s.sent == 3 && s.failed == 1);
    assert_eq!((s.sent, s.failed), (3, 1), "{s:?}");
    let err = s.channel("bad").and_then(|c| c.last_error.clone()).unwrap_or_default();
    assert!(err.contains("AUTH PLAIN rejected: 535"), "{err}");
    assert!(!err.contains("wrong"), "no password in errors: {err}");
    d.shutdown(Instant::now() + Duration::from_secs(2));
}

#[test]
fn a_dead_smtp_server_is_counted_and_costs_nothing() {
    let dead = support::dead_endpoint();
    let port: u16 = dead.rsplit(':').next().unwrap().parse().unwrap();
    let email = EmailChannel::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        from: "alerts@example.com".into(),
        to: vec!["oncall@example.com".into()],
        timeout: Duration::from_millis(500),
        ..SmtpSettings::default()
    })
    .unwrap();
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("mail", Box::new(email));
    let t0 = Instant::now();
    let took = timed(|| {
        d.update(&[alert("errors", "shop::pay", "mail")], t0);
        d.tick(t0 + SETTINGS.group_wait);
    });
    assert!(took < Duration::from_millis(50), "{took:?}");
    let s = wait_stats(&d, |s| s.failed == 1);
    assert_eq!(s.failed, 1);
    assert!(s.channels[0].last_error.as_deref().unwrap_or("").contains("could not connect"), "{s:?}");
    d.shutdown(Instant::now() + Duration::from_secs(1));
}

#[test]
fn a_real_alertmanager_receives_groups_notifies_and_resolves() {
    let hook = WebhookServer::start();
    let am = Alertmanager::start(&hook.url("/from-alertmanager"), "200ms", "500ms");
    let channel = AlertmanagerChannel::new(&am.url(), Duration::from_secs(5)).unwrap();
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("am", Box::new(channel));

    let t0 = Instant::now();
    let a = alert("checkout_p99_latency", "shop::checkout", "am");
    d.update(std::slice::from_ref(&a), t0);
    // The alertmanager channel has no group_wait of its own: Alertmanager groups.
    assert_eq!(d.next_tick(), Some(t0));
    d.tick(t0);
    let s = wait_stats(&d, |s| s.sent == 1 || s.failed > 0);
    assert_eq!(s.sent, 1, "{s:?}\n{}", am.log());

    let listed =
        am.wait_alerts(Duration::from_secs(10), |v| v.iter().any(|x| x["status"]["state"] == "active"));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let got = &listed[0];
    assert_eq!(got["labels"], serde_json::json!(a.labels), "{got}");
    assert_eq!(got["annotations"]["summary"], a.annotations["summary"].as_str());
    assert_eq!(got["status"]["state"], "active");
    assert_eq!(got["fingerprint"], a.fingerprint().as_str(), "the same fingerprint as Alertmanager's");
    let ends = got["endsAt"].as_str().unwrap();
    assert!(ends > got["startsAt"].as_str().unwrap(), "endsAt ahead: {got}");

    // Alertmanager's own webhook (v4) reaches the listener after its group_wait.
    let note = hook
        .wait_for(Duration::from_secs(10), |r| r.json()["status"] == "firing")
        .unwrap_or_else(|| panic!("no firing notification from Alertmanager\n{}", am.log()));
    let v = note.json();
    assert_eq!(v["version"], "4");
    assert_eq!(v["alerts"][0]["labels"]["alertname"], "checkout_p99_latency");
    assert_eq!(v["alerts"][0]["fingerprint"], a.fingerprint().as_str());
    // Our webhook body has Alertmanager's shape: the same keys at both levels.
    let ours: serde_json::Value = {
        let w = WebhookChannel::new("http://127.0.0.1:1/", None, Duration::from_secs(1), 0).unwrap();
        let n = telemark_runtime::alerts::notify::Notification::new(
            "test",
            "checkout_p99_latency",
            vec![a.clone()],
        );
        serde_json::from_str(&w.body(&n)).unwrap()
    };
    assert_eq!(keys(&ours), keys(&v), "top-level keys, ours vs Alertmanager's");
    assert_eq!(keys(&ours["alerts"][0]), keys(&v["alerts"][0]), "alert keys, ours vs Alertmanager's");
    assert_eq!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z", "as ours writes a firing alert's endsAt");

    // Resolve: sent at once with endsAt in the past; Alertmanager drops it from its active alerts
    // and notifies the resolution.
    let t1 = t0 + Duration::from_secs(15);
    d.update(&[resolve(&a)], t1);
    d.tick(t1);
    let s = wait_stats(&d, |s| s.sent == 2 || s.failed > 0);
    assert_eq!(s.sent, 2, "{s:?}");
    let left = am.wait_alerts(Duration::from_secs(10), |v| v.is_empty());
    assert_eq!(left, serde_json::json!([]), "the resolved alert is gone");
    let resolved = hook.wait_for(Duration::from_secs(10), |r| r.json()["status"] == "resolved");
    assert!(resolved.is_some(), "no resolved notification from Alertmanager\n{}", am.log());
    d.shutdown(Instant::now() + Duration::from_secs(2));
}

/// `shop::pay` after `step` evaluations: 10 calls a step, `failed` of them failed in all.
fn pay(step: u64, failed: u64) -> telemark::metrics::FunctionMetrics {
    telemark::metrics::FunctionMetrics {
        function: "shop::pay",
        module: "shop",
        calls: [10 * step - failed, failed, 0],
        buckets: [0; telemark::metrics::BUCKETS],
        sum: Duration::ZERO,
        exceptions: 0,
    }
}

#[test]
fn resolved_notifications_carry_the_value_that_resolved_the_alert_to_every_receiver() {
    use telemark_runtime::alerts::eval::Evaluator;
    use telemark_runtime::alerts::RuleConfig;
    // The evaluator on a controlled clock (every 15 s) → Transition::to_alert → the dispatcher →
    // a webhook listener, aiosmtpd and Alertmanager (whose own webhook reports the resolution).
    let hook = WebhookServer::start();
    let smtp = SmtpServer::start();
    let am_hook = WebhookServer::start();
    let am = Alertmanager::start(&am_hook.url("/from-alertmanager"), "100ms", "200ms");
    let rule = RuleConfig {
        function: "shop::pay".into(),
        condition: "error_rate > 20%".into(),
        window: Some(Duration::from_secs(60)),
        summary: Some("{function} fails {value} of payments (threshold {threshold})".into()),
        notify: Some(vec!["hook".into(), "mail".into(), "am".into()]),
        ..Default::default()
    }
    .to_rule(None)
    .unwrap();
    let mut d = Dispatcher::new(DispatchSettings {
        group_wait: Duration::ZERO,
        group_interval: Duration::ZERO,
        repeat_interval: Duration::from_secs(4 * 3600),
    });
    d.add_channel(
        "hook",
        Box::new(WebhookChannel::new(&hook.url("/"), None, Duration::from_secs(2), 0).unwrap()),
    );
    d.add_channel(
        "mail",
        Box::new(
            EmailChannel::new(SmtpSettings {
                host: "127.0.0.1".into(),
                port: smtp.port(),
                from: "alerts@example.com".into(),
                to: vec!["oncall@example.com".into()],
                timeout: Duration::from_secs(5),
                ..SmtpSettings::default()
            })
            .unwrap(),
        ),
    );
    d.add_channel("am", Box::new(AlertmanagerChannel::new(&am.url(), Duration::from_secs(5)).unwrap()));
    let mut e = Evaluator::new(vec![rule]);
    let t0 = Instant::now();
    let w0 = SystemTime::now() - Duration::from_secs(200);
    let mut step = |s: u64| {
        let at = Duration::from_secs(15 * s);
        // 3 of 10 calls fail from step 1 to 4, then none: over the 60 s window 30% (fires), 22.5%
        // at step 5 (still firing), 15% at step 6 (resolved).
        let alerts: Vec<Alert> =
            e.evaluate(t0 + at, w0 + at, &[pay(s, 3 * s.min(4))], &[]).iter().map(|t| t.to_alert()).collect();
        d.update(&alerts, t0 + at);
        d.tick(t0 + at);
        alerts.len()
    };
    for s in 0..=5 {
        step(s);
    }
    let firing = "shop::pay fails 30% of payments (threshold 20%)";
    let got =
        hook.wait_for(Duration::from_secs(10), |r| r.json()["status"] == "firing").expect("firing webhook");
    assert_eq!(got.json()["alerts"][0]["annotations"]["summary"], firing);
    assert!(smtp.wait_mails(1, Duration::from_secs(10))[0].body().contains(firing));
    let from_am = am_hook
        .wait_for(Duration::from_secs(10), |r| r.json()["status"] == "firing")
        .unwrap_or_else(|| panic!("no firing notification from Alertmanager\n{}", am.log()));
    assert_eq!(from_am.json()["alerts"][0]["annotations"]["summary"], firing);

    assert_eq!(step(6), 1, "resolved at step 6");
    let resolved = "shop::pay fails 15% of payments (threshold 20%)";
    let got = hook
        .wait_for(Duration::from_secs(10), |r| r.json()["status"] == "resolved")
        .expect("resolved webhook");
    let v = got.json();
    assert_eq!(v["alerts"][0]["status"], "resolved");
    assert_eq!(v["alerts"][0]["annotations"]["summary"], resolved);
    assert_eq!(v["commonAnnotations"]["summary"], resolved);
    let mails = smtp.wait_mails(2, Duration::from_secs(10));
    assert_eq!(mails.len(), 2);
    let body = mails[1].body();
    assert_eq!(mails[1].header("Subject").as_deref(), Some("[RESOLVED] pay_error_rate (warning)"));
    assert!(body.contains("- resolved pay_error_rate on shop::pay  value=15%  since "), "{body}");
    assert!(body.contains(&format!("summary: {resolved}")), "{body}");
    assert!(!body.contains("22.5") && !body.contains("30%"), "a value for which it fired: {body}");
    let from_am = am_hook
        .wait_for(Duration::from_secs(10), |r| r.json()["status"] == "resolved")
        .unwrap_or_else(|| panic!("no resolved notification from Alertmanager\n{}", am.log()));
    assert_eq!(from_am.json()["alerts"][0]["annotations"]["summary"], resolved, "Alertmanager keeps ours");
    let s = d.shutdown(Instant::now() + Duration::from_secs(5));
    let sent = |c: &str| s.channel(c).map(|c| c.sent);
    assert_eq!((sent("hook"), sent("mail"), s.undelivered()), (Some(2), Some(2), 0), "{s:?}");
}
