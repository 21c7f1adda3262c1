//! The `webhook` channel: each notification POSTed as JSON in the shape of Alertmanager's webhook
//! (version 4), so receivers written for Alertmanager accept it as is.
//!
//! ```json
//! {"version": "4", "groupKey": "ops:{alertname=\"checkout_p99_latency\"}", "truncatedAlerts": 0,
//!  "status": "firing", "receiver": "ops", "groupLabels": {"alertname": "…"},
//!  "commonLabels": {…}, "commonAnnotations": {…}, "externalURL": "",
//!  "alerts": [{"status": "firing", "labels": {…}, "annotations": {…},
//!              "startsAt": "2026-11-24T15:51:32.870Z", "endsAt": "0001-01-01T00:00:00Z",
//!              "generatorURL": "", "fingerprint": "c4d2f0e1a9b83e17"}]}
//! ```
//!
//! Every request carries the headers of the [Standard Webhooks] specification: `webhook-id`, one
//! id per notification (`msg_` and 32 hex digits), the same on every retry of it, so a receiver
//! can drop a duplicate; `webhook-timestamp`, the attempt's time in Unix seconds; and, with a
//! secret, `webhook-signature: v1,<base64>`, the HMAC-SHA256 of `{id}.{timestamp}.{body}`
//! ([`signature`]). A receiver recomputes it over the raw body, compares in constant time, and
//! rejects a timestamp more than five minutes from its clock — so a recorded request cannot be
//! replayed later, nor its body or timestamp changed. Standard Webhooks libraries verify it.
//!
//! The secret is written either as `whsec_<base64>` (the specification's form, which its
//! libraries expect: the key is the decoded bytes) or as plain text (the key is its UTF-8 bytes).
//! Either way the key must have at least [`MIN_KEY_BYTES`] bytes; an empty or shorter secret is an
//! error (leave `secret` out to send unsigned requests). Generate one with
//! `echo "whsec_$(openssl rand -base64 32)"`.
//!
//! A request that gets no answer within the timeout, a 5xx or a 429 is retried with exponential
//! backoff and jitter (a `Retry-After` in seconds is honoured, up to the longest delay); any other
//! 4xx is not retried, and a redirect (3xx) is never followed: it fails the delivery.
//!
//! `https://` URLs are verified with the platform's roots (Mozilla's when it has none), or only
//! the CA given with [`WebhookChannel::with_tls`], which also sets a client certificate for mutual
//! TLS. A TLS failure (an unknown CA, an expired certificate or one for another name, a client
//! certificate the server wants and did not get) sends nothing, never falls back to plaintext, and
//! is not retried: the delivery fails at once with the TLS cause.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com

use crate::http::{Client, RetryPolicy, Transport, Url};
use crate::notify::{rfc3339, AlertHandler, AlertState, Notification};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use telemark_runtime::host::tls::TlsFiles;

/// The header with the notification's id (the same on every attempt).
pub const ID_HEADER: &str = "webhook-id";
/// The header with the attempt's time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header with the signature, `v1,<base64>` (sent when a secret is set).
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The fewest bytes a signing key may have (the Standard Webhooks minimum, 192 bits).
pub const MIN_KEY_BYTES: usize = 24;
/// The prefix of a secret written in the Standard Webhooks form, `whsec_<base64>`.
const WHSEC: &str = "whsec_";

/// `endsAt` of a firing alert, as Alertmanager writes it (Go's zero time).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The signing key a `secret` stands for: the base64-decoded bytes of `whsec_<base64>`, else the
/// text's UTF-8 bytes. An error (which never quotes the secret) when it is empty, not base64 after
/// `whsec_`, or shorter than [`MIN_KEY_BYTES`].
pub(crate) fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    if secret.is_empty() {
        return Err("`secret` is empty; to send unsigned webhooks, leave `secret` out".to_string());
    }
    let key = match secret.strip_prefix(WHSEC) {
        Some(encoded) => BASE64.decode(encoded.trim()).map_err(|_| {
            "`secret` starts with `whsec_` but what follows is not base64 (the secret is not shown)"
                .to_string()
        })?,
        None => secret.as_bytes().to_vec(),
    };
    if key.len() < MIN_KEY_BYTES {
        let n = key.len();
        return Err(format!(
            "`secret` is too short: its key has {n} byte{}, at least {MIN_KEY_BYTES} are needed; generate \
             one with `echo \"whsec_$(openssl rand -base64 32)\"`",
            if n == 1 { "" } else { "s" }
        ));
    }
    Ok(key)
}

