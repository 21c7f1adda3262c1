//! Helpers for your own tests: run telemark with an in-memory exporter and assert on what it got.
//!
//! ```
//! // With the `telemark` facade: `#[telemark::traced] fn checkout(..)` and `telemark::testing`.
//! let capture = telemark_runtime::testing::capture();
//! {
//!     let span = telemark_runtime::span("checkout");
//!     span.set_attribute("items", 3);
//! }
//! let span = capture.span("checkout").unwrap();
//! assert_eq!(span.attr("items").and_then(|v| v.as_i64()), Some(3));
//! ```

pub use crate::export::memory::MemoryExporter;
use crate::export::{FinishedSpan, LogEntry};
use crate::{Config, Guard};

/// A running telemark whose spans and logs land in memory. Dropping it shuts telemark down.
#[derive(Debug)]
pub struct Capture {
    exporter: MemoryExporter,
    _guard: Option<Guard>,
}

/// Starts telemark with an in-memory exporter only (no console, no OTLP), replacing any running
/// pipeline. Tests that share a process share this global pipeline: run them one at a time, or
/// tell your spans apart by name.
pub fn capture() -> Capture {
    capture_with(Config::<crate::config::NoAlerts>::default().console(false))
}

/// Like [`capture`], starting from your own configuration.
pub fn capture_with<A: crate::config::Extension>(config: Config<A>) -> Capture {
    let exporter = MemoryExporter::new();
    let mut config = config.exporter(exporter.clone());
    config.disabled = false;
    let guard = crate::init(config).ok();
    Capture { exporter, _guard: guard }
}

impl Capture {
    /// Flushes, then returns every span received.
    pub fn spans(&self) -> Vec<FinishedSpan> {
        crate::flush(crate::QUERY_WAIT);
        self.exporter.spans()
    }
    /// Flushes, then returns every log record received.
    pub fn logs(&self) -> Vec<LogEntry> {
        crate::flush(crate::QUERY_WAIT);
        self.exporter.logs()
    }
    /// Flushes, then returns the span named `name` (the last one, if several).
    pub fn span(&self, name: &str) -> Option<FinishedSpan> {
        self.spans().into_iter().rev().find(|s| s.name == name)
    }
    /// Forgets everything received so far.
    pub fn clear(&self) {
        crate::flush(crate::QUERY_WAIT);
        self.exporter.clear();
    }
}
