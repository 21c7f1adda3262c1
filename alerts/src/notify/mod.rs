//! Delivery of alerts: grouping, deduplication, repeats and resolved notifications (Alertmanager's
//! model), through channels behind the [`AlertHandler`] trait.
//!
//! The evaluator owns a [`Dispatcher`]. After each evaluation it passes the alerts that fire and
//! those that just resolved to [`Dispatcher::update`], and calls [`Dispatcher::tick`] (every
//! evaluation, or at [`Dispatcher::next_tick`]) to send what is due. Both only touch in-memory state
//! and hand notifications to the channels' queues with a non-blocking send: each channel has its
//! own delivery thread and a bounded queue, so a slow or dead webhook or SMTP server blocks neither
//! the evaluator, nor the other channels, nor instrumented code. What cannot be delivered is counted
//! ([`Dispatcher::stats`]); [`Dispatcher::settle`] waits until the channels are through what was
//! queued, for whoever reads the counters.
//!
//! # Grouping
//!
//! Alerts are grouped by **channel × alertname**: one group holds every alert of one rule name (on
//! any function, with any labels) for one channel, and one notification carries the whole group.
//! An alert's identity within its group is its complete label set ([`Alert::labels`]).
//!
//! - A new group waits `group_wait` before its first notification, so alerts that fire together
//!   are sent together.
//! - After that the group is looked at once per `group_interval`: if it changed since its last
//!   notification (an alert started firing, or one resolved), it is notified; so a changing group
//!   is notified at most once per `group_interval`.
//! - A group that did not change but still has firing alerts is notified again once
//!   `repeat_interval` has passed since its last notification.
//! - A resolved alert is sent once, with status `resolved` (the notification's status is `firing`
//!   while any of its alerts fires), and then forgotten. An alert that fired and resolved before
//!   it was ever notified is forgotten without a notification.
//! - Flapping does not spam: an alert that resolves and fires again before the group's next look
//!   is still firing as far as the channel knows, and yields nothing; one that resolves, is
//!   notified as resolved, and fires again waits for the next `group_interval` (the emptied group
//!   is kept for one `group_interval` for that).
//!
//! A handler may ask for timings of its own ([`AlertHandler::settings`]): the `alertmanager`
//! channel uses zero waits and a short repeat, since Alertmanager groups by itself and expects
//! firing alerts to be re-sent.

mod alert;
mod channel;

pub(crate) use alert::{rfc3339, rfc5322};
pub use alert::{Alert, AlertState, Notification};
use channel::{deliver, Channel, Counters};
pub use channel::{AlertHandler, ChannelStats, DeliveryStats, DEFAULT_QUEUE_CAPACITY};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How notifications are grouped and repeated (Alertmanager's route timings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchSettings {
    /// How long a new group waits before its first notification (default 30 s).
    pub group_wait: Duration,
    /// The least time between two notifications of a changing group (default 5 min).
    pub group_interval: Duration,
    /// After how long an unchanged group with firing alerts is notified again (default 4 h).
    pub repeat_interval: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        }
    }
}

/// Groups alerts into notifications and hands them to the channels' delivery threads.
///
/// See the [module documentation](self) for the grouping rules. `update` and `tick` never block:
/// they change in-memory state and queue notifications with a non-blocking send.
pub struct Dispatcher {
    settings: DispatchSettings,
    groups: Groups,
    channels: BTreeMap<String, Channel>,
    counters: BTreeMap<String, Arc<Counters>>,
    deadline: Arc<OnceLock<Instant>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("settings", &self.settings)
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .field("groups", &self.groups.groups.len())
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher with no channel yet.
    pub fn new(settings: DispatchSettings) -> Dispatcher {
        Dispatcher {
            settings,
            groups: Groups::default(),
            channels: BTreeMap::new(),
            counters: BTreeMap::new(),
            deadline: Arc::new(OnceLock::new()),
        }
    }

    /// Adds a channel with a queue of [`DEFAULT_QUEUE_CAPACITY`] notifications. It gets its own
    /// delivery thread; a channel added again under the same name replaces the previous one
    /// (whose thread finishes what it has queued).
    pub fn add_channel(&mut self, name: &str, handler: Box<dyn AlertHandler>) {
        self.add_channel_with_capacity(name, handler, DEFAULT_QUEUE_CAPACITY);
    }

