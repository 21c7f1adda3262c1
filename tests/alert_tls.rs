//! TLS for the alert channels, end to end on 127.0.0.1 with a CA made at test time
//! (`support::tls::TestPki`): the webhook and Alertmanager channels over `https://` to a TLS front
//! (`support::tls::TlsFront`) before the webhook listener, and the email channel with STARTTLS and
//! implicit TLS against aiosmtpd presenting the test server certificate.
//!
//! What each test asserts is what the servers received (the listener's requests, aiosmtpd's
//! messages, whether its session was TLS when the client authenticated) and what the channel
//! reported (`last_error`). A failure that must send nothing is shown by the front's own record of
//! the failed handshake — the front forwards a connection only once its handshake is through and
//! data came — and by a good delivery to the same server afterwards, after which that one is all
//! the server ever got. Nothing waits on a clock: the dispatcher is driven on a controlled one and
//! read after `Dispatcher::settle`, the servers through their own events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};
use support::smtp::{ServerTls, SmtpServer, SMTP_PASSWORD, SMTP_USER};
use support::tls::{addr_of, TestPki, TlsFront};
use support::webhook::{python_verify, WebhookServer};
use telemark::alerts::channels::{AlertmanagerChannel, EmailChannel, SmtpSettings, TlsFiles, WebhookChannel};
use telemark::alerts::notify::{
    Alert, AlertHandler, AlertState, DeliveryStats, DispatchSettings, Dispatcher,
};
use telemark::alerts::{AlertsConfig, Metric, Quantile, Severity, SmtpTls};

const SETTINGS: DispatchSettings = DispatchSettings {
    group_wait: Duration::from_secs(30),
    group_interval: Duration::from_secs(300),
    repeat_interval: Duration::from_secs(4 * 3600),
};

/// The webhook tests' secret, in the Standard Webhooks form (32 bytes).
const SECRET: &str = "whsec_Ly8wk0BSx+30Uq1w51qpLVzHhhmzZE+xR+wzprtgAGM=";

fn alert(name: &str, channel: &str) -> Alert {
    Alert {
        name: name.into(),
        function: "shop::checkout".into(),
        severity: Severity::Critical,
        labels: BTreeMap::from([
            ("alertname".into(), name.into()),
            ("function".into(), "shop::checkout".into()),
            ("severity".into(), "critical".into()),
        ]),
        annotations: BTreeMap::from([("summary".into(), "p99 latency 312ms > 200ms".into())]),
        state: AlertState::Firing,
        metric: Metric::Latency(Quantile::P99),
        value: 0.312,
        starts_at: SystemTime::now() - Duration::from_secs(60),
        ends_at: None,
        channels: vec![channel.into()],
    }
}

use telemark_tests::Pauses;

/// Delivers one notification of `name` through `handler` (the dispatcher on a controlled clock)
/// and returns the counters once the channel is through with it.
fn deliver(handler: Box<dyn AlertHandler>, name: &str) -> DeliveryStats {
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ch", handler);
    let t0 = Instant::now();
    d.update(&[alert(name, "ch")], t0);
    d.tick(t0 + SETTINGS.group_wait);
    assert!(d.settle(support::WAIT), "the channel is stuck: {:?}", d.stats());
    d.shutdown(Instant::now() + support::WAIT)
}

fn last_error(s: &DeliveryStats) -> String {
    s.channel("ch").and_then(|c| c.last_error.clone()).unwrap_or_default()
}

fn ca(pki: &TestPki) -> TlsFiles {
    TlsFiles { ca: Some(pki.ca.clone()), ..TlsFiles::default() }
}

fn with_client_cert(pki: &TestPki) -> TlsFiles {
    TlsFiles {
        ca: Some(pki.ca.clone()),
        client_certificate: Some(pki.client_cert.clone()),
        client_key: Some(pki.client_key.clone()),
    }
}

fn webhook(url: &str, files: &TlsFiles, pauses: &Pauses) -> Box<WebhookChannel> {
    Box::new(
        WebhookChannel::new(url, Some(SECRET.into()), support::WAIT, 3)
            .unwrap()
            .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
            .with_sleep(pauses.sleep())
            .with_tls(files)
            .unwrap(),
    )
}

