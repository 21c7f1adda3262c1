//! Alert delivery end to end on 127.0.0.1: the dispatcher (on a controlled clock: no test sleeps
//! through a group_wait) and its channels against a real webhook listener, a real SMTP server
//! (aiosmtpd) and a real Prometheus Alertmanager. Missing programs fail the test with what to
//! install (`.ci/run` installs them).
//!
//! Nothing here depends on timing. What the channels did is read after `Dispatcher::settle` (every
//! channel is through what was queued), what a server got through its own event; the pauses
//! between retries are recorded, not spent; and "the caller does not wait for a stuck channel" is
//! shown by what returns while a server the test controls still holds the channel's request.
//! Timeouts are failure bounds ([`support::WAIT`]), except the 300 ms of a channel whose server
//! never answers — it times out whenever that is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};
use support::alertmanager::Alertmanager;
use support::smtp::{SmtpServer, SMTP_PASSWORD, SMTP_USER};
use support::webhook::{python_verify, Reply, WebhookServer};
use telemark::alerts::channels::{AlertmanagerChannel, EmailChannel, SmtpSettings, WebhookChannel};
use telemark::alerts::notify::{Alert, AlertState, DeliveryStats, DispatchSettings, Dispatcher};
use telemark::alerts::{Metric, Quantile, Severity, SmtpTls};

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

/// The counters once every channel is through what was queued before the call (the dispatcher's
/// flush barrier; the test fails when a channel is stuck for [`support::WAIT`]).
fn settled(d: &Dispatcher) -> DeliveryStats {
    assert!(d.settle(support::WAIT), "a channel is stuck: {:?}", d.stats());
    d.stats()
}

/// Runs `f` on a thread of its own and returns its result; fails the test when `f` has not returned
/// within [`support::WAIT`]. For calls that must not wait for a channel the test holds: waiting
/// shows as a failure, not as a test that never ends.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(support::WAIT) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: still blocked after {:?}", support::WAIT),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

use telemark_tests::Pauses;

/// A server on 127.0.0.1 that hangs under the test's control: it takes each connection — reading
/// the HTTP request on it first, for a webhook — and answers nothing until the test calls
/// [`Holder::release`]; then it closes it (the client sees the connection end without an answer).
/// While it holds a connection, that channel's thread is provably inside a delivery, however slow
/// the machine: only the test ends it. Dropping it releases everything.
struct Holder {
    port: u16,
    state: Arc<(Mutex<Held>, Condvar)>,
}

#[derive(Default)]
struct Held {
    /// Connections taken (with their request read, for a webhook) so far.
    arrived: usize,
    /// Connections held now.
    holding: usize,
    /// How often `release` was called: a connection is held until this changes.
    releases: u64,
    /// Dropped: nothing is held any more.
    closed: bool,
}

