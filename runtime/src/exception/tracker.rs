//! Groups of exceptions keyed by fingerprint: counts, first and last seen, the last trace, a
//! sample — bounded, with the least recently seen group evicted (and counted) first.

use super::model::Exception;
use crate::caller::ids::{SpanId, TraceId};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// One group of exceptions that share a fingerprint.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The grouping key.
    pub fingerprint: String,
    /// The exception type (with its variant).
    pub type_name: String,
    /// The first message seen (a sample).
    pub sample_message: String,
    /// Where it was captured.
    pub site: String,
    /// How many times it happened, including those not exported (rate limit).
    pub count: u64,
    /// When it was first seen.
    pub first_seen: SystemTime,
    /// When it was last seen.
    pub last_seen: SystemTime,
    /// The trace of the last occurrence.
    pub last_trace_id: Option<TraceId>,
    /// The span of the last occurrence.
    pub last_span_id: Option<SpanId>,
    /// The top in-app frames' functions, innermost first (empty without a backtrace).
    pub top_frames: Vec<String>,
}

/// What the tracker made of one occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A new group (announce it once).
    New,
    /// A known group, under its rate limit: export this occurrence.
    Export,
    /// A known group over its rate limit: counted, not exported.
    Suppressed,
}

/// The tracker's limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Most groups kept.
    pub max_groups: usize,
    /// Most occurrences of one group exported per `window`.
    pub per_window: u32,
    /// The rate-limit window.
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_groups: 1000, per_window: 10, window: Duration::from_secs(60) }
    }
}

struct Entry {
    group: Group,
    window_start: SystemTime,
    in_window: u32,
}

/// The groups, bounded by [`Limits::max_groups`].
pub struct Tracker {
    limits: Limits,
    groups: HashMap<String, Entry>,
    evicted: u64,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(limits: Limits) -> Tracker {
        Tracker { limits, groups: HashMap::new(), evicted: 0 }
    }

    /// Replaces the limits; known groups are kept.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Counts one occurrence at `now` (without frames).
    #[cfg(test)]
    pub fn observe(&mut self, e: &Exception, now: SystemTime, trace: Option<(TraceId, SpanId)>) -> Seen {
        self.observe_with_frames(e, now, trace, Vec::new())
    }

    /// Counts one occurrence at `now` whose backtrace had these top in-app functions.
    pub fn observe_with_frames(
        &mut self,
        e: &Exception,
        now: SystemTime,
        trace: Option<(TraceId, SpanId)>,
        top_frames: Vec<String>,
    ) -> Seen {
        if let Some(entry) = self.groups.get_mut(&e.fingerprint) {
            let g = &mut entry.group;
            g.count += 1;
            g.last_seen = now;
            g.last_trace_id = trace.map(|t| t.0);
            g.last_span_id = trace.map(|t| t.1);
            if !top_frames.is_empty() {
                g.top_frames = top_frames;
            }
            if now.duration_since(entry.window_start).unwrap_or_default() >= self.limits.window {
                entry.window_start = now;
                entry.in_window = 0;
            }
            entry.in_window += 1;
            return if entry.in_window <= self.limits.per_window { Seen::Export } else { Seen::Suppressed };
        }
        if self.groups.len() >= self.limits.max_groups.max(1) {
            if let Some(oldest) =
                self.groups.iter().min_by_key(|(_, e)| e.group.last_seen).map(|(k, _)| k.clone())
            {
                self.groups.remove(&oldest);
                self.evicted += 1;
            }
        }
        let group = Group {
            fingerprint: e.fingerprint.clone(),
            type_name: e.type_name.clone(),
            sample_message: e.message.clone(),
            site: e.site.clone(),
            count: 1,
            first_seen: now,
            last_seen: now,
            last_trace_id: trace.map(|t| t.0),
            last_span_id: trace.map(|t| t.1),
            top_frames,
        };
        self.groups.insert(e.fingerprint.clone(), Entry { group, window_start: now, in_window: 1 });
        Seen::New
    }

    /// A snapshot of every group, most frequent first.
    pub fn groups(&self) -> Vec<Group> {
        let mut v: Vec<Group> = self.groups.values().map(|e| e.group.clone()).collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| b.last_seen.cmp(&a.last_seen)));
        v
    }

    /// How many times the group `fingerprint` happened (0 if unknown).
    pub fn count(&self, fingerprint: &str) -> u64 {
        self.groups.get(fingerprint).map_or(0, |e| e.group.count)
    }

    /// Groups evicted to stay within `max_groups`.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exc(fp: &str) -> Exception {
        Exception {
            type_name: "E".into(),
            message: format!("m {fp}"),
            chain: vec![],
            chain_truncated: false,
            site: "app".into(),
            fingerprint: fp.into(),
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn counts_and_sorts_by_count() {
        let mut t = Tracker::new(Limits::default());
        assert_eq!(t.observe(&exc("a"), at(0), None), Seen::New);
        assert_eq!(t.observe(&exc("b"), at(1), None), Seen::New);
        assert_eq!(t.observe(&exc("b"), at(2), Some((TraceId(7), SpanId(8)))), Seen::Export);
        let g = t.groups();
        assert_eq!(g[0].fingerprint, "b");
        assert_eq!(g[0].count, 2);
        assert_eq!(g[0].first_seen, at(1));
        assert_eq!(g[0].last_seen, at(2));
        assert_eq!(g[0].last_trace_id, Some(TraceId(7)));
        assert_eq!(g[1].count, 1);
    }

    #[test]
    fn bursts_are_counted_but_rate_limited() {
        let mut t = Tracker::new(Limits { per_window: 3, window: Duration::from_secs(60), max_groups: 10 });
        let seen: Vec<Seen> = (0..6).map(|i| t.observe(&exc("a"), at(i), None)).collect();
        assert_eq!(
            seen,
            [Seen::New, Seen::Export, Seen::Export, Seen::Suppressed, Seen::Suppressed, Seen::Suppressed]
        );
        assert_eq!(t.groups()[0].count, 6);
        // A new window exports again.
        assert_eq!(t.observe(&exc("a"), at(120), None), Seen::Export);
    }

    #[test]
    fn the_least_recently_seen_group_is_evicted_and_counted() {
        let mut t = Tracker::new(Limits { max_groups: 2, ..Limits::default() });
        t.observe(&exc("old"), at(0), None);
        t.observe(&exc("mid"), at(1), None);
        t.observe(&exc("old"), at(2), None); // "mid" is now the least recently seen
        t.observe(&exc("new"), at(3), None);
        let fps: Vec<String> = t.groups().into_iter().map(|g| g.fingerprint).collect();
        assert_eq!(fps.len(), 2);
        assert!(fps.contains(&"old".to_string()) && fps.contains(&"new".to_string()), "{fps:?}");
        assert_eq!(t.evicted(), 1);
    }
}
