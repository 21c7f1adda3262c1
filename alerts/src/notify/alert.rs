//! What is delivered: an [`Alert`] as the evaluator hands it over, a [`Notification`] (one group's
//! alerts for one channel) and how both read as text, with the dates their formats want.

use crate::rule::{format_threshold, Metric, Severity};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether an alert fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// The condition holds (and has held for the rule's `for`).
    Firing,
    /// The condition stopped holding.
    Resolved,
}

impl AlertState {
    /// `firing` or `resolved`, as Alertmanager writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert, as the evaluator hands it to the [`Dispatcher`](super::Dispatcher).
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// `alertname`: the rule's name.
    pub name: String,
    /// The watched function, `module::function`.
    pub function: String,
    /// How urgent.
    pub severity: Severity,
    /// The complete label set — `alertname`, `function`, `severity` and the rule's labels. It is
    /// the alert's identity.
    pub labels: BTreeMap<String, String>,
    /// `summary` and `description`, already rendered.
    pub annotations: BTreeMap<String, String>,
    /// Firing or resolved.
    pub state: AlertState,
    /// What the rule measures: it says how [`value`](Self::value) reads ([`Alert::value_text`]).
    pub metric: Metric,
    /// The metric's value in canonical units (a fraction for `error_rate`, seconds for latencies),
    /// for programs: at the latest evaluation while the alert fires, at the evaluation that
    /// resolved it once resolved; NaN when the metric had no value (no call in the window). People
    /// read it as [`Alert::value_text`]; no channel sends this number as is.
    pub value: f64,
    /// When it started firing.
    pub starts_at: SystemTime,
    /// When it resolved (`None` while it fires).
    pub ends_at: Option<SystemTime>,
    /// The names of the channels to notify.
    pub channels: Vec<String>,
}

impl Alert {
    /// Whether it fires.
    pub fn is_firing(&self) -> bool {
        self.state == AlertState::Firing
    }

    /// The value as a person reads it, in the metric's format — the one of the thresholds and of
    /// `{value}` in the annotations: `7.5%`, `312ms`, `0.667`; `n/a` when there is none.
    pub fn value_text(&self) -> String {
        format_threshold(self.metric, self.value)
    }

    /// The fingerprint of its label set, as Alertmanager computes it (FNV-1a 64 over the sorted
    /// names and values, 16 hex digits).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.labels)
    }
}

/// Alertmanager's label-set fingerprint (`model.LabelSet.Fingerprint`).
pub(crate) fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

/// What one channel is asked to deliver: one group's alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The channel's name (Alertmanager's `receiver`).
    pub channel: String,
    /// Identifies the group: `<channel>:{alertname="<name>"}`.
    pub group_key: String,
    /// `Firing` if any alert fires, else `Resolved`.
    pub status: AlertState,
    /// The firing alerts and those resolved since the last notification, sorted by labels.
    pub alerts: Vec<Alert>,
    /// The labels the group is made by: `alertname`.
    pub group_labels: BTreeMap<String, String>,
    /// The labels every alert has, with the same value.
    pub common_labels: BTreeMap<String, String>,
    /// The annotations every alert has, with the same value.
    pub common_annotations: BTreeMap<String, String>,
}

impl Notification {
    /// Builds a notification of these alerts (the status and the common labels follow from them).
    pub fn new(channel: &str, alertname: &str, alerts: Vec<Alert>) -> Notification {
        let status =
            if alerts.iter().any(Alert::is_firing) { AlertState::Firing } else { AlertState::Resolved };
        Notification {
            channel: channel.to_string(),
            group_key: group_key(channel, alertname),
            status,
            group_labels: BTreeMap::from([("alertname".to_string(), alertname.to_string())]),
            common_labels: common(alerts.iter().map(|a| &a.labels)),
            common_annotations: common(alerts.iter().map(|a| &a.annotations)),
            alerts,
        }
    }

    /// The group's alert name.
    pub fn alertname(&self) -> &str {
        self.group_labels.get("alertname").map_or("", String::as_str)
    }

    /// How many alerts fire.
    pub fn firing_count(&self) -> usize {
        self.alerts.iter().filter(|a| a.is_firing()).count()
    }

    /// How many alerts are resolved.
    pub fn resolved_count(&self) -> usize {
        self.alerts.len() - self.firing_count()
    }

    /// A one-line title, as Alertmanager's default templates write it:
    /// `[FIRING:2] checkout_p99_latency (critical)`.
    pub fn title(&self) -> String {
        let mut s = match self.status {
            AlertState::Firing => format!("[FIRING:{}] {}", self.firing_count(), self.alertname()),
            AlertState::Resolved => format!("[RESOLVED] {}", self.alertname()),
        };
        if let Some(sev) = self.common_labels.get("severity") {
            let _ = write!(s, " ({sev})");
        }
        s
    }

    /// A readable multi-line rendering: the title, then each alert with its function, value (in
    /// the metric's format, as in the annotations: [`Alert::value_text`]), start (and end),
    /// annotations and other labels.
    pub fn render(&self) -> String {
        let mut s = self.title();
        s.push('\n');
        for a in &self.alerts {
            let _ = write!(s, "- {} {} on {}", a.state.as_str(), a.name, a.function);
            let _ = write!(s, "  value={}  since {}", a.value_text(), rfc3339(a.starts_at));
            if let (AlertState::Resolved, Some(end)) = (a.state, a.ends_at) {
                let _ = write!(s, "  until {}", rfc3339(end));
            }
            s.push('\n');
            for (k, v) in &a.annotations {
                let _ = writeln!(s, "    {k}: {v}");
            }
            let extra: Vec<String> = a
                .labels
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "function"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !extra.is_empty() {
                let _ = writeln!(s, "    labels: {}", extra.join(" "));
            }
        }
        s
    }
}

fn group_key(channel: &str, alertname: &str) -> String {
    format!("{channel}:{{alertname={alertname:?}}}")
}

fn common<'a>(mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for m in maps {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}

/// RFC 3339 in UTC with milliseconds (`2026-11-24T15:51:32.870Z`); times before 1970 are written
/// as the epoch.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let nanos = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    telemark_runtime::host::format_time(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// RFC 5322 date for mail headers (`Tue, 24 Nov 2026 15:51:32 +0000`).
pub(crate) fn rfc5322(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (y, m, day, hh, mm, ss) = telemark_runtime::host::civil(secs);
    let weekday = DAYS[((secs / 86_400) % 7) as usize];
    let month = MONTHS[(m.clamp(1, 12) - 1) as usize];
    format!("{weekday}, {day:02} {month} {y:04} {hh:02}:{mm:02}:{ss:02} +0000")
}