#[test]
fn webhook_over_https_with_the_right_ca_delivers_the_signed_body() {
    let pki = TestPki::new();
    let hook = WebhookServer::start();
    let front = TlsFront::start(addr_of(&hook.url("")), pki.server_config(false, false));
    let pauses = Pauses::default();
    let url = format!("{}/hooks/ops", front.url());
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let s = deliver(webhook(&url, &ca(&pki), &pauses), "checkout_p99_latency");
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    let reqs = hook.wait_requests(1);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hooks/ops"));
    assert_eq!(r.header("host"), Some(format!("127.0.0.1:{}", front.port()).as_str()));
    let v = r.json();
    assert_eq!(v["version"], "4");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["alerts"][0]["labels"]["alertname"], "checkout_p99_latency");
    assert_eq!(python_verify(SECRET, &r.signed(), None), Ok(()), "the signature the listener got");
    assert_eq!((front.handshakes(), front.failures().len()), (1, 0));
    assert!(pauses.taken().is_empty());
}

#[test]
fn tls_failures_send_nothing_are_not_retried_and_name_the_cause() {
    let pki = TestPki::new();
    let hook = WebhookServer::start();
    let target = addr_of(&hook.url(""));
    let other_ca = TlsFiles { ca: Some(pki.other_ca.clone()), ..TlsFiles::default() };
    // (the front's configuration: client certificate required, expired certificate; the
    // channel's TLS files; what its error must say)
    let cases: [(&str, bool, bool, TlsFiles, &str); 3] = [
        ("wrong CA", false, false, other_ca, "not signed by a CA this channel trusts"),
        ("expired certificate", false, true, ca(&pki), "the server's certificate has expired"),
        ("mTLS without a client certificate", true, false, ca(&pki), "requires a client certificate"),
    ];
    for (what, client_auth, expired, files, cause) in cases {
        let front = TlsFront::start(target, pki.server_config(client_auth, expired));
        let pauses = Pauses::default();
        // (A path of one segment: the error shows the URL as it is; deeper ones are redacted.)
        let url = format!("{}/ops", front.url());
        let s = deliver(webhook(&url, &files, &pauses), "errors");
        assert_eq!((s.sent, s.failed), (0, 1), "{what}: {s:?}");
        let err = last_error(&s);
        assert!(
            err.starts_with(&format!("webhook {url}: TLS: 127.0.0.1:{}: ", front.port())),
            "{what}: {err}"
        );
        assert!(err.contains(cause), "{what}: {err}");
        assert!(!err.contains("attempts"), "{what}: said once: {err}");
        assert!(pauses.taken().is_empty(), "{what}: not retried: {:?}", pauses.taken());
        // The front saw the handshake fail (and forwards nothing of a connection that failed);
        // it was the only connection.
        assert!(front.wait_failure_after(0).is_some(), "{what}: the front saw no failure");
        assert_eq!((front.handshakes(), front.failures().len()), (0, 1), "{what}: {:?}", front.failures());
    }
    // The listener behind the fronts: nothing from any of them. A good delivery through a front
    // now is the first and only request it gets.
    let front = TlsFront::start(target, pki.server_config(false, false));
    let s = deliver(webhook(&format!("{}/good", front.url()), &ca(&pki), &Pauses::default()), "ok");
    assert_eq!(s.sent, 1, "{s:?}");
    let reqs = hook.wait_requests(1);
    assert_eq!(reqs.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/good"]);
}

#[test]
fn mutual_tls_with_the_client_certificate_delivers() {
    let pki = TestPki::new();
    let hook = WebhookServer::start();
    let front = TlsFront::start(addr_of(&hook.url("")), pki.server_config(true, false));
    let url = format!("{}/mtls", front.url());
    let s = deliver(webhook(&url, &with_client_cert(&pki), &Pauses::default()), "mtls");
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    let reqs = hook.wait_requests(1);
    assert_eq!((reqs.len(), reqs[0].path.as_str()), (1, "/mtls"));
    assert_eq!(reqs[0].json()["alerts"][0]["labels"]["alertname"], "mtls");
    assert_eq!(python_verify(SECRET, &reqs[0].signed(), None), Ok(()));
    assert_eq!((front.handshakes(), front.failures().len()), (1, 0));
}

#[test]
fn alertmanager_over_https_with_mutual_tls() {
    let pki = TestPki::new();
    let am = WebhookServer::start();
    let front = TlsFront::start(addr_of(&am.url("")), pki.server_config(true, false));
    let channel = AlertmanagerChannel::new(&front.url(), support::WAIT)
        .unwrap()
        .with_retries(2, Duration::from_millis(1), Duration::from_millis(5))
        .with_tls(&with_client_cert(&pki))
        .unwrap();
    assert_eq!(channel.url(), format!("{}/api/v2/alerts", front.url()));
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ch", Box::new(channel));
    let t0 = Instant::now();
    d.update(&[alert("slow", "ch")], t0);
    d.tick(t0);
    assert!(d.settle(support::WAIT));
    let s = d.shutdown(Instant::now() + support::WAIT);
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    let reqs = am.wait_requests(1);
    assert_eq!((reqs.len(), reqs[0].path.as_str()), (1, "/api/v2/alerts"));
    let v = reqs[0].json();
    assert_eq!(v[0]["labels"]["alertname"], "slow");
    assert_eq!(v[0]["annotations"]["summary"], "p99 latency 312ms > 200ms");

    // Without the client certificate: nothing arrives, the cause is reported.
    let front = TlsFront::start(addr_of(&am.url("")), pki.server_config(true, false));
    let channel = AlertmanagerChannel::new(&front.url(), support::WAIT)
        .unwrap()
        .with_retries(2, Duration::from_millis(1), Duration::from_millis(5))
        .with_tls(&ca(&pki))
        .unwrap();
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ch", Box::new(channel));
    d.update(&[alert("slow", "ch")], t0);
    d.tick(t0);
    assert!(d.settle(support::WAIT));
    let s = d.shutdown(Instant::now() + support::WAIT);
    assert_eq!((s.sent, s.failed), (0, 1), "{s:?}");
    let err = last_error(&s);
    assert!(err.starts_with(&format!("alertmanager {}/api/v2/alerts: TLS: ", front.url())), "{err}");
    assert!(err.contains("requires a client certificate"), "{err}");
    assert!(front.wait_failure_after(0).is_some());
    assert_eq!((front.handshakes(), front.failures().len()), (0, 1));
    assert_eq!(am.requests().len(), 1, "only the first delivery");
}

#[test]
fn a_real_alertmanager_behind_tls_gets_the_alert() {
    let pki = TestPki::new();
    let hook = WebhookServer::start();
    let am = support::alertmanager::Alertmanager::start(&hook.url("/from-alertmanager"), "1h", "1h");
    let front = TlsFront::start(addr_of(&am.url()), pki.server_config(false, false));
    let channel = AlertmanagerChannel::new(&front.url(), support::WAIT).unwrap().with_tls(&ca(&pki)).unwrap();
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ch", Box::new(channel));
    let t0 = Instant::now();
    d.update(&[alert("tls_am", "ch")], t0);
    d.tick(t0);
    assert!(d.settle(support::WAIT));
    let s = d.shutdown(Instant::now() + support::WAIT);
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}\n{}", am.log());
    let listed = am.wait_alerts("the alert active in Alertmanager", |v| {
        v.iter().any(|x| x["labels"]["alertname"] == "tls_am")
    });
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["annotations"]["summary"], "p99 latency 312ms > 200ms");
    assert_eq!((front.handshakes(), front.failures().len()), (1, 0));
}

