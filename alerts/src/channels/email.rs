//! The `email` channel: one plain-text mail per notification, over SMTP.
//!
//! The subject is the notification's title (`[FIRING:2] checkout_p99_latency (critical)`), the
//! body its readable rendering. TLS by [`SmtpTls`]: STARTTLS by default (required: a server that
//! does not offer it gets nothing), implicit TLS (SMTPS), or none for a local relay — where AUTH
//! is refused unless explicitly allowed, since the password would cross the network in clear.
//! Certificates are verified with the platform's roots, or only the CA of [`TlsFiles::ca`]; a
//! client certificate can be presented for mutual TLS. A failure that may go away (no
//! connection, a timeout, a 4xx reply) is retried up to `max_retries` times with backoff; a 5xx
//! reply, a TLS failure or a server without STARTTLS is not. Then it is counted as failed.

pub use crate::config::SmtpTls;
use crate::notify::{AlertHandler, Notification};
use crate::smtp;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use telemark_runtime::host::tls::{client_config, TlsFiles};

/// Where and how to send mail.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The SMTP server's host name or address.
    pub host: String,
    /// Its port ([`SmtpTls::default_port`]: 587 for STARTTLS, 465 for implicit TLS, 25 without).
    pub port: u16,
    /// The sender: `alerts@example.com` or `Telemark <alerts@example.com>`.
    pub from: String,
    /// The recipients (at least one).
    pub to: Vec<String>,
    /// For AUTH PLAIN (none: no authentication).
    pub username: Option<String>,
    /// For AUTH PLAIN.
    pub password: Option<String>,
    /// The longest a whole exchange with the server may take (TLS handshake included).
    pub timeout: Duration,
    /// How TLS is used (STARTTLS by default).
    pub tls: SmtpTls,
    /// The CA to trust instead of the platform's roots, and a client certificate for mutual TLS.
    pub tls_files: TlsFiles,
    /// With [`SmtpTls::None`], allows AUTH (the password then crosses the network in clear).
    pub allow_insecure_auth: bool,
}

impl Default for SmtpSettings {
    /// `localhost:587` with STARTTLS and the platform's roots, no sender, no recipient, no
    /// authentication, 10 s.
    fn default() -> Self {
        SmtpSettings {
            host: "localhost".into(),
            port: SmtpTls::StartTls.default_port(),
            from: String::new(),
            to: Vec::new(),
            username: None,
            password: None,
            timeout: Duration::from_secs(10),
            tls: SmtpTls::StartTls,
            tls_files: TlsFiles::default(),
            allow_insecure_auth: false,
        }
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("tls_files", &self.tls_files)
            .field("allow_insecure_auth", &self.allow_insecure_auth)
            .finish()
    }
}

/// Mails each notification.
pub struct EmailChannel {
    settings: SmtpSettings,
    /// The rustls configuration (none with [`SmtpTls::None`]).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Attempts after a failed one (for a failure that may go away: no connection, a timeout, a
    /// 4xx reply), and the backoff.
    retry: crate::http::RetryPolicy,
    sleep: Box<dyn FnMut(Duration) + Send>,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// An email channel; an error when there is no host, sender or recipient, when AUTH would be
    /// sent without TLS and that is not allowed, or when a TLS file is missing or wrong.
    pub fn new(settings: SmtpSettings) -> Result<Self, String> {
        if settings.host.trim().is_empty() {
            return Err("email channel: no SMTP host".into());
        }
        if smtp::address(&settings.from).is_empty() {
            return Err("email channel: no sender (`from`)".into());
        }
        if settings.to.iter().all(|t| smtp::address(t).is_empty()) {
            return Err("email channel: no recipient (`to`)".into());
        }
        let has_auth = settings.username.as_deref().is_some_and(|u| !u.is_empty());
        if settings.tls == SmtpTls::None && has_auth && !settings.allow_insecure_auth {
            let why = "email channel: AUTH without TLS would send the password in clear text; use \
                       STARTTLS or implicit TLS, or allow it explicitly (allow_insecure_auth)";
            return Err(why.into());
        }
        let tls = match settings.tls {
            SmtpTls::None => None,
            _ => {
                Some(Arc::new(client_config(&settings.tls_files).map_err(|e| format!("email channel: {e}"))?))
            }
        };
        let retry = crate::http::RetryPolicy { max_retries: 0, ..Default::default() };
        Ok(EmailChannel { settings, tls, retry, sleep: Box::new(std::thread::sleep) })
    }

