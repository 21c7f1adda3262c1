//! The in-memory exporter, for tests (yours and ours).

use super::{ExportError, Exporter, FinishedSpan, LogEntry};
use std::sync::{Arc, Mutex};

/// Most spans (and, separately, log records) kept; older ones are discarded first.
const MAX_KEPT: usize = 1_000_000;

/// Keeps every span and log record in memory; clones share the same store.
#[derive(Clone, Debug, Default)]
pub struct MemoryExporter {
    inner: Arc<Mutex<Store>>,
}

#[derive(Debug, Default)]
struct Store {
    spans: Vec<FinishedSpan>,
    logs: Vec<LogEntry>,
}

impl MemoryExporter {
    /// An empty store.
    pub fn new() -> MemoryExporter {
        MemoryExporter::default()
    }
    /// The spans received so far (call [`crate::flush`] first to include the most recent).
    pub fn spans(&self) -> Vec<FinishedSpan> {
        self.inner.lock().map(|s| s.spans.clone()).unwrap_or_default()
    }
    /// The log records received so far.
    pub fn logs(&self) -> Vec<LogEntry> {
        self.inner.lock().map(|s| s.logs.clone()).unwrap_or_default()
    }
    /// Forgets everything received.
    pub fn clear(&self) {
        if let Ok(mut s) = self.inner.lock() {
            s.spans.clear();
            s.logs.clear();
        }
    }
}

impl Exporter for MemoryExporter {
    fn export(&mut self, spans: &[FinishedSpan], logs: &[LogEntry]) -> Result<(), ExportError> {
        let mut s = self.inner.lock().map_err(|_| ExportError("memory exporter poisoned".into()))?;
        s.spans.extend_from_slice(spans);
        s.logs.extend_from_slice(logs);
        if s.spans.len() > MAX_KEPT {
            let extra = s.spans.len() - MAX_KEPT;
            s.spans.drain(..extra);
        }
        if s.logs.len() > MAX_KEPT {
            let extra = s.logs.len() - MAX_KEPT;
            s.logs.drain(..extra);
        }
        Ok(())
    }
}
