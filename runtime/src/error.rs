//! Why `init` fails.

use crate::config::ConfigError;
use std::fmt;

/// Why `init` failed.
///
/// `Debug` prints what `Display` does (`telemark configuration: app.yaml:3:5: key ...`), so the
/// error reads as a message when `main` returns it through `?` (which prints `Error: {:?}`).
#[non_exhaustive]
pub enum Error {
    /// A configuration error (file, line, key).
    Config(ConfigError),
    /// An exporter could not be built (an invalid endpoint, say).
    Exporter(String),
    /// telemark's thread could not be started.
    Thread(std::io::Error),
    /// The alert rules or channels are wrong (an override naming no rule, a channel no rule can
    /// reach, …): the message names the config file, line and key, or the rule's source location.
    Alerts(String),
    /// `logging.install_subscriber` is on (the default) but the program already set a global
    /// `tracing` subscriber without telemark's layer: remove that `.init()`, or set
    /// `logging.install_subscriber: false` and add `telemark::tracing_layer()` to it.
    SubscriberAlreadySet,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "telemark configuration: {e}"),
            Error::Exporter(e) => write!(f, "telemark exporter: {e}"),
            Error::Thread(e) => write!(f, "telemark could not start its thread: {e}"),
            Error::Alerts(e) => write!(f, "telemark alerts: {e}"),
            Error::SubscriberAlreadySet => f.write_str(
                "telemark: a global `tracing` subscriber is already set (a `tracing_subscriber::fmt().init()` \
                 or `set_global_default` ran before `telemark::init`) and it has no `telemark::tracing_layer()`: \
                 its logs would carry no trace ids, no OTLP logs would be sent and `tracing` spans would be lost. \
                 Either remove that `.init()` and let telemark install its subscriber, or set \
                 `logging.install_subscriber: false` (`Config::install_subscriber(false)`) and add \
                 `.with(telemark::tracing_layer())` to your registry",
            ),
        }
    }
}

/// As [`Display`](fmt::Display), like `anyhow::Error`: a `main` returning it prints a message.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Thread(e) => Some(e),
            Error::Exporter(_) | Error::Alerts(_) | Error::SubscriberAlreadySet => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
