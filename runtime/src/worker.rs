//! A thread telemark owns that runs until it is told to stop by a deadline: the stop message
//! carries the deadline, and stopping waits for the thread at most until then (a thread stuck on
//! a dead backend is left to finish on its own rather than hold up the program's shutdown).

use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running thread and the way to stop it.
pub(crate) struct Worker {
    stop: Option<SyncSender<Instant>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Wraps a thread that ends when it receives a deadline on the channel `stop` sends to.
    pub(crate) fn new(stop: SyncSender<Instant>, thread: JoinHandle<()>) -> Worker {
        Worker { stop: Some(stop), thread: Some(thread) }
    }

    /// Tells the thread to finish by `deadline` and waits for it, at most until then.
    pub(crate) fn stop(mut self, deadline: Instant) {
        self.stop_by(deadline);
    }

    fn stop_by(&mut self, deadline: Instant) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.try_send(deadline);
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

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_by(Instant::now() + Duration::from_secs(1));
    }
}