    /// Retries a failure that may go away (no connection, a timeout, a 4xx reply; never a 5xx
    /// reply or a TLS failure) up to `max_retries` times, waiting `base` and then twice as long
    /// each time (jittered) up to `max_delay`. None by default.
    pub fn with_retries(mut self, max_retries: u32, base: Duration, max_delay: Duration) -> Self {
        self.retry = crate::http::RetryPolicy { max_retries, base, max_delay };
        self
    }

    /// Replaces the pause between attempts (tests count the pauses instead of taking them).
    pub fn with_sleep(mut self, sleep: impl FnMut(Duration) + Send + 'static) -> Self {
        self.sleep = Box::new(sleep);
        self
    }

    /// The subject of the mail for `n`.
    pub fn subject(n: &Notification) -> String {
        n.title()
    }

    /// The message (headers and body) sent for `n` at `date`.
    pub fn message(&self, n: &Notification, date: SystemTime) -> String {
        let s = &self.settings;
        smtp::compose(&s.from, &s.to, &EmailChannel::subject(n), &n.render(), date)
    }
}

impl AlertHandler for EmailChannel {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let s = &self.settings;
        let message = self.message(n, SystemTime::now());
        let mail = smtp::Mail {
            host: &s.host,
            port: s.port,
            from: &s.from,
            to: &s.to,
            username: s.username.as_deref(),
            password: s.password.as_deref(),
            message: &message,
            timeout: s.timeout,
            tls: s.tls,
            tls_config: self.tls.clone(),
            allow_insecure_auth: s.allow_insecure_auth,
        };
        let mut attempt = 0;
        let mut wait = self.retry.base;
        loop {
            match smtp::send(&mail) {
                Ok(()) => return Ok(()),
                Err(f) if f.transient && attempt < self.retry.max_retries => {
                    let jittered = wait.mul_f64(0.5 + crate::http::random_unit() / 2.0);
                    (self.sleep)(jittered.min(self.retry.max_delay));
                    wait = (wait * 2).min(self.retry.max_delay);
                    attempt += 1;
                }
                Err(f) if attempt > 0 => {
                    return Err(format!("{} (after {} attempts)", f.message, attempt + 1))
                }
                Err(f) => return Err(f.message),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_the_password_never_shown() {
        let ok = SmtpSettings { from: "a@x.org".into(), to: vec!["b@y.org".into()], ..Default::default() };
        assert_eq!((ok.tls, ok.port), (SmtpTls::StartTls, 587));
        let plain_auth = SmtpSettings {
            tls: SmtpTls::None,
            username: Some("u".into()),
            password: Some("p".into()),
            ..ok.clone()
        };
        assert!(EmailChannel::new(plain_auth.clone()).unwrap_err().contains("in clear text"));
        assert!(EmailChannel::new(SmtpSettings { allow_insecure_auth: true, ..plain_auth }).is_ok());
        let missing = TlsFiles { ca: Some("/nonexistent/ca.pem".into()), ..TlsFiles::default() };
        let e = EmailChannel::new(SmtpSettings { tls_files: missing, ..ok.clone() }).unwrap_err();
        assert!(e.contains("CA certificate `/nonexistent/ca.pem`"), "{e}");
        assert!(EmailChannel::new(ok.clone()).is_ok());
        assert!(EmailChannel::new(SmtpSettings { to: vec![], ..ok.clone() })
            .unwrap_err()
            .contains("recipient"));
        assert!(EmailChannel::new(SmtpSettings { from: " ".into(), ..ok.clone() })
            .unwrap_err()
            .contains("sender"));
        assert!(EmailChannel::new(SmtpSettings { host: "".into(), ..ok.clone() })
            .unwrap_err()
            .contains("host"));
        let with_pw = SmtpSettings { password: Some("hunter2".into()), ..ok };
        assert!(!format!("{with_pw:?}").contains("hunter2"));
    }
}
