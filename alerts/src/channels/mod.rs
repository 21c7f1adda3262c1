//! The built-in alert channels, each an [`AlertHandler`](crate::notify::AlertHandler):
//!
//! - [`console`]: one readable block per notification on stderr;
//! - [`webhook`]: a JSON POST in the Alertmanager webhook (v4) shape, signed with HMAC-SHA256 when
//!   a secret is configured, with retries on 5xx and 429;
//! - [`email`]: a plain-text mail over SMTP;
//! - [`alertmanager`]: the alerts themselves, POSTed to a Prometheus Alertmanager's
//!   `/api/v2/alerts`, which then groups and routes them.
//!
//! The HTTP channels speak `https://` (verified with rustls) and `http://`; the email channel speaks
//! SMTP with STARTTLS (the default), implicit TLS, or none. [`TlsFiles`] sets a channel's CA and
//! client certificate. Each runs on its channel's own delivery thread.

pub mod alertmanager;
pub mod console;
pub mod email;
pub mod webhook;

pub use alertmanager::AlertmanagerChannel;
pub use console::ConsoleChannel;
pub use email::{EmailChannel, SmtpSettings};
/// The CA and client certificate files of a channel's TLS (`certificate`, `client_certificate`,
/// `client_key` in the config).
pub use telemark_runtime::host::tls::TlsFiles;
pub use webhook::WebhookChannel;
