//! What crates built on the runtime use of it — the alerts service (`telemark-alerts`) — beyond
//! the public API: marking their threads as telemark's own, the query barrier, the config's
//! duration and YAML helpers, and shared formats. Not part of telemark's
//! API: the facade does not re-export it, and it changes with the crates that use it.

pub use crate::caller::clock::civil;
pub use crate::caller::thread::{is_internal, mark_internal};
pub use crate::collector::barrier;
/// The config's ranges, URL checks and redaction ([`crate::config`]'s one validator).
pub mod check {
    pub use crate::config::check::*;
}
pub use crate::config::{de_duration, de_span, from_yaml_text, scalar_text};
pub use crate::exception::capture::panic_message;
pub use crate::export::console::format_time;
pub use crate::metrics::prometheus::escape;
/// One rustls client configuration for every connection (`crate::tls`).
pub mod tls {
    pub use crate::tls::{client_config, default_roots_source, RootsSource, TlsFiles};
}
