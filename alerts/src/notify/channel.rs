//! The channels' side: the [`AlertHandler`] trait a channel implements, the thread and bounded
//! queue each channel delivers from, and the counters of what was delivered, failed and dropped.

use super::alert::Notification;
use super::DispatchSettings;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

/// A channel: delivers notifications somewhere (console, webhook, email, Alertmanager, or your
/// own). It runs on the channel's own thread, so it may block (within its timeouts); a panic in
/// it is caught and counted in [`DeliveryStats::handler_panics`], and the handler is used again
/// for the next notification.
pub trait AlertHandler: Send + 'static {
    /// Delivers one notification; an `Err` (after the handler's own retries) is counted as failed.
    fn notify(&mut self, n: &Notification) -> Result<(), String>;

    /// Grouping timings for this channel instead of the dispatcher's (`None`, the default).
    fn settings(&self) -> Option<DispatchSettings> {
        None
    }
}

impl<F> AlertHandler for F
where
    F: FnMut(&Notification) -> Result<(), String> + Send + 'static,
{
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        self(n)
    }
}

/// One channel's delivery counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStats {
    /// The channel's name.
    pub name: String,
    /// Notifications the handler delivered.
    pub sent: u64,
    /// Notifications the handler failed to deliver (after its retries).
    pub failed: u64,
    /// Notifications dropped without trying: the queue was full, no channel has this name, or
    /// the shutdown deadline passed before their turn.
    pub dropped: u64,
    /// Notifications whose handler panicked.
    pub handler_panics: u64,
    /// Notifications in the queue or being delivered right now.
    pub queued: u64,
    /// The last failure's message (or panic message).
    pub last_error: Option<String>,
}

/// Delivery counters since the dispatcher started, in total and per channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Notifications delivered.
    pub sent: u64,
    /// Notifications that failed after retries.
    pub failed: u64,
    /// Notifications dropped (full queue, unknown channel, shutdown deadline).
    pub dropped: u64,
    /// Notifications whose handler panicked.
    pub handler_panics: u64,
    /// Notifications queued or in delivery right now.
    pub queued: u64,
    /// Per channel, by name.
    pub channels: Vec<ChannelStats>,
}

impl DeliveryStats {
    /// One channel's counters.
    pub fn channel(&self, name: &str) -> Option<&ChannelStats> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Notifications that did not reach their channel: failed, dropped or lost to a panic.
    pub fn undelivered(&self) -> u64 {
        self.failed + self.dropped + self.handler_panics
    }
}

/// How many notifications a channel's queue holds before new ones are dropped.
pub const DEFAULT_QUEUE_CAPACITY: usize = 64;

#[derive(Default)]
pub(super) struct Counters {
    pub(super) sent: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) panics: AtomicU64,
    pub(super) queued: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    /// Notifications handed to the channel's queue so far (by the dispatcher's owner).
    pub(super) accepted: AtomicU64,
    /// Notifications the channel's thread has finished with so far — delivered, failed, lost to
    /// a panic, or dropped at the shutdown deadline — signalled on `progress` at each, after the
    /// counters above: what [`Dispatcher::settle`] waits on.
    pub(super) finished: Mutex<u64>,
    pub(super) progress: Condvar,
}

impl Counters {
    pub(super) fn snapshot(&self, name: &str) -> ChannelStats {
        ChannelStats {
            name: name.to_string(),
            sent: self.sent.load(Relaxed),
            failed: self.failed.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            handler_panics: self.panics.load(Relaxed),
            queued: self.queued.load(Relaxed),
            last_error: self.last_error.lock().map(|e| e.clone()).unwrap_or(None),
        }
    }

    pub(super) fn set_error(&self, e: String) {
        if let Ok(mut l) = self.last_error.lock() {
            *l = Some(e);
        }
    }

    /// The channel's thread is done with one notification (already counted as sent, failed,
    /// panicked or dropped).
    pub(super) fn finish_one(&self) {
        self.queued.fetch_sub(1, Relaxed);
        if let Ok(mut f) = self.finished.lock() {
            *f += 1;
        }
        self.progress.notify_all();
    }

    /// Waits until the channel's thread has finished with `n` notifications, at most until
    /// `deadline`; whether it has.
    pub(super) fn wait_finished(&self, n: u64, deadline: Instant) -> bool {
        let Ok(mut finished) = self.finished.lock() else {
            return false;
        };
        while *finished < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            finished = match self.progress.wait_timeout(finished, left) {
                Ok((f, _)) => f,
                Err(_) => return false,
            };
        }
        true
    }
}

pub(super) struct Channel {
    pub(super) tx: Option<SyncSender<Notification>>,
    pub(super) thread: Option<JoinHandle<()>>,
    pub(super) settings: Option<DispatchSettings>,
}

/// A channel's delivery thread.
pub(super) fn deliver(
    mut handler: Box<dyn AlertHandler>,
    rx: Receiver<Notification>,
    counters: &Counters,
    deadline: &OnceLock<Instant>,
) {
    telemark_runtime::host::mark_internal();
    while let Ok(n) = rx.recv() {
        if deadline.get().is_some_and(|d| Instant::now() >= *d) {
            counters.dropped.fetch_add(1, Relaxed);
            counters.finish_one();
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| handler.notify(&n))) {
            Ok(Ok(())) => {
                counters.sent.fetch_add(1, Relaxed);
            }
            Ok(Err(e)) => {
                counters.failed.fetch_add(1, Relaxed);
                counters.set_error(e);
            }
            Err(payload) => {
                let msg = telemark_runtime::host::panic_message(payload.as_ref());
                counters.panics.fetch_add(1, Relaxed);
                counters.set_error(format!("the handler panicked: {msg}"));
            }
        }
        counters.finish_one();
    }
}