/// `v1,<base64>`: the Standard Webhooks signature of a request with this `id`, `timestamp` (Unix
/// seconds) and `body`, under `secret` (`whsec_<base64>` or plain text, as in the config): the
/// HMAC-SHA256 of `{id}.{timestamp}.{body}`. An error when the secret is not a valid one.
pub fn signature(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Result<String, String> {
    Ok(sign(&signing_key(secret)?, id, timestamp, body))
}

fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut out = String::from("v1,");
    // HMAC takes keys of any length: this cannot fail.
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        BASE64.encode_string(mac.finalize().into_bytes(), &mut out);
    }
    out
}

/// A new notification id: `msg_` and 32 hex digits — a process-wide counter, the time and the
/// process id hashed under two of std's randomly keyed hashers, so that ids do not repeat, within
/// a process or across processes.
fn message_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut id = String::from("msg_");
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(now);
        h.write_u32(std::process::id());
        let _ = write!(id, "{:016x}", h.finish());
    }
    id
}

/// Now, in Unix seconds.
fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// POSTs notifications as JSON to a URL.
pub struct WebhookChannel {
    url: Url,
    /// The signing key (never printed).
    key: Option<Vec<u8>>,
    timeout: Duration,
    retry: RetryPolicy,
    external_url: String,
    transport: Box<dyn Transport>,
    sleep: Box<dyn FnMut(Duration) + Send>,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("url", &crate::config::redact_url(&self.url.to_string()))
            .field("secret", &self.key.as_ref().map(|_| "[REDACTED]"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.retry.max_retries)
            .finish()
    }
}

impl WebhookChannel {
    /// A webhook to `url` (`https://` or `http://`), signed with
    /// `secret` when there is one (`whsec_<base64>` or text; empty, or a key under
    /// [`MIN_KEY_BYTES`] bytes, is an error), each request within `timeout`, and up to
    /// `max_retries` retries (backoff from 500 ms, doubled each time, at most 30 s).
    pub fn new(
        url: &str,
        secret: Option<String>,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Self, String> {
        let key = secret.as_deref().map(signing_key).transpose()?;
        Ok(WebhookChannel {
            url: Url::parse(url)?,
            key,
            timeout,
            retry: RetryPolicy { max_retries, ..RetryPolicy::default() },
            external_url: String::new(),
            transport: Box::new(Client::new()),
            sleep: Box::new(std::thread::sleep),
        })
    }

    /// Sets the TLS of `https://`: only the CA in `files.ca` is trusted (instead of the
    /// platform's roots), and `files.client_certificate` with `files.client_key` is presented for
    /// mutual TLS. An error names the file and what is wrong with it.
    pub fn with_tls(mut self, files: &TlsFiles) -> Result<Self, String> {
        self.transport = Box::new(Client::with_tls(files)?);
        Ok(self)
    }

    /// Sets the backoff: the first delay (doubled on each retry, with jitter) and the longest
    /// delay between two attempts, which also caps a server's `Retry-After`.
    pub fn with_backoff(mut self, base: Duration, max_delay: Duration) -> Self {
        self.retry.base = base;
        self.retry.max_delay = max_delay;
        self
    }

    /// Replaces how the channel waits between two attempts (`std::thread::sleep` by default):
    /// `sleep` gets each pause the retry policy asks for — the backoff, or the server's
    /// `Retry-After` (up to the longest delay). For tests that record the pauses instead of
    /// spending them.
    pub fn with_sleep(mut self, sleep: impl FnMut(Duration) + Send + 'static) -> Self {
        self.sleep = Box::new(sleep);
        self
    }

    /// Sets `externalURL` in the body (empty by default): where a person can see the alerts.
    pub fn with_external_url(mut self, url: &str) -> Self {
        self.external_url = url.to_string();
        self
    }

    /// The URL it posts to.
    pub fn url(&self) -> String {
        self.url.to_string()
    }

    /// The JSON body sent for `n`.
    pub fn body(&self, n: &Notification) -> String {
        payload(n, &self.external_url).to_string()
    }

    #[cfg(test)]
    fn with_transport(
        mut self,
        t: impl Transport + 'static,
        sleep: impl FnMut(Duration) + Send + 'static,
    ) -> Self {
        self.transport = Box::new(t);
        self.with_sleep(sleep)
    }
}

/// The Alertmanager webhook v4 payload.
pub(crate) fn payload(n: &Notification, external_url: &str) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let ends_at = match a.state {
                AlertState::Firing => ZERO_TIME.to_string(),
                AlertState::Resolved => rfc3339(a.ends_at.unwrap_or_else(SystemTime::now)),
            };
            // No number for the value: people read it in the annotations, in the metric's format
            // (`Alert::value_text`); Alertmanager's shape has no field for it either.
            json!({
                "status": a.state.as_str(),
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "endsAt": ends_at,
                "generatorURL": "",
                "fingerprint": a.fingerprint(),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status.as_str(),
        "receiver": n.channel,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels,
        "commonAnnotations": n.common_annotations,
        "externalURL": external_url,
        "alerts": alerts,
    })
}

