//! Exception tracking (the groundwork of `#[capture_exceptions]`): what is captured of an error,
//! its stable fingerprint, and the bounded tracker of groups.
//!
//! Not wired into spans, logs or the macros yet.

pub mod capture;
pub mod fingerprint;
pub mod tracker;

pub use capture::{Exception, MAX_CHAIN};
pub use fingerprint::normalize;
pub use tracker::{Group, Limits, Seen, Tracker};
