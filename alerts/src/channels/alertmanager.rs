//! The `alertmanager` channel: the alerts themselves, POSTed to a Prometheus Alertmanager's
//! `/api/v2/alerts`, as Prometheus does. Alertmanager then groups, silences, inhibits and routes
//! them with its own configuration.
//!
//! Alertmanager expects a firing alert to be re-sent before its `endsAt`, or it resolves it on
//! its own. So this channel asks the dispatcher for timings of its own
//! ([`AlertHandler::settings`]): no group wait, every change at once, and what still fires
//! re-sent every `resend_interval` (1 min by default) with `endsAt` four resend intervals ahead —
//! if the process stops, its alerts resolve by themselves a few minutes later. A resolved alert
//! is sent with `endsAt` at its resolution time.

use crate::http::{Client, RetryPolicy, Transport, Url};
use crate::notify::{rfc3339, AlertHandler, AlertState, DispatchSettings, Notification};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};
use telemark_runtime::host::tls::TlsFiles;

/// POSTs alerts to Alertmanager's API (v2).
pub struct AlertmanagerChannel {
    url: Url,
    timeout: Duration,
    resend: Duration,
    generator_url: String,
    retry: RetryPolicy,
    transport: Box<dyn Transport>,
    sleep: Box<dyn FnMut(Duration) + Send>,
}

impl std::fmt::Debug for AlertmanagerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerChannel")
            .field("url", &crate::config::redact_api_url(&self.url.to_string()))
            .field("timeout", &self.timeout)
            .field("resend", &self.resend)
            .finish()
    }
}

impl AlertmanagerChannel {
    /// A channel to the Alertmanager at `url` (its base, `http://alertmanager:9093`; the path
    /// `/api/v2/alerts` is added unless the URL already ends with it), each request within
    /// `timeout`, with up to 2 retries on 5xx, 429 or no answer. `https://` (verified; see
    /// [`AlertmanagerChannel::with_tls`]) or `http://`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let base = Url::parse(url)?;
        let url = if base.path.trim_end_matches('/').ends_with("/api/v2/alerts") {
            base
        } else {
            base.with_path("/api/v2/alerts")
        };
        Ok(AlertmanagerChannel {
            url,
            timeout,
            resend: Duration::from_secs(60),
            generator_url: String::new(),
            retry: RetryPolicy { max_retries: 2, ..RetryPolicy::default() },
            transport: Box::new(Client::new()),
            sleep: Box::new(std::thread::sleep),
        })
    }

    /// Sets the TLS of `https://`: only the CA in `files.ca` is trusted (instead of the
    /// platform's roots), and `files.client_certificate` with `files.client_key` is presented for
    /// mutual TLS. A TLS failure sends nothing and is not retried. An error names the file and
    /// what is wrong with it.
    pub fn with_tls(mut self, files: &TlsFiles) -> Result<Self, String> {
        self.transport = Box::new(Client::with_tls(files)?);
        Ok(self)
    }

    /// How often alerts that still fire are sent again (1 min by default; at least 1 s). Their
    /// `endsAt` is four of these ahead.
    pub fn with_resend_interval(mut self, every: Duration) -> Self {
        self.resend = every.max(Duration::from_secs(1));
        self
    }

    /// Sets the retries and the backoff (first delay, longest delay).
    pub fn with_retries(mut self, max_retries: u32, base: Duration, max_delay: Duration) -> Self {
        self.retry = RetryPolicy { max_retries, base, max_delay };
        self
    }

    /// Sets each alert's `generatorURL` (empty by default).
    pub fn with_generator_url(mut self, url: &str) -> Self {
        self.generator_url = url.to_string();
        self
    }

    /// The URL it posts to.
    pub fn url(&self) -> String {
        self.url.to_string()
    }

    /// The JSON body sent for `n` at `now`.
    pub fn body(&self, n: &Notification, now: SystemTime) -> String {
        self.payload(n, now).to_string()
    }

    fn payload(&self, n: &Notification, now: SystemTime) -> Value {
        let alerts: Vec<Value> = n
            .alerts
            .iter()
            .map(|a| {
                let ends_at = match a.state {
                    AlertState::Firing => now + self.resend * 4,
                    AlertState::Resolved => a.ends_at.unwrap_or(now),
                };
                // Alertmanager's postable alert has no value field: the value is in the annotations,
                // in the metric's format (`Alert::value_text`).
                json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(ends_at),
                    "generatorURL": self.generator_url,
                })
            })
            .collect();
        Value::Array(alerts)
    }

    #[cfg(test)]
    fn with_transport(mut self, t: impl Transport + 'static) -> Self {
        self.transport = Box::new(t);
        self.sleep = Box::new(|_| {});
        self
    }
}

