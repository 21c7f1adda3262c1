//! Exception tracking (`telemark::exceptions`): what is captured of an error, its stable fingerprint, the bounded tracker of
//! groups, and [`record`] for code that handles its errors itself.
//!
//! ```
//! let capture = telemark_runtime::testing::capture();
//! let err = std::io::Error::new(std::io::ErrorKind::NotFound, "user 42 not found");
//! telemark_runtime::exceptions::record(&err);
//! telemark_runtime::exceptions::record(&std::io::Error::new(std::io::ErrorKind::NotFound, "user 7 not found"));
//! let groups = telemark_runtime::exceptions::groups();
//! assert!(groups.iter().any(|g| g.count == 2 && g.type_name.ends_with("NotFound")));
//! # drop(capture);
//! ```

pub(crate) mod backtrace;
pub(crate) mod capture;
pub(crate) mod fingerprint;
pub(crate) mod model;
pub(crate) mod tracker;

pub(crate) use backtrace::inside_std as inside_std_backtrace;
#[cfg(feature = "anyhow")]
pub(crate) use backtrace::text_of as backtrace_text;
#[cfg(feature = "anyhow")]
pub(crate) use capture::Trace;
pub(crate) use capture::{
    capture_returned, configure, record_panic_message, PanicNote, Processor, Report, Subject, PENDING_EVENT,
};
pub use capture::{evicted, groups, ignored, record, record_dyn, record_panic, record_with_fingerprint};
pub(crate) use capture::{panic_message, pattern_error};
#[doc(hidden)]
pub use capture::{CaptureScope, CaptureSite, Scoped};
pub use tracker::Group;
pub(crate) use tracker::Limits;