    /// Adds a channel whose queue holds `capacity` notifications (at least 1): when it is full,
    /// new notifications for the channel are dropped and counted.
    pub fn add_channel_with_capacity(&mut self, name: &str, handler: Box<dyn AlertHandler>, capacity: usize) {
        let settings = handler.settings();
        let counters = self.counters.entry(name.to_string()).or_default().clone();
        let (tx, rx) = mpsc::sync_channel::<Notification>(capacity.max(1));
        let deadline = self.deadline.clone();
        let thread_name = format!("telemark-alert-{name}");
        let spawned = {
            let counters = counters.clone();
            std::thread::Builder::new()
                .name(thread_name)
                .spawn(move || deliver(handler, rx, &counters, &deadline))
        };
        match spawned {
            Ok(thread) => {
                self.channels
                    .insert(name.to_string(), Channel { tx: Some(tx), thread: Some(thread), settings });
            }
            Err(e) => {
                // No thread: the channel's notifications are dropped and counted.
                counters.set_error(format!("could not start the delivery thread: {e}"));
                self.channels.remove(name);
            }
        }
    }

    /// The names of the channels added.
    pub fn channel_names(&self) -> Vec<String> {
        self.channels.keys().cloned().collect()
    }

    /// Takes in one evaluation's result: the alerts that fire and those that just resolved.
    ///
    /// An alert is identified by its labels; a firing one that is already known replaces it
    /// (value, annotations). Alerts not passed keep their state: to end an alert, pass it once
    /// as `Resolved`. A resolved alert the dispatcher never saw firing is ignored.
    pub fn update(&mut self, alerts: &[Alert], now: Instant) {
        for a in alerts {
            let mut seen = BTreeSet::new();
            for ch in &a.channels {
                if !seen.insert(ch.as_str()) {
                    continue;
                }
                let s = self.settings_of(ch);
                self.groups.update(ch, a, s, now);
            }
        }
    }

    /// Sends the notifications due at `now` (the caller's clock: tests pass their own instants).
    pub fn tick(&mut self, now: Instant) {
        let settings = self.settings;
        let channels = &self.channels;
        let notes = self.groups.due(now, |ch| channels.get(ch).and_then(|c| c.settings).unwrap_or(settings));
        for n in notes {
            self.enqueue(n);
        }
    }

    /// When the next group is due (`None` when no group is waiting): calling [`tick`](Self::tick)
    /// before then sends nothing.
    pub fn next_tick(&self) -> Option<Instant> {
        self.groups.groups.values().map(|g| g.next_flush).min()
    }

    /// The delivery counters, in total and per channel.
    pub fn stats(&self) -> DeliveryStats {
        let mut out = DeliveryStats::default();
        for (name, c) in &self.counters {
            let s = c.snapshot(name);
            out.sent += s.sent;
            out.failed += s.failed;
            out.dropped += s.dropped;
            out.handler_panics += s.handler_panics;
            out.queued += s.queued;
            out.channels.push(s);
        }
        out
    }

    /// Waits until every channel's thread has finished with each notification queued before the
    /// call — delivered it, failed to (after the handler's retries and timeouts), or lost it to a
    /// panic — so that [`stats`](Self::stats) counts them all; returns whether they have. A flush
    /// barrier for programs and tests that read the counters: it sends nothing that is not due
    /// (that is [`tick`](Self::tick)'s), and answers as soon as the channels are through.
    ///
    /// `timeout` is a bound on failure: it is reached only when a channel is stuck in a delivery
    /// (a handler that does not return, a server that holds a request within the channel's own
    /// timeout), and then `false` says so. It blocks the caller, unlike `update` and `tick`: the
    /// thread that evaluates alerts does not call it.
    pub fn settle(&self, timeout: Duration) -> bool {
        self.settle_until(Instant::now() + timeout)
    }

    /// [`settle`](Self::settle) with a deadline.
    fn settle_until(&self, deadline: Instant) -> bool {
        // `accepted` only grows on this thread (in `enqueue`): these are the notifications queued
        // before the call, whichever thread of a channel (a replaced one's too) takes them.
        self.counters.values().all(|c| c.wait_finished(c.accepted.load(Relaxed), deadline))
    }

    /// Closes the queues and lets the delivery threads send what was queued until `deadline`;
    /// what is still queued then is dropped (counted), and a thread stuck in a delivery is left
    /// to finish on its own. Returns the counters as they are when it returns: at once when
    /// everything queued is through (as [`settle`](Self::settle) waits), at `deadline` otherwise.
    pub fn shutdown(mut self, deadline: Instant) -> DeliveryStats {
        let _ = self.deadline.set(deadline);
        for ch in self.channels.values_mut() {
            ch.tx = None;
        }
        self.settle_until(deadline);
        for ch in self.channels.values_mut() {
            if let Some(t) = ch.thread.take() {
                if t.is_finished() {
                    let _ = t.join();
                }
            }
        }
        self.stats()
    }

    fn settings_of(&self, channel: &str) -> DispatchSettings {
        self.channels.get(channel).and_then(|c| c.settings).unwrap_or(self.settings)
    }