impl Holder {
    /// A webhook (`http`: it reads each request) or an SMTP server (it never greets) that holds.
    fn start(http: bool) -> Holder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the holder");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new((Mutex::new(Held::default()), Condvar::new()));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.0.lock().unwrap().closed {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || hold(conn, http, &s));
            }
        });
        Holder { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits until `n` connections have arrived (at most [`support::WAIT`]); how many did.
    fn wait_arrived(&self, n: usize) -> usize {
        let (l, cv) = &*self.state;
        let (h, _) = cv.wait_timeout_while(l.lock().unwrap(), support::WAIT, |h| h.arrived < n).unwrap();
        h.arrived
    }

    /// (connections arrived so far, connections held now).
    fn counts(&self) -> (usize, usize) {
        let h = self.state.0.lock().unwrap();
        (h.arrived, h.holding)
    }

    /// Ends the holds of the connections held now (closed without an answer); later ones are held
    /// in turn.
    fn release(&self) {
        let (l, cv) = &*self.state;
        l.lock().unwrap().releases += 1;
        cv.notify_all();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let (l, cv) = &*self.state;
        if let Ok(mut h) = l.lock() {
            h.closed = true;
        }
        cv.notify_all();
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn hold(mut conn: TcpStream, http: bool, state: &(Mutex<Held>, Condvar)) {
    if http && !read_request(&mut conn) {
        return;
    }
    let (l, cv) = state;
    let mut h = l.lock().unwrap();
    if h.closed {
        return;
    }
    h.arrived += 1;
    h.holding += 1;
    cv.notify_all();
    let release = h.releases;
    let mut h = cv.wait_while(h, |h| h.releases == release && !h.closed).unwrap();
    h.holding -= 1;
    drop(h);
    // Closed once `holding` says so, with the whole request read: the client sees the end of the
    // stream.
    drop(conn);
}

/// Reads one HTTP request (head and Content-Length body); false when the connection ends first.
fn read_request(conn: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= i + 4 + len {
                return true;
            }
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The webhook tests' secret, in the Standard Webhooks form (32 bytes).
const SECRET: &str = "whsec_Ly8wk0BSx+30Uq1w51qpLVzHhhmzZE+xR+wzprtgAGM=";

/// Now, in Unix seconds.
fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
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
    hook.script([Reply::unavailable_retry_after(1), Reply::status(503)]);
    // The pauses between attempts are recorded, not spent: the test asserts what was asked for.
    let pauses = Pauses::default();
    let channel = WebhookChannel::new(&hook.url("/hooks/ops"), Some(SECRET.into()), support::WAIT, 3)
        .unwrap()
        .with_backoff(Duration::from_millis(10), Duration::from_secs(2))
        .with_external_url("http://dash.example")
        .with_sleep(pauses.sleep());
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ops", Box::new(channel));

    let t0 = Instant::now();
    let sent_after = unix_now();
    let a = alert("checkout_p99_latency", "shop::checkout", "ops");
    let b = alert("checkout_p99_latency", "shop::pay", "ops");
    d.update(std::slice::from_ref(&a), t0);
    d.tick(t0);
    d.update(&[a.clone(), b.clone()], t0 + Duration::from_secs(10));
    d.tick(t0 + Duration::from_secs(10));
    let s = settled(&d);
    assert!(hook.requests().is_empty() && (s.sent, s.failed) == (0, 0), "nothing before group_wait: {s:?}");
    d.tick(t0 + SETTINGS.group_wait);

    // 503 with Retry-After: 1, then a 503 without, then 200. The channel is through with the
    // notification (settled): exactly these three requests, after pauses of the Retry-After, then
    // of the backoff (its second step: 20 ms, jittered down to no less than half).
    let s = settled(&d);
    assert_eq!((s.sent, s.failed, s.dropped), (1, 0, 0), "{s:?}");
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 3, "two retries after the two 503s");
    let taken = pauses.taken();
    assert_eq!(taken.len(), 2, "{taken:?}");
    assert_eq!(taken[0], Duration::from_secs(1), "Retry-After: 1 honoured");
    assert!(
        (Duration::from_millis(10)..=Duration::from_millis(20)).contains(&taken[1]),
        "backoff without Retry-After: {taken:?}"
    );
    assert!(reqs.iter().all(|r| r.body == reqs[0].body), "the same body every attempt");
    let sent_before = unix_now();
    // Standard Webhooks: one id for the notification, on every attempt; each attempt's own
    // timestamp; each signature accepted by an independent verifier (Python's hmac, hashlib and
    // base64, after the specification), which refuses a changed body, a changed timestamp, a
    // replay past its 5 minutes' tolerance and another secret.
    let id = reqs[0].header("webhook-id").unwrap();
    assert!(id.starts_with("msg_") && id.len() == 36 && !id.contains('.'), "{id}");
    for r in &reqs {
        let signed = r.signed();
        assert_eq!(signed.id, id, "the same webhook-id on every attempt");
        let ts: u64 = signed.timestamp.parse().expect("webhook-timestamp in Unix seconds");
        assert!((sent_after..=sent_before).contains(&ts), "{ts} not in {sent_after}..={sent_before}");
        assert!(signed.signature.starts_with("v1,"), "{}", signed.signature);
        assert_eq!(python_verify(SECRET, &signed, None), Ok(()), "a genuine request is accepted");
        let mut tampered = signed.clone();
        tampered.body[10] ^= 1;
        assert_eq!(python_verify(SECRET, &tampered, None), Err("no matching signature".into()));
        let mut retimed = signed.clone();
        retimed.timestamp = (ts + 1).to_string();
        assert_eq!(python_verify(SECRET, &retimed, None), Err("no matching signature".into()));
        let replayed_at = Some(ts + 5 * 60 + 1);
        assert_eq!(python_verify(SECRET, &signed, replayed_at), Err("timestamp out of tolerance".into()));
        assert_eq!(python_verify(SECRET, &signed, Some(ts + 5 * 60)), Ok(()), "the edge of the tolerance");
        let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(python_verify(other, &signed, None), Err("no matching signature".into()));
    }
    let r = &reqs[2];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hooks/ops"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-telemark-signature").is_none(), "the pre-1.0 header is gone");

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

    // One resolves: one notification, at the group's next look.
    let t1 = t0 + SETTINGS.group_wait + Duration::from_secs(5);
    d.update(&[resolve(&a), b.clone()], t1);
    d.tick(t1);
    let s = settled(&d);
    assert_eq!((hook.requests().len(), s.sent), (3, 1), "nothing before the group's next look");
    d.tick(t0 + SETTINGS.group_wait + SETTINGS.group_interval);
    let s = settled(&d);
    assert_eq!((s.sent, s.failed, s.dropped), (2, 0, 0), "{s:?}");
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(pauses.taken().len(), 2, "no retry");
    assert_ne!(reqs[3].header("webhook-id"), Some(id), "another notification, another id");
    assert_eq!(python_verify(SECRET, &reqs[3].signed(), None), Ok(()));
    let v = reqs[3].json();
    assert_eq!(v["status"], "firing", "shop::pay still fires");
    assert_eq!(v["alerts"][0]["status"], "resolved");
    assert_eq!(v["alerts"][0]["labels"]["function"], "shop::checkout");
    assert!(is_rfc3339(v["alerts"][0]["endsAt"].as_str().unwrap()));
    assert_ne!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(v["alerts"][1]["status"], "firing");
    d.shutdown(Instant::now() + support::WAIT);
}

