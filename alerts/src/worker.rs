//! A thread telemark owns that runs until it is told to stop by a deadline: the stop message
//! carries the deadline, and stopping waits for the thread at most until then (a thread stuck on
//! a dead backend is left to finish on its own rather than hold up the program's shutdown).

use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running thread and the way to stop it: it ends when it receives the message `stop` makes of a
/// deadline on the channel `tx` sends to.
pub(crate) struct Worker<M> {
    tx: Option<SyncSender<M>>,
    stop: fn(Instant) -> M,
    thread: Option<JoinHandle<()>>,
}

impl<M> Worker<M> {
    /// Wraps a thread that takes messages `M`, of which `stop(deadline)` tells it to finish.
    pub(crate) fn with_messages(
        tx: SyncSender<M>,
        thread: JoinHandle<()>,
        stop: fn(Instant) -> M,
    ) -> Worker<M> {
        Worker { tx: Some(tx), stop, thread: Some(thread) }
    }

    /// Tells the thread to finish by `deadline` and waits for it, at most until then.
    pub(crate) fn stop(mut self, deadline: Instant) {
        self.stop_by(deadline);
    }

    fn stop_by(&mut self, deadline: Instant) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send((self.stop)(deadline));
        }
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl<M: Send> telemark_runtime::config::Service for Worker<M> {
    fn stop(self: Box<Self>, deadline: Instant) {
        (*self).stop(deadline);
    }
}

impl<M> Drop for Worker<M> {
    fn drop(&mut self) {
        self.stop_by(Instant::now() + Duration::from_secs(1));
    }
}
