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
//! With a secret, the request carries `X-Telemark-Signature: sha256=<hex>`, the HMAC-SHA256 of
//! the body under the secret ([`signature`]). A request that gets no answer within the timeout,
//! a 5xx or a 429 is retried with exponential backoff and jitter (a `Retry-After` in seconds is
//! honoured, up to the longest delay); any other 4xx is not retried.

use crate::http::{RetryPolicy, Tcp, Transport, Url};
use crate::notify::{rfc3339, AlertHandler, AlertState, Notification};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, SystemTime};

/// The header that carries the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Telemark-Signature";

/// `endsAt` of a firing alert, as Alertmanager writes it (Go's zero time).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`, as sent in [`SIGNATURE_HEADER`].
/// A receiver recomputes it over the raw body it got and compares.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut out = String::from("sha256=");
    // HMAC takes keys of any length: this cannot fail.
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        mac.update(body);
        for b in mac.finalize().into_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// POSTs notifications as JSON to a URL.
pub struct WebhookChannel {
    url: Url,
    secret: Option<String>,
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
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.retry.max_retries)
            .finish()
    }
}

impl WebhookChannel {
    /// A webhook to `url` (`http://` only: an `https://` URL is an error saying so), signed with
    /// `secret` when there is one (an empty secret is none), each request within `timeout`, and up
    /// to `max_retries` retries (backoff from 500 ms, doubled each time, at most 30 s).
    pub fn new(
        url: &str,
        secret: Option<String>,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Self, String> {
        Ok(WebhookChannel {
            url: Url::parse(url)?,
            secret: secret.filter(|s| !s.is_empty()),
            timeout,
            retry: RetryPolicy { max_retries, ..RetryPolicy::default() },
            external_url: String::new(),
            transport: Box::new(Tcp),
            sleep: Box::new(std::thread::sleep),
        })
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
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let body = self.body(n).into_bytes();
        let sig = self.secret.as_deref().map(|s| signature(s, &body));
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        if let Some(sig) = &sig {
            headers.push((SIGNATURE_HEADER, sig));
        }
        let (url, timeout, transport) = (&self.url, self.timeout, &mut self.transport);
        self.retry
            .run(|| transport.send("POST", url, &headers, &body, timeout), &mut *self.sleep)
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

    #[test]
    fn signature_is_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
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

    #[test]
    fn signed_when_a_secret_is_set() {
        let (mut ch, log, _) = channel(vec![], Some("s3cret"));
        ch.notify(&note()).unwrap();
        let (headers, body) = log.lock().unwrap()[0].clone();
        let sig = headers.iter().find(|(k, _)| k == SIGNATURE_HEADER).map(|(_, v)| v.clone());
        assert_eq!(sig, Some(signature("s3cret", &body)));
        assert!(headers.contains(&("Content-Type".into(), "application/json".into())));
        let (mut ch, log, _) = channel(vec![], None);
        ch.notify(&note()).unwrap();
        assert!(log.lock().unwrap()[0].0.iter().all(|(k, _)| k != SIGNATURE_HEADER));
        assert!(format!("{:?}", channel(vec![], Some("s3cret")).0).contains("[REDACTED]"));
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
    fn https_is_refused_clearly() {
        let e =
            WebhookChannel::new("https://hooks.example.com/x", None, Duration::from_secs(1), 0).unwrap_err();
        assert!(e.contains("https is not supported"), "{e}");
    }
}