#[test]
fn webhook_400_is_not_retried_and_counts_as_failed() {
    let hook = WebhookServer::start();
    hook.set_default(Reply::status(400));
    let pauses = Pauses::default();
    let channel = WebhookChannel::new(&hook.url("/"), None, support::WAIT, 3)
        .unwrap()
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .with_sleep(pauses.sleep());
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("ops", Box::new(channel));
    let t0 = Instant::now();
    d.update(&[alert("errors", "shop::checkout", "ops")], t0);
    d.tick(t0 + SETTINGS.group_wait);
    // The channel is through with the notification: what arrived is all that ever will.
    let s = settled(&d);
    assert_eq!((s.sent, s.failed), (0, 1));
    let err = s.channel("ops").and_then(|c| c.last_error.clone()).unwrap_or_default();
    assert!(err.contains("HTTP 400"), "{err}");
    let reqs = hook.requests();
    assert_eq!((reqs.len(), pauses.taken().len()), (1, 0), "no retry on a 400");
    assert!(reqs[0].header("webhook-signature").is_none(), "no secret, no signature");
    assert!(reqs[0].header("webhook-id").is_some() && reqs[0].header("webhook-timestamp").is_some());

    // 5xx are retried, up to max_retries.
    hook.set_default(Reply::status(502));
    d.update(&[alert("errors", "shop::pay", "ops")], t0 + SETTINGS.group_wait);
    d.tick(t0 + SETTINGS.group_wait + SETTINGS.group_interval);
    let s = settled(&d);
    assert_eq!((s.sent, s.failed), (0, 2));
    assert_eq!(hook.requests().len(), 1 + 4, "the 400; then the 502s: first attempt + 3 retries");
    assert_eq!(pauses.taken().len(), 3, "a pause before each retry: {:?}", pauses.taken());
    let err = s.channel("ops").and_then(|c| c.last_error.clone()).unwrap_or_default();
    assert!(err.contains("HTTP 502 (after 4 attempts)"), "{err}");
    d.shutdown(Instant::now() + support::WAIT);
}