impl AlertHandler for AlertmanagerChannel {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let body = self.body(n, SystemTime::now()).into_bytes();
        let headers = [("Content-Type", "application/json")];
        let (url, timeout, transport) = (&self.url, self.timeout, &mut self.transport);
        self.retry
            .run(|| transport.send("POST", url, &headers, &body, timeout), &mut *self.sleep)
            .map(|_| ())
            .map_err(|e| {
                format!("alertmanager {}: {e}", crate::config::redact_api_url(&self.url.to_string()))
            })
    }

    fn settings(&self) -> Option<DispatchSettings> {
        Some(DispatchSettings {
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            repeat_interval: self.resend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpError, Response};
    use crate::notify::Alert;
    use crate::Severity;
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    fn alert(state: AlertState) -> Alert {
        Alert {
            name: "slow".into(),
            function: "shop::checkout".into(),
            severity: Severity::Warning,
            labels: BTreeMap::from([
                ("alertname".into(), "slow".into()),
                ("severity".into(), "warning".into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), "slow".into())]),
            state,
            metric: crate::Metric::Latency(crate::Quantile::P99),
            value: 1.0,
            starts_at: UNIX_EPOCH + Duration::from_secs(1_795_535_000),
            ends_at: (state == AlertState::Resolved).then(|| UNIX_EPOCH + Duration::from_secs(1_795_535_100)),
            channels: vec!["am".into()],
        }
    }

    #[test]
    fn urls() {
        let c = AlertmanagerChannel::new("http://127.0.0.1:9093", Duration::from_secs(1)).unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:9093/api/v2/alerts");
        let c = AlertmanagerChannel::new("http://am:9093/am/", Duration::from_secs(1)).unwrap();
        assert_eq!(c.url(), "http://am:9093/am/api/v2/alerts");
        let c = AlertmanagerChannel::new("http://am:9093/api/v2/alerts", Duration::from_secs(1)).unwrap();
        assert_eq!(c.url(), "http://am:9093/api/v2/alerts");
        let c = AlertmanagerChannel::new("https://am", Duration::from_secs(1)).unwrap();
        assert_eq!(c.url(), "https://am/api/v2/alerts");
        assert!(AlertmanagerChannel::new("ftp://am", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn the_body_is_an_array_of_postable_alerts() {
        let c = AlertmanagerChannel::new("http://127.0.0.1:9093", Duration::from_secs(1))
            .unwrap()
            .with_resend_interval(Duration::from_secs(30))
            .with_generator_url("http://app/alerts");
        let n = Notification::new("am", "slow", vec![alert(AlertState::Firing), alert(AlertState::Resolved)]);
        let now = UNIX_EPOCH + Duration::from_secs(1_795_535_200);
        let v: Value = serde_json::from_str(&c.body(&n, now)).unwrap();
        let firing = json!({
            "labels": {"alertname": "slow", "severity": "warning"},
            "annotations": {"summary": "slow"},
            "startsAt": "2026-11-24T15:43:20.000Z",
            "endsAt": "2026-11-24T15:48:40.000Z",
            "generatorURL": "http://app/alerts",
        });
        assert_eq!(v[0], firing, "endsAt four resend intervals ahead");
        assert_eq!(v[1]["endsAt"], "2026-11-24T15:45:00.000Z", "the resolution time");
        assert_eq!(
            c.settings(),
            Some(DispatchSettings {
                group_wait: Duration::ZERO,
                group_interval: Duration::ZERO,
                repeat_interval: Duration::from_secs(30)
            })
        );
    }

    struct Script(Vec<u16>, usize);
    impl Transport for Script {
        fn send(
            &mut self,
            _: &str,
            _: &Url,
            _: &[(&str, &str)],
            _: &[u8],
            _: Duration,
        ) -> Result<Response, HttpError> {
            self.1 += 1;
            let status = if self.0.is_empty() { 200 } else { self.0.remove(0) };
            Ok(Response { status, ..Default::default() })
        }
    }

    #[test]
    fn retries_like_the_webhook() {
        let n = Notification::new("am", "slow", vec![alert(AlertState::Firing)]);
        let mut c = AlertmanagerChannel::new("http://127.0.0.1:9", Duration::from_secs(1))
            .unwrap()
            .with_transport(Script(vec![503, 500], 0));
        assert_eq!(c.notify(&n), Ok(()));
        let mut c = AlertmanagerChannel::new("http://127.0.0.1:9", Duration::from_secs(1))
            .unwrap()
            .with_transport(Script(vec![400], 0));
        assert_eq!(c.notify(&n), Err("alertmanager http://127.0.0.1:9/api/v2/alerts: HTTP 400".into()));
    }
}