fn email(port: u16, tls: SmtpTls, files: TlsFiles, auth: bool) -> Box<EmailChannel> {
    Box::new(
        EmailChannel::new(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            from: "Telemark <alerts@example.com>".into(),
            to: vec!["oncall@example.com".into()],
            username: auth.then(|| SMTP_USER.into()),
            password: auth.then(|| SMTP_PASSWORD.into()),
            timeout: support::WAIT,
            tls,
            tls_files: files,
            allow_insecure_auth: false,
        })
        .unwrap(),
    )
}

#[test]
fn email_with_starttls_authenticates_only_after_tls() {
    let pki = TestPki::new();
    let smtp = SmtpServer::start_tls(ServerTls::StartTls, &pki);
    let s = deliver(email(smtp.port(), SmtpTls::StartTls, ca(&pki), true), "checkout_p99_latency");
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    let mails = smtp.wait_mails(1);
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.login.as_deref(), Some(SMTP_USER));
    assert_eq!(m.auth_tls, Some(true), "AUTH over TLS");
    assert!(m.tls, "the message over TLS");
    assert_eq!(m.mail_from, "alerts@example.com");
    assert_eq!(m.rcpt_tos, ["oncall@example.com"]);
    assert_eq!(m.header("Subject").as_deref(), Some("[FIRING:1] checkout_p99_latency (critical)"));

    // The wrong CA: the handshake fails, nothing more is sent, the cause is reported; the next
    // good mail is the second and last the server gets.
    let other_ca = TlsFiles { ca: Some(pki.other_ca.clone()), ..TlsFiles::default() };
    let s = deliver(email(smtp.port(), SmtpTls::StartTls, other_ca, true), "wrong_ca");
    assert_eq!((s.sent, s.failed), (0, 1), "{s:?}");
    let err = last_error(&s);
    assert!(err.starts_with(&format!("SMTP 127.0.0.1:{}: TLS handshake failed: ", smtp.port())), "{err}");
    assert!(err.contains("not signed by a CA this channel trusts"), "{err}");
    assert!(!err.contains(SMTP_PASSWORD), "{err}");
    let s = deliver(email(smtp.port(), SmtpTls::StartTls, ca(&pki), false), "after");
    assert_eq!(s.sent, 1, "{s:?}");
    let mails = smtp.wait_mails(2);
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].header("Subject").as_deref(), Some("[FIRING:1] after (critical)"));
    assert_eq!((mails[1].login.as_deref(), mails[1].tls), (None, true));
}