#[test]
fn a_redirect_is_not_followed_and_fails_the_delivery() {
    // The hook answers with a redirect to another listener, which must never hear of it: the
    // signed request is for the configured receiver only.
    let elsewhere = WebhookServer::start();
    let hook = WebhookServer::start();
    let pauses = Pauses::default();
    for (i, code) in [301, 302, 307, 308].into_iter().enumerate() {
        hook.script([Reply::redirect(code, &elsewhere.url("/stolen"))]);
        let channel = WebhookChannel::new(&hook.url("/"), Some(SECRET.into()), support::WAIT, 3)
            .unwrap()
            .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
            .with_sleep(pauses.sleep());
        let mut d = Dispatcher::new(SETTINGS);
        d.add_channel("ops", Box::new(channel));
        let t0 = Instant::now();
        d.update(&[alert("errors", "shop::checkout", "ops")], t0);
        d.tick(t0 + SETTINGS.group_wait);
        // The channel is through with the notification: what arrived is all that ever will.
        let s = settled(&d);
        assert_eq!((s.sent, s.failed), (0, 1), "{code}: {s:?}");
        let err = s.channel("ops").and_then(|c| c.last_error.clone()).unwrap_or_default();
        let want = format!("HTTP {code}: redirect to `{}` not followed", elsewhere.url("/stolen"));
        assert!(err.contains(&want), "{err}");
        assert_eq!(hook.requests().len(), i + 1, "{code}: not retried");
        d.shutdown(Instant::now() + support::WAIT);
    }
    assert!(pauses.taken().is_empty(), "{:?}", pauses.taken());
    assert!(elsewhere.requests().is_empty(), "the redirect's target got {:?}", elsewhere.requests());
}