impl AlertHandler for WebhookChannel {
    /// Delivers `n`: one id for it, a timestamp and a signature for each attempt.
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let body = self.body(n).into_bytes();
        let id = message_id();
        let (url, timeout, key, transport) = (&self.url, self.timeout, &self.key, &mut self.transport);
        let attempt = || {
            let timestamp = unix_seconds();
            let ts = timestamp.to_string();
            let sig = key.as_deref().map(|k| sign(k, &id, timestamp, &body));
            let mut headers: Vec<(&str, &str)> =
                vec![("Content-Type", "application/json"), (ID_HEADER, &id), (TIMESTAMP_HEADER, &ts)];
            if let Some(sig) = &sig {
                headers.push((SIGNATURE_HEADER, sig));
            }
            transport.send("POST", url, &headers, &body, timeout)
        };
        self.retry
            .run(attempt, &mut *self.sleep)
            .map(|_| ())
            .map_err(|e| format!("webhook {}: {e}", crate::config::redact_url(&self.url.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpError, Response};
    use crate::notify::Alert;
    use crate::Severity;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::UNIX_EPOCH;

    /// The Standard Webhooks libraries' published test vector.
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signature_is_the_standard_webhooks_one() {
        assert_eq!(
            signature(
                VECTOR_SECRET,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string())
        );
        // A plain-text secret: its UTF-8 bytes are the key (the value computed with Python's
        // hmac module).
        let text = "Jefe-Jefe-Jefe-Jefe-Jefe";
        assert_eq!(signing_key(text).unwrap(), text.as_bytes());
        assert_eq!(
            signature(text, "msg_1", 1_700_000_000, b"{}"),
            Ok("v1,Ue5NICVKA7h39SfRpBI0P+6noZwwNYb1fdg+DB5YwPY=".to_string())
        );
    }

    #[test]
    fn empty_short_and_malformed_secrets_are_refused_without_being_shown() {
        for (secret, why) in [
            ("", "leave `secret` out"),
            ("Q", "1 byte, at least 24"),
            ("twenty-three bytes long", "23 bytes"),
            ("whsec_c2hvcnQ=", "5 bytes"),
            ("whsec_not base64!!", "not base64"),
        ] {
            let e = signing_key(secret).unwrap_err();
            assert!(e.contains(why), "{secret:?}: {e}");
            if !secret.is_empty() {
                assert!(!e.contains(secret.trim_start_matches("whsec_")), "{e}");
            }
            let e =
                WebhookChannel::new("http://127.0.0.1:1/", Some(secret.into()), Duration::from_secs(1), 0)
                    .unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        assert_eq!(signing_key("twenty-four bytes long!!").map(|k| k.len()), Ok(24));
        assert_eq!(signing_key(VECTOR_SECRET).map(|k| k.len()), Ok(24));
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids: std::collections::BTreeSet<String> = (0..10_000).map(|_| message_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 36 && id.starts_with("msg_") && !id.contains('.')));
    }

    fn alert(function: &str, state: AlertState) -> Alert {
        Alert {
            name: "checkout_p99_latency".into(),
            function: function.into(),
            severity: Severity::Critical,
            labels: BTreeMap::from([
                ("alertname".into(), "checkout_p99_latency".into()),
                ("function".into(), function.into()),
                ("severity".into(), "critical".into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), "slow".into())]),
            state,
            metric: crate::Metric::Latency(crate::Quantile::P99),
            value: 0.25,
            starts_at: UNIX_EPOCH + Duration::from_millis(1_795_535_492_870),
            ends_at: (state == AlertState::Resolved).then(|| UNIX_EPOCH + Duration::from_secs(1_795_536_000)),
            channels: vec!["ops".into()],
        }
    }

    #[test]
    fn the_body_has_the_alertmanager_v4_shape() {
        let n = Notification::new(
            "ops",
            "checkout_p99_latency",
            vec![alert("shop::checkout", AlertState::Firing), alert("shop::pay", AlertState::Resolved)],
        );
        let v = payload(&n, "http://dash.example");
        let fp = n.alerts[0].fingerprint();
        let fp2 = n.alerts[1].fingerprint();
        assert_eq!(
            v,
            json!({
                "version": "4",
                "groupKey": "ops:{alertname=\"checkout_p99_latency\"}",
                "truncatedAlerts": 0,
                "status": "firing",
                "receiver": "ops",
                "groupLabels": {"alertname": "checkout_p99_latency"},
                "commonLabels": {"alertname": "checkout_p99_latency", "severity": "critical"},
                "commonAnnotations": {"summary": "slow"},
                "externalURL": "http://dash.example",
                "alerts": [
                    {"status": "firing",
                     "labels": {"alertname": "checkout_p99_latency", "function": "shop::checkout", "severity": "critical"},
                     "annotations": {"summary": "slow"},
                     "startsAt": "2026-11-24T15:51:32.870Z", "endsAt": "0001-01-01T00:00:00Z",
                     "generatorURL": "", "fingerprint": fp},
                    {"status": "resolved",
                     "labels": {"alertname": "checkout_p99_latency", "function": "shop::pay", "severity": "critical"},
                     "annotations": {"summary": "slow"},
                     "startsAt": "2026-11-24T15:51:32.870Z", "endsAt": "2026-11-24T16:00:00.000Z",
                     "generatorURL": "", "fingerprint": fp2},
                ],
            })
        );
    }

    type Log = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

    /// Answers from a script and records the requests.
    struct Script(Vec<Result<Response, HttpError>>, Log);

    impl Transport for Script {
        fn send(
            &mut self,
            _: &str,
            _: &Url,
            headers: &[(&str, &str)],
            body: &[u8],
            _: Duration,
        ) -> Result<Response, HttpError> {
            let h = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            self.1.lock().unwrap().push((h, body.to_vec()));
            if self.0.is_empty() {
                return Ok(Response { status: 200, ..Default::default() });
            }
            self.0.remove(0)
        }
    }

    fn status(code: u16, retry_after: Option<&str>) -> Result<Response, HttpError> {
        let headers = retry_after.map(|v| ("Retry-After".to_string(), v.to_string())).into_iter().collect();
        Ok(Response { status: code, headers, body: Vec::new() })
    }

    fn channel(
        script: Vec<Result<Response, HttpError>>,
        secret: Option<&str>,
    ) -> (WebhookChannel, Log, Arc<Mutex<Vec<Duration>>>) {
        let log = Log::default();
        let slept = Arc::new(Mutex::new(Vec::new()));
        let s2 = slept.clone();
        let ch = WebhookChannel::new(
            "http://127.0.0.1:1/hook",
            secret.map(String::from),
            Duration::from_secs(1),
            3,
        )
        .unwrap()
        .with_transport(Script(script, log.clone()), move |d| s2.lock().unwrap().push(d));
        (ch, log, slept)
    }

    fn note() -> Notification {
        Notification::new("ops", "checkout_p99_latency", vec![alert("shop::checkout", AlertState::Firing)])
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn signed_when_a_secret_is_set_with_one_id_and_a_timestamp_per_attempt() {
        let (mut ch, log, _) = channel(vec![status(503, None)], Some(VECTOR_SECRET));
        let before = unix_seconds();
        ch.notify(&note()).unwrap();
        let after = unix_seconds();
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), 2);
        let id = header(&log[0].0, ID_HEADER).unwrap();
        assert_eq!(header(&log[1].0, ID_HEADER), Some(id), "one id across retries");
        for (headers, body) in &log {
            let ts: u64 = header(headers, TIMESTAMP_HEADER).unwrap().parse().unwrap();
            assert!((before..=after).contains(&ts), "{ts} not in {before}..={after}");
            assert_eq!(
                header(headers, SIGNATURE_HEADER).map(String::from),
                Some(signature(VECTOR_SECRET, id, ts, body).unwrap())
            );
            assert_eq!(header(headers, "Content-Type"), Some("application/json"));
        }
        // Another notification, another id.
        let (mut ch, log2, _) = channel(vec![], Some(VECTOR_SECRET));
        ch.notify(&note()).unwrap();
        assert_ne!(header(&log2.lock().unwrap()[0].0, ID_HEADER), Some(id));
        // No secret: the id and the timestamp, no signature.
        let (mut ch, log, _) = channel(vec![], None);
        ch.notify(&note()).unwrap();
        let headers = &log.lock().unwrap()[0].0;
        assert!(header(headers, SIGNATURE_HEADER).is_none());
        assert!(header(headers, ID_HEADER).is_some() && header(headers, TIMESTAMP_HEADER).is_some());
        let debug = format!("{:?}", channel(vec![], Some(VECTOR_SECRET)).0);
        assert!(debug.contains("[REDACTED]") && !debug.contains("MfKQ9r8G"), "{debug}");
    }