#[test]
fn email_with_implicit_tls_delivers() {
    let pki = TestPki::new();
    let smtp = SmtpServer::start_tls(ServerTls::Implicit, &pki);
    let s = deliver(email(smtp.port(), SmtpTls::Implicit, ca(&pki), true), "implicit");
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    let mails = smtp.wait_mails(1);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].login.as_deref(), Some(SMTP_USER));
    assert_eq!((mails[0].auth_tls, mails[0].tls), (Some(true), true));
    assert_eq!(mails[0].header("Subject").as_deref(), Some("[FIRING:1] implicit (critical)"));
}

#[test]
fn starttls_required_and_not_offered_sends_nothing() {
    // A plain server, which offers no STARTTLS: the channel stops after EHLO. Then a mail sent
    // in clear on purpose (`tls: none`, no AUTH) is the only one the server ever gets.
    let pki = TestPki::new();
    let smtp = SmtpServer::start();
    let s = deliver(email(smtp.port(), SmtpTls::StartTls, ca(&pki), true), "refused");
    assert_eq!((s.sent, s.failed), (0, 1), "{s:?}");
    let err = last_error(&s);
    assert!(err.contains("does not offer STARTTLS") && err.contains("nothing was sent"), "{err}");
    let s = deliver(email(smtp.port(), SmtpTls::None, TlsFiles::default(), false), "plain");
    assert_eq!(s.sent, 1, "{s:?}");
    let mails = smtp.wait_mails(1);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].header("Subject").as_deref(), Some("[FIRING:1] plain (critical)"));
    assert_eq!((mails[0].login.as_deref(), mails[0].tls), (None, false));
}

#[test]
fn the_config_reads_the_tls_keys_and_refuses_auth_in_clear() {
    let pki = TestPki::new();
    let yaml = format!(
        "channels:\n  hook:\n    kind: webhook\n    url: https://hooks.example.com/x\n    certificate: {ca}\n    \
         client_certificate: {cert}\n    client_key: {key}\n  mail:\n    kind: email\n    host: smtp.example.com\n    \
         from: a@example.com\n    to: [b@example.com]\n    tls: implicit\n    certificate: {ca}\n",
        ca = pki.ca.display(),
        cert = pki.client_cert.display(),
        key = pki.client_key.display(),
    );
    let cfg = AlertsConfig::from_yaml(&yaml, "alerts.yaml").unwrap();
    assert_eq!(cfg.channels["hook"].tls_files(), with_client_cert(&pki));
    assert_eq!((cfg.channels["mail"].smtp_tls(), cfg.channels["mail"].port()), (SmtpTls::Implicit, 465));

    // A missing file: the file, the line and the key.
    let missing = pki.dir().join("missing.pem");
    let e = AlertsConfig::from_yaml(
        &yaml.replace(&pki.client_key.display().to_string(), &missing.display().to_string()),
        "alerts.yaml",
    )
    .unwrap_err();
    assert!(e.starts_with("alerts.yaml:3:5: key `channels.hook`: client_key: client key `"), "{e}");
    assert!(e.contains("missing.pem"), "{e}");
    // Not a certificate.
    let e = AlertsConfig::from_yaml(
        &yaml.replace(&pki.ca.display().to_string(), &pki.client_key.display().to_string()),
        "alerts.yaml",
    )
    .unwrap_err();
    assert!(e.contains("certificate: CA certificate `") && e.contains("no PEM certificate"), "{e}");

    // AUTH with `tls: none`: refused at config time, saying why and how to allow it.
    let plain = "channels:\n  mail:\n    kind: email\n    host: 127.0.0.1\n    from: a@example.com\n    to: [b@example.com]\n    \
                 tls: none\n    username: alerts\n    password: s3cret\n";
    let e = AlertsConfig::from_yaml(plain, "alerts.yaml").unwrap_err();
    assert!(e.starts_with("alerts.yaml:3:5: key `channels.mail`: "), "{e}");
    assert!(e.contains("in clear text") && e.contains("allow_insecure_auth: true"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    let allowed =
        AlertsConfig::from_yaml(&format!("{plain}    allow_insecure_auth: true\n"), "alerts.yaml").unwrap();
    assert_eq!(allowed.channels["mail"].port(), 25);
}