#[test]
fn dead_and_silent_endpoints_cost_the_caller_nothing_and_are_counted() {
    // Nothing listens; a webhook that never answers (its channel gives up after 300 ms: timed
    // out); and one that holds each request until the test releases it (its channel would wait a
    // minute), so that its thread is provably stuck in a delivery for as long as the test says.
    let silent = Holder::start(true);
    let held = Holder::start(true);
    let dead = support::dead_endpoint();
    let dead_channel = WebhookChannel::new(&format!("{dead}/hook"), None, Duration::from_millis(300), 1)
        .unwrap()
        .with_backoff(Duration::from_millis(2), Duration::from_millis(5));
    let silent_channel = WebhookChannel::new(&silent.url("/hook"), None, Duration::from_millis(300), 1)
        .unwrap()
        .with_backoff(Duration::from_millis(20), Duration::from_millis(50));
    let held_channel = WebhookChannel::new(&held.url("/hook"), None, support::WAIT, 0).unwrap();
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("dead", Box::new(dead_channel));
    d.add_channel_with_capacity("silent", Box::new(silent_channel), 1);
    d.add_channel_with_capacity("held", Box::new(held_channel), 1);

    // The held channel's thread gets stuck in a request first.
    let t0 = Instant::now();
    d.update(&[alert("first", "shop::checkout", "held")], t0);
    d.tick(t0 + SETTINGS.group_wait);
    assert_eq!(held.wait_arrived(1), 1);

    // Twenty evaluations, each with five distinct alerts for the three channels, then ten with a
    // late one: update, tick and stats all return while that request is still held — only the
    // test releases it.
    let t1 = t0 + SETTINGS.group_wait;
    let mut d = returns("update + tick with a channel stuck in a request", move || {
        for i in 0..20u32 {
            let now = t1 + SETTINGS.group_wait * i;
            let alerts: Vec<Alert> = (0..5)
                .map(|k| {
                    let mut a = alert(&format!("alert_{i}_{k}"), "shop::checkout", "dead");
                    a.channels.extend(["silent".to_string(), "held".to_string()]);
                    a
                })
                .collect();
            d.update(&alerts, now);
            d.tick(now);
        }
        for _ in 0..10 {
            let now = t1 + SETTINGS.group_wait * 40;
            let mut late = alert("late", "shop::checkout", "silent");
            late.channels.push("held".into());
            d.update(&[late], now);
            d.tick(now + SETTINGS.group_wait);
            let _ = d.stats();
        }
        d
    });
    assert_eq!(held.counts(), (1, 1), "the first request is still held");
    // Meanwhile the held channel took nothing more: one notification in the request, one in its
    // queue of one, the other 100 (five groups from each of twenty evaluations, and the late one)
    // dropped.
    let held_s = d.stats().channel("held").cloned().unwrap();
    assert_eq!((held_s.sent, held_s.failed, held_s.dropped, held_s.queued), (0, 0, 100, 2), "{held_s:?}");
    assert!(!d.settle(Duration::ZERO), "the held channel is not through");

    // Released, the request ends without an answer and fails; so does the queued one, held in turn.
    held.release();
    assert_eq!(held.wait_arrived(2), 2);
    held.release();

    // Everything is accounted for: the queues of one overflowed (dropped); what was tried failed
    // after its timeouts and retries.
    let s = settled(&d);
    let dead_s = s.channel("dead").cloned().unwrap();
    let silent_s = s.channel("silent").cloned().unwrap();
    let held_s = s.channel("held").cloned().unwrap();
    assert_eq!((s.sent, s.queued), (0, 0), "{s:?}");
    assert_eq!(dead_s.failed + dead_s.dropped, 100, "{dead_s:?}");
    assert!(dead_s.failed >= 1);
    assert!(dead_s.last_error.as_deref().unwrap_or("").contains("could not connect"), "{dead_s:?}");
    assert_eq!(silent_s.failed + silent_s.dropped, 101, "{silent_s:?}");
    assert!(silent_s.failed >= 1);
    assert!(silent_s.last_error.as_deref().unwrap_or("").contains("timed out"), "{silent_s:?}");
    assert_eq!((held_s.failed, held_s.dropped), (2, 100), "{held_s:?}");
    let err = held_s.last_error.as_deref().unwrap_or("");
    assert!(err.contains("the connection closed in the middle of the response (after 1 attempt)"), "{err}");
    assert_eq!(held.counts(), (2, 0));
    assert_eq!(s.undelivered(), 100 + 101 + 102);

    // And shutdown does not wait past its deadline for a channel stuck in a delivery: one more
    // request held, one more notification queued behind it.
    let t2 = t1 + SETTINGS.group_wait * 50;
    d.update(&[alert("last", "shop::checkout", "held")], t2);
    d.tick(t2 + SETTINGS.group_wait);
    assert_eq!(held.wait_arrived(3), 3);
    d.update(&[alert("after_last", "shop::checkout", "held")], t2 + SETTINGS.group_wait);
    d.tick(t2 + SETTINGS.group_wait * 2);
    let deadline = Instant::now() + Duration::from_millis(100);
    let s = returns("shutdown with a channel stuck in a request", move || d.shutdown(deadline));
    assert_eq!(held.counts(), (3, 1), "shutdown returned while the request is still held");
    let held_s = s.channel("held").cloned().unwrap();
    assert_eq!((held_s.failed, held_s.dropped, held_s.queued), (2, 100, 2), "{held_s:?}");
    // (Dropping `held` releases the request; the thread then drops what is queued, past the
    // deadline.)
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
        timeout: support::WAIT,
        // aiosmtpd here speaks plain SMTP (tests/alert_tls.rs has STARTTLS and implicit TLS).
        tls: SmtpTls::None,
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
        timeout: support::WAIT,
        tls: SmtpTls::None,
        allow_insecure_auth: true,
        ..SmtpSettings::default()
    })
    .unwrap();
    let bad_password = EmailChannel::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.port(),
        from: "alerts@example.com".into(),
        to: vec!["oncall@example.com".into()],
        username: Some(SMTP_USER.into()),
        password: Some("wrong".into()),
        timeout: support::WAIT,
        tls: SmtpTls::None,
        allow_insecure_auth: true,
        ..SmtpSettings::default()
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

    // The channel is through (the server accepted the message); the line aiosmtpd printed for it
    // is awaited as it is read.
    let s = settled(&d);
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    let mails = smtp.wait_mails(1);
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
    assert_eq!(settled(&d).sent, 2);
    let mails = smtp.wait_mails(2);
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].header("Subject").as_deref(), Some("[RESOLVED] checkout_p99_latency (critical)"));

    // AUTH PLAIN, and a wrong password counted as failed.
    let mut b = alert("errors", "shop::pay", "authed");
    b.channels.push("bad".into());
    d.update(&[b], t0);
    d.tick(t0 + SETTINGS.group_wait);
    let s = settled(&d);
    assert_eq!((s.sent, s.failed), (3, 1), "{s:?}");
    let mails = smtp.wait_mails(3);
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2].login.as_deref(), Some(SMTP_USER));
    assert_eq!(mails[2].rcpt_tos, ["oncall@example.com"]);
    let err = s.channel("bad").and_then(|c| c.last_error.clone()).unwrap_or_default();
    assert!(err.contains("AUTH PLAIN rejected: 535"), "{err}");
    assert!(!err.contains("wrong"), "no password in errors: {err}");
    d.shutdown(Instant::now() + support::WAIT);
}

