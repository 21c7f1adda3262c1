//! The built-in alert channels, each an [`AlertHandler`](crate::notify::AlertHandler):
//!
//! - [`console`]: one readable block per notification on stderr;
//! - [`webhook`]: a JSON POST in the Alertmanager webhook (v4) shape, signed with HMAC-SHA256 when
//!   a secret is configured, with retries on 5xx and 429;
//! - [`email`]: a plain-text mail over SMTP;
//! - [`alertmanager`]: the alerts themselves, POSTed to a Prometheus Alertmanager's
//!   `/api/v2/alerts`, which then groups and routes them.
//!
//! The HTTP channels speak plain `http://` only (telemark carries no TLS stack); the email channel
//! speaks SMTP without STARTTLS. Each runs on its channel's own delivery thread.

pub mod alertmanager;
pub mod console;
pub mod email;
pub mod webhook;

pub use alertmanager::AlertmanagerChannel;
pub use console::ConsoleChannel;
pub use email::{EmailChannel, SmtpSettings};
pub use webhook::WebhookChannel;