    #[test]
    fn retries_on_5xx_and_429_honouring_retry_after() {
        let (mut ch, log, slept) = channel(
            vec![status(503, Some("2")), status(429, None), Err(HttpError::Timeout("x".into()))],
            None,
        );
        ch.notify(&note()).unwrap();
        assert_eq!(log.lock().unwrap().len(), 4);
        let slept = slept.lock().unwrap().clone();
        assert_eq!(slept[0], Duration::from_secs(2), "Retry-After");
        assert!(slept[1] >= Duration::from_millis(500) && slept[1] <= Duration::from_secs(1), "{slept:?}");
        assert!(slept[2] >= Duration::from_secs(1) && slept[2] <= Duration::from_secs(2), "{slept:?}");
        // The same body every time.
        let bodies: Vec<Vec<u8>> = log.lock().unwrap().iter().map(|(_, b)| b.clone()).collect();
        assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn no_retry_on_other_4xx() {
        let (mut ch, log, slept) = channel(vec![status(400, None)], None);
        let e = ch.notify(&note()).unwrap_err();
        assert_eq!(e, "webhook http://127.0.0.1:1/hook: HTTP 400");
        assert_eq!(log.lock().unwrap().len(), 1);
        assert!(slept.lock().unwrap().is_empty());
    }

    #[test]
    fn gives_up_after_max_retries() {
        let (mut ch, log, _) = channel((0..10).map(|_| status(500, None)).collect(), None);
        let e = ch.notify(&note()).unwrap_err();
        assert!(e.ends_with("HTTP 500 (after 4 attempts)"), "{e}");
        assert_eq!(log.lock().unwrap().len(), 4);
    }

    #[test]
    fn https_is_accepted_and_a_tls_failure_is_not_retried() {
        let c = WebhookChannel::new("https://hooks.example.com/x", None, Duration::from_secs(1), 0).unwrap();
        assert_eq!(c.url(), "https://hooks.example.com/x");
        let (mut ch, log, slept) = channel(vec![Err(HttpError::Tls("127.0.0.1:1: expired".into()))], None);
        let e = ch.notify(&note()).unwrap_err();
        assert_eq!(e, "webhook http://127.0.0.1:1/hook: TLS: 127.0.0.1:1: expired");
        assert_eq!((log.lock().unwrap().len(), slept.lock().unwrap().len()), (1, 0));
        // A missing file is an error naming it.
        let files = TlsFiles { ca: Some("/nonexistent/ca.pem".into()), ..TlsFiles::default() };
        let e = c.with_tls(&files).unwrap_err();
        assert!(e.starts_with("CA certificate `/nonexistent/ca.pem`"), "{e}");
    }
}
