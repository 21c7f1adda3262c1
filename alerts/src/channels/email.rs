//! The `email` channel: one plain-text mail per notification, over SMTP.
//!
//! The subject is the notification's title (`[FIRING:2] checkout_p99_latency (critical)`), the
//! body its readable rendering. SMTP is spoken in plain text (no STARTTLS): point it at a local
//! relay. A failure (refused, timed out, a rejected command) is counted as failed; there is no
//! retry.

use crate::notify::{AlertHandler, Notification};
use crate::smtp;
use std::time::{Duration, SystemTime};

/// Where and how to send mail.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The SMTP server's host name or address.
    pub host: String,
    /// Its port (25, or 587 for submission).
    pub port: u16,
    /// The sender: `alerts@example.com` or `Telemark <alerts@example.com>`.
    pub from: String,
    /// The recipients (at least one).
    pub to: Vec<String>,
    /// For AUTH PLAIN (none: no authentication).
    pub username: Option<String>,
    /// For AUTH PLAIN.
    pub password: Option<String>,
    /// The longest a whole exchange with the server may take.
    pub timeout: Duration,
}

impl Default for SmtpSettings {
    /// `localhost:25`, no sender, no recipient, no authentication, 10 s.
    fn default() -> Self {
        SmtpSettings {
            host: "localhost".into(),
            port: 25,
            from: String::new(),
            to: Vec::new(),
            username: None,
            password: None,
            timeout: Duration::from_secs(10),
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
            .finish()
    }
}

/// Mails each notification.
#[derive(Debug)]
pub struct EmailChannel {
    settings: SmtpSettings,
}

impl EmailChannel {
    /// An email channel; an error when there is no host, sender or recipient.
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
        Ok(EmailChannel { settings })
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
        smtp::send(&smtp::Mail {
            host: &s.host,
            port: s.port,
            from: &s.from,
            to: &s.to,
            username: s.username.as_deref(),
            password: s.password.as_deref(),
            message: &message,
            timeout: s.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_the_password_never_shown() {
        let ok = SmtpSettings { from: "a@x.org".into(), to: vec!["b@y.org".into()], ..Default::default() };
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