    fn enqueue(&mut self, n: Notification) {
        let counters = self.counters.entry(n.channel.clone()).or_default().clone();
        let Some(tx) = self.channels.get(&n.channel).and_then(|c| c.tx.as_ref()) else {
            counters.dropped.fetch_add(1, Relaxed);
            counters.set_error(format!("no channel named `{}`", n.channel));
            return;
        };
        counters.queued.fetch_add(1, Relaxed);
        match tx.try_send(n) {
            Ok(()) => {
                counters.accepted.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                counters.queued.fetch_sub(1, Relaxed);
                counters.dropped.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {
                counters.queued.fetch_sub(1, Relaxed);
                counters.dropped.fetch_add(1, Relaxed);
                counters.set_error("the delivery thread has stopped".to_string());
            }
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // Without `shutdown`: close the queues, the threads finish what is queued on their own.
        for ch in self.channels.values_mut() {
            ch.tx = None;
        }
    }
}

type Labels = BTreeMap<String, String>;

/// The grouping state machine, with no thread and no clock of its own.
#[derive(Default)]
struct Groups {
    groups: BTreeMap<(String, String), Group>,
}

struct Group {
    /// The alerts known, firing or resolved-but-not-yet-notified.
    alerts: BTreeMap<Labels, Alert>,
    /// The label sets that were firing in the last notification.
    notified: BTreeSet<Labels>,
    last_sent: Option<Instant>,
    next_flush: Instant,
}

impl Groups {
    fn update(&mut self, channel: &str, a: &Alert, s: DispatchSettings, now: Instant) {
        let key = (channel.to_string(), a.name.clone());
        match a.state {
            AlertState::Firing => {
                let g = self.groups.entry(key).or_insert_with(|| Group {
                    alerts: BTreeMap::new(),
                    notified: BTreeSet::new(),
                    last_sent: None,
                    next_flush: now + s.group_wait,
                });
                g.alerts.insert(a.labels.clone(), a.clone());
            }
            AlertState::Resolved => {
                if let Some(g) = self.groups.get_mut(&key) {
                    if g.alerts.contains_key(&a.labels) || g.notified.contains(&a.labels) {
                        g.alerts.insert(a.labels.clone(), a.clone());
                    }
                }
            }
        }
    }

    /// The notifications due at `now`, in group order.
    fn due(&mut self, now: Instant, settings: impl Fn(&str) -> DispatchSettings) -> Vec<Notification> {
        let mut out = Vec::new();
        self.groups.retain(|(channel, name), g| {
            if g.next_flush > now {
                return true;
            }
            let s = settings(channel);
            let firing: BTreeSet<Labels> =
                g.alerts.iter().filter(|(_, a)| a.is_firing()).map(|(l, _)| l.clone()).collect();
            let announce_resolved = g.alerts.iter().any(|(l, a)| !a.is_firing() && g.notified.contains(l));
            let changed = firing != g.notified || announce_resolved;
            let repeat = !firing.is_empty() && g.last_sent.is_none_or(|t| now >= t + s.repeat_interval);
            if changed || repeat {
                let alerts: Vec<Alert> = g
                    .alerts
                    .iter()
                    .filter(|(l, a)| a.is_firing() || g.notified.contains(*l))
                    .map(|(_, a)| a.clone())
                    .collect();
                out.push(Notification::new(channel, name, alerts));
                g.last_sent = Some(now);
                g.notified = firing;
            }
            // Resolved alerts are sent once (or never, if they were never announced as firing).
            g.alerts.retain(|_, a| a.is_firing());
            g.next_flush = now + s.group_interval;
            // An empty group lives one more group_interval after its last notification, so an
            // alert that fires again right away waits like a change would (no flapping).
            !g.alerts.is_empty() || g.last_sent.is_some_and(|t| now < t + s.group_interval)
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::alert::fingerprint;
    use super::*;
    use crate::rule::{Metric, Severity};
    use std::sync::atomic::AtomicU64;
    use std::sync::{Condvar, Mutex};
    use std::time::UNIX_EPOCH;

    const S: DispatchSettings = DispatchSettings {
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
    };

    fn alert(name: &str, function: &str, state: AlertState) -> Alert {
        let labels = BTreeMap::from([
            ("alertname".to_string(), name.to_string()),
            ("function".to_string(), function.to_string()),
            ("severity".to_string(), "critical".to_string()),
            ("team".to_string(), "payments".to_string()),
        ]);
        Alert {
            name: name.to_string(),
            function: function.to_string(),
            severity: Severity::Critical,
            labels,
            annotations: BTreeMap::from([("summary".to_string(), format!("{function} is slow"))]),
            state,
            metric: Metric::Latency(crate::Quantile::P99),
            value: 0.31,
            starts_at: UNIX_EPOCH + Duration::from_secs(1_790_000_000),
            ends_at: (state == AlertState::Resolved).then(|| UNIX_EPOCH + Duration::from_secs(1_790_000_600)),
            channels: vec!["rec".to_string()],
        }
    }

    fn firing(function: &str) -> Alert {
        alert("slow", function, AlertState::Firing)
    }

    fn resolved(function: &str) -> Alert {
        alert("slow", function, AlertState::Resolved)
    }

    /// The state machine alone: what is due at each instant.
    struct Clocked {
        groups: Groups,
        t0: Instant,
    }

    impl Clocked {
        fn new() -> Clocked {
            Clocked { groups: Groups::default(), t0: Instant::now() }
        }
        fn at(&self, secs: u64) -> Instant {
            self.t0 + Duration::from_secs(secs)
        }
        fn update(&mut self, secs: u64, alerts: &[Alert]) {
            let now = self.at(secs);
            for a in alerts {
                for ch in &a.channels {
                    self.groups.update(ch, a, S, now);
                }
            }
        }
        fn tick(&mut self, secs: u64) -> Vec<Notification> {
            let now = self.at(secs);
            self.groups.due(now, |_| S)
        }
        /// Ticks every `step` seconds from `from` to `to` (inclusive), collecting (time, notification).
        fn run(&mut self, from: u64, to: u64, step: u64) -> Vec<(u64, Notification)> {
            let mut out = Vec::new();
            let mut t = from;
            while t <= to {
                out.extend(self.tick(t).into_iter().map(|n| (t, n)));
                t += step;
            }
            out
        }
    }

    fn functions(n: &Notification) -> Vec<(&str, AlertState)> {
        n.alerts.iter().map(|a| (a.function.as_str(), a.state)).collect()
    }

    #[test]
    fn a_new_group_waits_group_wait_and_alerts_that_fire_together_go_together() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        assert!(c.tick(0).is_empty());
        c.update(10, &[firing("a::f"), firing("a::g")]);
        assert!(c.tick(29).is_empty());
        let sent = c.tick(30);
        assert_eq!(sent.len(), 1);
        let n = &sent[0];
        assert_eq!(n.status, AlertState::Firing);
        assert_eq!(functions(n), [("a::f", AlertState::Firing), ("a::g", AlertState::Firing)]);
        assert_eq!(n.group_key, "rec:{alertname=\"slow\"}");
        assert_eq!(n.group_labels, BTreeMap::from([("alertname".into(), "slow".into())]));
        assert_eq!(n.common_labels.get("team").map(String::as_str), Some("payments"));
        assert!(!n.common_labels.contains_key("function"), "differs between the alerts");
        assert!(n.common_annotations.is_empty(), "the summaries differ");
        assert_eq!(n.title(), "[FIRING:2] slow (critical)");
    }

    #[test]
    fn dedup_one_notification_per_change_and_nothing_while_unchanged() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        // Evaluations every 10 s, ticks every 10 s, the same alert firing for an hour.
        let mut sent = Vec::new();
        for t in (0..=3600).step_by(10) {
            c.update(t, &[firing("a::f")]);
            sent.extend(c.tick(t).into_iter().map(|n| (t, n)));
        }
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, 30);
    }

    #[test]
    fn a_change_waits_for_the_group_interval() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        assert_eq!(c.tick(30).len(), 1);
        c.update(40, &[firing("a::g")]);
        let sent = c.run(40, 1000, 10);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, 330, "first look after group_interval from the last flush at 30");
        assert_eq!(functions(&sent[0].1), [("a::f", AlertState::Firing), ("a::g", AlertState::Firing)]);
    }