#[test]
fn dead_and_silent_smtp_servers_are_counted_and_cost_the_caller_nothing() {
    // Nothing listens; and a server that takes the connection and never greets until the test
    // releases it (its channel would wait a minute).
    let silent = Holder::start(false);
    let dead = support::dead_endpoint();
    let port: u16 = dead.rsplit(':').next().unwrap().parse().unwrap();
    let settings = |port: u16, timeout: Duration| SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        from: "alerts@example.com".into(),
        to: vec!["oncall@example.com".into()],
        timeout,
        ..SmtpSettings::default()
    };
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("mail", Box::new(EmailChannel::new(settings(port, Duration::from_millis(500))).unwrap()));
    d.add_channel("silent", Box::new(EmailChannel::new(settings(silent.port, support::WAIT)).unwrap()));

    // The silent server's channel gets stuck waiting for a greeting first...
    let t0 = Instant::now();
    d.update(&[alert("slow", "shop::pay", "silent")], t0);
    d.tick(t0 + SETTINGS.group_wait);
    assert_eq!(silent.wait_arrived(1), 1);
    // ...and update and tick return while it still waits: only the test releases it.
    let d = returns("update + tick with a mail channel stuck in an exchange", move || {
        let mut a = alert("errors", "shop::pay", "mail");
        a.channels.push("silent".into());
        d.update(&[a], t0 + SETTINGS.group_wait);
        d.tick(t0 + SETTINGS.group_wait * 2);
        d
    });
    assert_eq!(silent.counts(), (1, 1), "the first exchange is still held");
    let silent_s = d.stats().channel("silent").cloned().unwrap();
    assert_eq!((silent_s.sent, silent_s.failed, silent_s.queued), (0, 0, 2), "{silent_s:?}");

    // Released, each exchange ends with the server gone before its greeting: counted as failed.
    silent.release();
    assert_eq!(silent.wait_arrived(2), 2);
    silent.release();
    let s = settled(&d);
    assert_eq!((s.sent, s.failed, s.dropped), (0, 3, 0), "{s:?}");
    let mail = s.channel("mail").cloned().unwrap();
    assert_eq!(mail.failed, 1);
    assert!(mail.last_error.as_deref().unwrap_or("").contains("could not connect"), "{s:?}");
    let silent_s = s.channel("silent").cloned().unwrap();
    assert_eq!(silent_s.failed, 2);
    let err = silent_s.last_error.as_deref().unwrap_or("");
    assert!(err.contains("the server closed the connection waiting for the greeting"), "{err}");
    d.shutdown(Instant::now() + support::WAIT);
}