    #[test]
    fn repeat_interval_renotifies_an_unchanged_firing_group() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        let sent = c.run(0, 9 * 3600, 30);
        let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
        // Sent at 30; then looked at every 300 s; repeat once 4 h have passed since the last.
        assert_eq!(times, [30, 30 + 4 * 3600, 30 + 8 * 3600]);
        assert!(sent.iter().all(|(_, n)| n.status == AlertState::Firing && n.alerts.len() == 1));
    }

    #[test]
    fn a_resolved_alert_is_sent_once_then_forgotten() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f"), firing("a::g")]);
        assert_eq!(c.tick(30).len(), 1);
        c.update(100, &[resolved("a::f")]);
        let sent = c.run(100, 5000, 10);
        assert_eq!(sent.len(), 1, "{sent:?}");
        let (t, n) = &sent[0];
        assert_eq!(*t, 330);
        assert_eq!(n.status, AlertState::Firing, "a::g still fires");
        assert_eq!(functions(n), [("a::f", AlertState::Resolved), ("a::g", AlertState::Firing)]);
        assert!(n.alerts[0].ends_at.is_some());
        // Then a::g resolves: a resolved notification, and the group goes away.
        c.update(5000, &[resolved("a::g")]);
        let sent = c.run(5000, 20_000, 10);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].1.status, AlertState::Resolved);
        assert_eq!(sent[0].1.title(), "[RESOLVED] slow (critical)");
        assert_eq!(functions(&sent[0].1), [("a::g", AlertState::Resolved)]);
        assert!(c.groups.groups.is_empty(), "forgotten");
        // Resolving again (a late evaluation) sends nothing.
        c.update(20_000, &[resolved("a::g")]);
        assert!(c.run(20_000, 30_000, 10).is_empty());
    }

    #[test]
    fn an_alert_that_resolves_before_it_was_ever_sent_is_not_notified() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        c.update(10, &[resolved("a::f")]);
        assert!(c.run(0, 2000, 10).is_empty());
        assert!(c.groups.groups.is_empty());
        // Unknown resolved alerts are ignored too.
        c.update(2000, &[resolved("x::y")]);
        assert!(c.groups.groups.is_empty());
    }

    #[test]
    fn flapping_within_a_group_interval_is_silent() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        assert_eq!(c.tick(30).len(), 1);
        // Resolves and fires again every 20 s for an hour.
        let mut sent = Vec::new();
        for t in (40..3600).step_by(10) {
            let a = if (t / 20) % 2 == 0 { resolved("a::f") } else { firing("a::f") };
            c.update(t, &[a]);
            sent.extend(c.tick(t).into_iter().map(|n| (t, n)));
        }
        // Whatever the phase at each look, no more than one notification per group_interval.
        for w in sent.windows(2) {
            assert!(w[1].0 - w[0].0 >= 300, "{:?}", sent.iter().map(|(t, _)| t).collect::<Vec<_>>());
        }
        assert!(sent.len() <= 3600 / 300, "{}", sent.len());
    }

    #[test]
    fn resolve_then_fire_again_waits_for_the_group_interval() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        assert_eq!(c.tick(30).len(), 1);
        c.update(200, &[resolved("a::f")]);
        let sent = c.tick(330);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].status, AlertState::Resolved);
        // Fires again 5 s after the resolved notification: not a new group with a 30 s wait,
        // the same group's next look, a full group_interval later.
        c.update(335, &[firing("a::f")]);
        let sent = c.run(335, 2000, 5);
        assert_eq!(sent.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [630]);
        assert_eq!(sent[0].1.status, AlertState::Firing);
        // Long after a resolved notification, a new firing is a new group (group_wait).
        c.update(2000, &[resolved("a::f")]);
        let sent = c.run(2000, 3000, 5);
        assert_eq!(sent.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [2130]);
        assert!(c.groups.groups.is_empty());
        c.update(5000, &[firing("a::f")]);
        let sent = c.run(5000, 6000, 5);
        assert_eq!(sent.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [5030]);
    }

    #[test]
    fn groups_are_per_channel_and_alertname() {
        let mut c = Clocked::new();
        let mut a = firing("a::f");
        a.channels = vec!["one".into(), "two".into()];
        let mut b = alert("errors", "a::f", AlertState::Firing);
        b.channels = vec!["one".into()];
        c.update(0, &[a, b]);
        let sent = c.tick(30);
        let keys: Vec<&str> = sent.iter().map(|n| n.group_key.as_str()).collect();
        assert_eq!(
            keys,
            ["one:{alertname=\"errors\"}", "one:{alertname=\"slow\"}", "two:{alertname=\"slow\"}"]
        );
        assert!(sent.iter().all(|n| n.alerts.len() == 1));
    }

    #[test]
    fn a_firing_alert_keeps_its_latest_value() {
        let mut c = Clocked::new();
        c.update(0, &[firing("a::f")]);
        let mut a = firing("a::f");
        a.value = 0.75;
        c.update(20, &[a]);
        let sent = c.tick(30);
        assert_eq!(sent[0].alerts[0].value, 0.75);
    }

    #[test]
    fn fingerprint_is_fnv1a_over_the_labels() {
        // The end-to-end test compares with Alertmanager's own (tests/alert_delivery.rs).
        let labels = BTreeMap::from([("alertname".to_string(), "test".to_string())]);
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
        assert_eq!(fingerprint(&labels).len(), 16);
        assert_ne!(fingerprint(&labels), fingerprint(&BTreeMap::new()));
    }

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_535_492_870);
        assert_eq!(rfc3339(t), "2026-11-24T15:51:32.870Z");
        assert_eq!(rfc5322(t), "Tue, 24 Nov 2026 15:51:32 +0000");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc5322(UNIX_EPOCH + Duration::from_secs(951_782_400)), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn render_is_readable() {
        let n = Notification::new("rec", "slow", vec![resolved("a::f"), firing("a::g")]);
        let r = n.render();
        assert!(r.starts_with("[FIRING:1] slow (critical)\n"), "{r}");
        assert!(r.contains("- resolved slow on a::f  value=310ms  since 2026-09-21T14:13:20.000Z  until 2026-09-21T14:23:20.000Z\n"), "{r}");
        assert!(r.contains("- firing slow on a::g  value=310ms  since 2026-09-21T14:13:20.000Z\n"), "{r}");
        assert!(r.contains("    summary: a::g is slow\n"), "{r}");
        assert!(r.contains("    labels: severity=critical team=payments\n"), "{r}");
    }

    // The dispatcher with threads. No test sleeps or reads a clock to know what a channel's thread
    // did: they wait for it through `Dispatcher::settle` (the channels are through what was
    // queued) or a handler's own event, and show that nothing waited for a stuck channel by what
    // returned while the test still held that channel's handler.

    /// The failure bound of every wait below: reached only when what is awaited never comes.
    const WAIT: Duration = Duration::from_secs(60);

    /// A recording handler.
    #[derive(Clone, Default)]
    struct Recorder(Arc<(Mutex<Vec<Notification>>, Condvar)>);

    impl Recorder {
        fn handler(&self) -> Box<dyn AlertHandler> {
            let r = self.clone();
            Box::new(move |n: &Notification| {
                let (l, cv) = &*r.0;
                l.lock().unwrap().push(n.clone());
                cv.notify_all();
                Ok(())
            })
        }
        /// What it got so far.
        fn got(&self) -> Vec<Notification> {
            self.0 .0.lock().unwrap().clone()
        }
        /// Waits until it got `n` notifications (at most [`WAIT`]); all it got.
        fn wait(&self, n: usize) -> Vec<Notification> {
            let (l, cv) = &*self.0;
            let g = l.lock().unwrap();
            let (g, _) = cv.wait_timeout_while(g, WAIT, |v| v.len() < n).unwrap();
            g.clone()
        }
    }

    /// Where a handler waits until the test opens it (at most [`WAIT`]), counting who came in and
    /// who is still inside: while one is inside, its channel is provably in a delivery.
    #[derive(Clone, Default)]
    struct Gate(Arc<(Mutex<GateState>, Condvar)>);

    #[derive(Default)]
    struct GateState {
        open: bool,
        entered: u64,
        inside: u64,
    }

    impl Gate {
        /// A handler that waits at the gate, then delivers.
        fn handler(&self) -> Box<dyn AlertHandler> {
            let gate = self.clone();
            Box::new(move |_: &Notification| {
                gate.pass();
                Ok(())
            })
        }
        fn pass(&self) {
            let (l, cv) = &*self.0;
            let mut g = l.lock().unwrap();
            g.entered += 1;
            g.inside += 1;
            cv.notify_all();
            let (mut g, _) = cv.wait_timeout_while(g, WAIT, |g| !g.open).unwrap();
            g.inside -= 1;
            cv.notify_all();
        }
        /// Waits until `n` handlers came in (at most [`WAIT`]); how many did.
        fn wait_entered(&self, n: u64) -> u64 {
            let (l, cv) = &*self.0;
            let (g, _) = cv.wait_timeout_while(l.lock().unwrap(), WAIT, |g| g.entered < n).unwrap();
            g.entered
        }
        fn inside(&self) -> u64 {
            self.0 .0.lock().unwrap().inside
        }
        fn open(&self) {
            let (l, cv) = &*self.0;
            l.lock().unwrap().open = true;
            cv.notify_all();
        }
    }

    /// Runs `f` on a thread of its own and returns its result; fails the test when `f` has not
    /// returned within [`WAIT`] — how a caller that waits for a stuck channel shows (a failure,
    /// not a test that never ends).
    fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        match rx.recv_timeout(WAIT) {
            Ok(v) => v,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still blocked after {WAIT:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
        }
    }

    /// The counters once every channel is through what was queued.
    fn settled(d: &Dispatcher) -> DeliveryStats {
        assert!(d.settle(WAIT), "a channel is stuck: {:?}", d.stats());
        d.stats()
    }

    #[test]
    fn dispatcher_delivers_on_the_channels_thread_and_counts() {
        let rec = Recorder::default();
        let mut d = Dispatcher::new(S);
        d.add_channel("rec", rec.handler());
        let t0 = Instant::now();
        d.update(&[firing("a::f")], t0);
        d.tick(t0);
        assert_eq!(d.next_tick(), Some(t0 + S.group_wait));
        let s = settled(&d);
        assert!(rec.got().is_empty() && (s.sent, s.queued) == (0, 0), "nothing before group_wait: {s:?}");
        d.tick(t0 + S.group_wait);
        let s = settled(&d);
        let got = rec.got();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].channel, "rec");
        assert_eq!((s.sent, s.failed, s.dropped, s.handler_panics, s.queued), (1, 0, 0, 0, 0));
        assert_eq!(s.channel("rec").map(|c| c.sent), Some(1));
        assert_eq!(d.shutdown(Instant::now() + WAIT), s, "nothing left for shutdown");
    }

    #[test]
    fn a_panicking_handler_is_caught_counted_and_used_again() {
        let calls = Arc::new(AtomicU64::new(0));
        let c2 = calls.clone();
        let mut d = Dispatcher::new(DispatchSettings { group_wait: Duration::ZERO, ..S });
        d.add_channel(
            "rec",
            Box::new(move |_: &Notification| {
                if c2.fetch_add(1, Relaxed) == 0 {
                    panic!("boom in a handler");
                }
                Err("second call fails".to_string())
            }),
        );
        let t0 = Instant::now();
        d.update(&[firing("a::f")], t0);
        d.tick(t0);
        let s = settled(&d);
        assert_eq!((s.sent, s.failed, s.handler_panics, s.queued), (0, 0, 1, 0));
        assert!(s.channels[0].last_error.as_deref().unwrap_or("").contains("boom in a handler"));
        d.update(&[resolved("a::f")], t0);
        d.tick(t0 + S.group_interval);
        let s = settled(&d);
        assert_eq!((s.sent, s.failed, s.handler_panics), (0, 1, 1));
        assert_eq!(calls.load(Relaxed), 2, "the handler was used again");
        assert_eq!(s.channels[0].last_error.as_deref(), Some("second call fails"));
        assert_eq!(s.undelivered(), 2);
        d.shutdown(Instant::now() + WAIT);
    }

    #[test]
    fn a_blocked_channel_blocks_nothing_else_and_a_full_queue_drops() {
        let gate = Gate::default();
        let rec = Recorder::default();
        let mut d = Dispatcher::new(DispatchSettings {
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            ..S
        });
        d.add_channel_with_capacity("stuck", gate.handler(), 2);
        d.add_channel("rec", rec.handler());
        let t0 = Instant::now();
        // Six different alert names for both channels: six groups, six notifications each.
        let alerts: Vec<Alert> = (0..6)
            .map(|i| {
                let mut a = alert(&format!("a{i}"), "a::f", AlertState::Firing);
                a.channels = vec!["stuck".into(), "rec".into()];
                a
            })
            .collect();
        // The first notification gets stuck in the handler...
        d.update(&alerts[..1], t0);
        d.tick(t0);
        assert_eq!(gate.wait_entered(1), 1);
        // ...and the next five find a queue of two: update and tick return while the handler is
        // still held at the gate, which only the test opens.
        let d = returns("update + tick with a stuck channel", move || {
            d.update(&alerts[1..], t0);
            d.tick(t0);
            d
        });
        assert_eq!(gate.inside(), 1, "the stuck handler is still inside");
        assert_eq!(rec.wait(6).len(), 6, "the other channel is not held up");
        // One in the handler, two in the queue, the rest dropped (the stuck thread takes nothing
        // more while the gate is shut: these counts cannot move).
        let stuck = d.stats().channel("stuck").cloned().unwrap_or_default();
        assert_eq!((stuck.sent, stuck.dropped, stuck.queued), (0, 3, 3), "{stuck:?}");
        assert!(!d.settle(Duration::ZERO), "settle says a channel is not through");
        gate.open();
        let s = settled(&d);
        let stuck = s.channel("stuck").cloned().unwrap_or_default();
        assert_eq!((stuck.sent, stuck.dropped, stuck.queued), (3, 3, 0), "{stuck:?}");
        assert_eq!(s.channel("rec").map(|c| c.sent), Some(6));
        assert_eq!(gate.wait_entered(3), 3);
        assert_eq!(d.shutdown(Instant::now() + WAIT), s);
    }

    #[test]
    fn shutdown_gives_up_at_its_deadline() {
        let mut d = Dispatcher::new(DispatchSettings {
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            ..S
        });
        let gate = Gate::default();
        d.add_channel("slow", gate.handler());
        let t0 = Instant::now();
        let alerts: Vec<Alert> = (0..3)
            .map(|i| {
                let mut a = alert(&format!("a{i}"), "a::f", AlertState::Firing);
                a.channels = vec!["slow".into()];
                a
            })
            .collect();
        d.update(&alerts, t0);
        d.tick(t0);
        assert_eq!(gate.wait_entered(1), 1);
        // The handler is held until the test opens the gate: shutdown returning shows it did not
        // wait for it; it still waited for its deadline, as a delivery was running.
        let deadline = Instant::now() + Duration::from_millis(100);
        let s = returns("shutdown with a stuck channel", move || d.shutdown(deadline));
        assert_eq!(gate.inside(), 1, "shutdown returned while the delivery still runs");
        assert!(Instant::now() >= deadline, "not before its deadline while a delivery runs");
        assert_eq!((s.sent, s.dropped, s.queued), (0, 0, 3));
        // Let the thread go: it drops what is left, as the deadline has passed.
        gate.open();
    }

    /// An hour of evaluations every 10 s through a dispatcher with a recording handler, the alert
    /// flipping every `period` seconds; what the handler got.
    fn flap_for_an_hour(period: u64) -> Vec<Notification> {
        let rec = Recorder::default();
        let mut d = Dispatcher::new(S);
        d.add_channel("rec", rec.handler());
        let t0 = Instant::now();
        for t in (0..3600).step_by(10) {
            let now = t0 + Duration::from_secs(t);
            let a = if (t / period) % 2 == 0 { firing("a::f") } else { resolved("a::f") };
            d.update(&[a], now);
            d.tick(now);
        }
        let s = settled(&d);
        let got = rec.got();
        assert_eq!((s.sent, s.undelivered()), (got.len() as u64, 0));
        assert_eq!(d.shutdown(Instant::now() + WAIT), s);
        got
    }

    #[test]
    fn flapping_through_the_dispatcher_with_a_recording_handler() {
        // Firing 60 s, resolved 60 s, for an hour (60 changes): the first notification after
        // group_wait, then at most one per group_interval.
        let got = flap_for_an_hour(60);
        assert!(!got.is_empty() && got.len() <= 1 + 3600 / 300, "{} notifications", got.len());
        assert_eq!(got[0].status, AlertState::Firing);
        // Firing 20 s at a time: never firing through a group_wait, never notified (as with
        // Alertmanager: an alert resolved before its group's first notification is not sent).
        assert_eq!(flap_for_an_hour(20).len(), 0);
    }

    #[test]
    fn the_dispatcher_can_move_to_the_evaluators_thread() {
        fn send<T: Send>(_: &T) {}
        send(&Dispatcher::new(S));
    }

    #[test]
    fn a_channel_added_again_replaces_the_previous_one() {
        let (one, two) = (Recorder::default(), Recorder::default());
        let mut d = Dispatcher::new(DispatchSettings { group_wait: Duration::ZERO, ..S });
        d.add_channel("rec", one.handler());
        d.add_channel("rec", two.handler());
        assert_eq!(d.channel_names(), ["rec"]);
        let t0 = Instant::now();
        d.update(&[firing("a::f")], t0);
        d.tick(t0);
        let s = settled(&d);
        assert_eq!(two.got().len(), 1);
        assert!(one.got().is_empty(), "the replaced handler gets nothing");
        assert_eq!(s.sent, 1);
        assert_eq!(d.shutdown(Instant::now() + WAIT), s);
    }

    #[test]
    fn notifications_for_an_unknown_channel_are_dropped_and_counted() {
        let mut d = Dispatcher::new(DispatchSettings { group_wait: Duration::ZERO, ..S });
        let mut a = firing("a::f");
        a.channels = vec!["nowhere".into()];
        let t0 = Instant::now();
        d.update(&[a], t0);
        d.tick(t0);
        let s = d.stats();
        assert_eq!(s.dropped, 1);
        assert_eq!(
            s.channel("nowhere").and_then(|c| c.last_error.clone()).as_deref(),
            Some("no channel named `nowhere`")
        );
        assert!(d.settle(Duration::ZERO), "nothing was queued: settled at once");
    }

    #[test]
    fn a_handler_can_bring_its_own_timings() {
        struct Eager(Recorder);
        impl AlertHandler for Eager {
            fn notify(&mut self, n: &Notification) -> Result<(), String> {
                self.0.handler().notify(n)
            }
            fn settings(&self) -> Option<DispatchSettings> {
                Some(DispatchSettings {
                    group_wait: Duration::ZERO,
                    group_interval: Duration::ZERO,
                    repeat_interval: Duration::from_secs(60),
                })
            }
        }
        let rec = Recorder::default();
        let mut d = Dispatcher::new(S);
        d.add_channel("rec", Box::new(Eager(rec.clone())));
        let t0 = Instant::now();
        d.update(&[firing("a::f")], t0);
        d.tick(t0);
        d.tick(t0 + Duration::from_secs(30));
        d.tick(t0 + Duration::from_secs(60));
        d.update(&[resolved("a::f")], t0 + Duration::from_secs(61));
        d.tick(t0 + Duration::from_secs(61));
        settled(&d);
        let states: Vec<AlertState> = rec.got().iter().map(|n| n.status).collect();
        assert_eq!(states, [AlertState::Firing, AlertState::Firing, AlertState::Resolved]);
        d.shutdown(Instant::now() + WAIT);
    }
}