#[test]
fn a_real_alertmanager_receives_groups_notifies_and_resolves() {
    let hook = WebhookServer::start();
    let am = Alertmanager::start(&hook.url("/from-alertmanager"), "200ms", "500ms");
    let channel = AlertmanagerChannel::new(&am.url(), support::WAIT).unwrap();
    let mut d = Dispatcher::new(SETTINGS);
    d.add_channel("am", Box::new(channel));

    let t0 = Instant::now();
    let a = alert("checkout_p99_latency", "shop::checkout", "am");
    d.update(std::slice::from_ref(&a), t0);
    // The alertmanager channel has no group_wait of its own: Alertmanager groups.
    assert_eq!(d.next_tick(), Some(t0));
    d.tick(t0);
    let s = settled(&d);
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}\n{}", am.log());

    let listed = am.wait_alerts("the alert active in Alertmanager", |v| {
        v.iter().any(|x| x["status"]["state"] == "active")
    });
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
        .wait_for(|r| r.json()["status"] == "firing")
        .unwrap_or_else(|| panic!("no firing notification from Alertmanager\n{}", am.log()));
    let v = note.json();
    assert_eq!(v["version"], "4");
    assert_eq!(v["alerts"][0]["labels"]["alertname"], "checkout_p99_latency");
    assert_eq!(v["alerts"][0]["fingerprint"], a.fingerprint().as_str());
    // Our webhook body has Alertmanager's shape: the same keys at both levels.
    let ours: serde_json::Value = {
        let w = WebhookChannel::new("http://127.0.0.1:1/", None, Duration::from_secs(1), 0).unwrap();
        let n = telemark::alerts::notify::Notification::new("test", "checkout_p99_latency", vec![a.clone()]);
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
    let s = settled(&d);
    assert_eq!((s.sent, s.failed), (2, 0), "{s:?}");
    let left = am.wait_alerts("the resolved alert gone from Alertmanager", |v| v.is_empty());
    assert_eq!(left, serde_json::json!([]), "the resolved alert is gone");
    let resolved = hook.wait_for(|r| r.json()["status"] == "resolved");
    assert!(resolved.is_some(), "no resolved notification from Alertmanager\n{}", am.log());
    d.shutdown(Instant::now() + support::WAIT);
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
    use telemark::alerts::eval::Evaluator;
    use telemark::alerts::RuleConfig;
    // The evaluator on a controlled clock (every 15 s) → Transition::to_alert → the dispatcher →
    // a webhook listener, aiosmtpd and Alertmanager (whose own webhook reports the resolution).
    let hook = WebhookServer::start();
    let smtp = SmtpServer::start();
    let am_hook = WebhookServer::start();
    let am = Alertmanager::start(&am_hook.url("/from-alertmanager"), "100ms", "200ms");
    let mut rule = RuleConfig::new("shop::pay", "error_rate > 20%");
    rule.window = Some(Duration::from_secs(60));
    rule.summary = Some("{function} fails {value} of payments (threshold {threshold})".into());
    rule.notify = Some(vec!["hook".into(), "mail".into(), "am".into()]);
    let rule = rule.to_rule(None).unwrap();
    let mut d = Dispatcher::new(DispatchSettings {
        group_wait: Duration::ZERO,
        group_interval: Duration::ZERO,
        repeat_interval: Duration::from_secs(4 * 3600),
    });
    d.add_channel("hook", Box::new(WebhookChannel::new(&hook.url("/"), None, support::WAIT, 0).unwrap()));
    d.add_channel(
        "mail",
        Box::new(
            EmailChannel::new(SmtpSettings {
                host: "127.0.0.1".into(),
                port: smtp.port(),
                from: "alerts@example.com".into(),
                to: vec!["oncall@example.com".into()],
                timeout: support::WAIT,
                tls: SmtpTls::None,
                ..SmtpSettings::default()
            })
            .unwrap(),
        ),
    );
    d.add_channel("am", Box::new(AlertmanagerChannel::new(&am.url(), support::WAIT).unwrap()));
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
    for s in 0..=4 {
        step(s);
    }
    let firing = "shop::pay fails 30% of payments (threshold 20%)";
    let got = hook.wait_for(|r| r.json()["status"] == "firing").expect("firing webhook");
    assert_eq!(got.json()["alerts"][0]["annotations"]["summary"], firing);
    assert!(smtp.wait_mails(1)[0].body().contains(firing));
    // Alertmanager notifies after a group_wait of its own, with the annotations it has then: step 5
    // (22.5%, re-sent to it a resend interval after step 1) waits for that notification, not for
    // its clock.
    let from_am = am_hook
        .wait_for(|r| r.json()["status"] == "firing")
        .unwrap_or_else(|| panic!("no firing notification from Alertmanager\n{}", am.log()));
    assert_eq!(from_am.json()["alerts"][0]["annotations"]["summary"], firing);

    assert_eq!(step(5), 1, "still firing at step 5");
    assert_eq!(step(6), 1, "resolved at step 6");
    let resolved = "shop::pay fails 15% of payments (threshold 20%)";
    let got = hook.wait_for(|r| r.json()["status"] == "resolved").expect("resolved webhook");
    let v = got.json();
    assert_eq!(v["alerts"][0]["status"], "resolved");
    assert_eq!(v["alerts"][0]["annotations"]["summary"], resolved);
    assert_eq!(v["commonAnnotations"]["summary"], resolved);
    let mails = smtp.wait_mails(2);
    assert_eq!(mails.len(), 2);
    let body = mails[1].body();
    assert_eq!(mails[1].header("Subject").as_deref(), Some("[RESOLVED] pay_error_rate (warning)"));
    assert!(body.contains("- resolved pay_error_rate on shop::pay  value=15%  since "), "{body}");
    assert!(body.contains(&format!("summary: {resolved}")), "{body}");
    assert!(!body.contains("22.5") && !body.contains("30%"), "a value for which it fired: {body}");
    let from_am = am_hook
        .wait_for(|r| r.json()["status"] == "resolved")
        .unwrap_or_else(|| panic!("no resolved notification from Alertmanager\n{}", am.log()));
    assert_eq!(from_am.json()["alerts"][0]["annotations"]["summary"], resolved, "Alertmanager keeps ours");
    let s = settled(&d);
    let sent = |c: &str| s.channel(c).map(|c| c.sent);
    assert_eq!((sent("hook"), sent("mail"), s.undelivered()), (Some(2), Some(2), 0), "{s:?}");
    assert_eq!(d.shutdown(Instant::now() + support::WAIT), s, "nothing left for shutdown");
}
