//! The in-process evaluator: Prometheus semantics over the per-function metrics.
//!
//! Every evaluation takes a snapshot of the cumulative counters and keeps it as long as the longest
//! window needs. A rule's metric over its window is the difference between now and the last
//! snapshot at or before `now - window` (zero when the program is younger than the window: the
//! counters start at zero), so `increase` is exact to one evaluation interval and `rate` is the
//! increase divided by the window. Latency quantiles use Prometheus' `histogram_quantile`
//! algorithm on the same buckets the Prometheus endpoint exports, so a rule exported with
//! `prometheus_rules()` and the evaluator here agree.
//!
//! A rule on a metric that [takes `min_calls`](Metric::takes_min_calls) (`error_rate`, the
//! latency quantiles) holds only when the window also has at least that many calls
//! ([`Rule::min_calls_in_force`]): an error rate of 100% over one call is no reason to fire. The
//! exported Prometheus rule has the same condition (`… and sum(increase(calls[W])) >= N`).
//!
//! States follow Prometheus: inactive → pending (while the condition has held for less than
//! `for`) → firing → resolved (when it stops holding, then inactive again).

use crate::rule::{Metric, Quantile, Rule};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};
use telemark_runtime::metrics::{FunctionMetrics, BOUNDS_NS, BUCKETS};

/// The counters of one function at one evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
struct Counters {
    calls: [u64; 3],
    buckets: [u64; BUCKETS],
    exceptions: u64,
}

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The condition holds, for less than `for` so far.
    Pending,
    /// The condition has held for `for`.
    Firing,
}

/// A rule whose condition holds: pending or firing.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveAlert {
    /// The rule.
    pub rule: Rule,
    /// Pending or firing.
    pub state: State,
    /// When the condition started to hold.
    pub active_since: SystemTime,
    /// When it started firing.
    pub firing_since: Option<SystemTime>,
    /// The metric's value at the last evaluation (canonical units).
    pub value: f64,
}

/// What one evaluation changed.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Started firing.
    Fired(ActiveAlert),
    /// Still firing (with the latest value).
    StillFiring(ActiveAlert),
    /// Stopped firing.
    Resolved {
        /// The alert as it was at its last evaluation while firing (its `value` is the last one
        /// for which the condition held).
        alert: ActiveAlert,
        /// The metric's value at the evaluation that resolved it, for which the condition no
        /// longer holds (canonical units); NaN when the metric had no value then (a ratio or a
        /// quantile over a window with no call).
        value: f64,
        /// When it resolved.
        at: SystemTime,
    },
}

struct Tracked {
    state: State,
    active_since: SystemTime,
    pending_since: Instant,
    firing_since: Option<SystemTime>,
    value: f64,
}

/// Evaluates rules over snapshots of the metrics, on a clock the caller supplies.
pub struct Evaluator {
    rules: Vec<Rule>,
    history: VecDeque<(Instant, HashMap<String, Counters>)>,
    keep: Duration,
    tracked: HashMap<usize, Tracked>,
}

impl Evaluator {
    /// An evaluator of `rules` (disabled ones are skipped).
    pub fn new(rules: Vec<Rule>) -> Evaluator {
        let rules: Vec<Rule> = rules.into_iter().filter(|r| !r.disabled).collect();
        let keep = rules.iter().map(|r| r.window).max().unwrap_or_default();
        Evaluator { rules, history: VecDeque::new(), keep, tracked: HashMap::new() }
    }

    /// The rules evaluated.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// One evaluation at `now` (`wall` is the same moment on the wall clock) of the cumulative
    /// `metrics` and per-function `exceptions`; returns what changed, and what still fires.
    pub fn evaluate(
        &mut self,
        now: Instant,
        wall: SystemTime,
        metrics: &[FunctionMetrics],
        exceptions: &[(String, u64)],
    ) -> Vec<Transition> {
        let mut current: HashMap<String, Counters> = HashMap::new();
        for m in metrics {
            let c = current.entry(m.function.to_string()).or_default();
            for k in 0..3 {
                c.calls[k] += m.calls[k];
            }
            for k in 0..BUCKETS {
                c.buckets[k] += m.buckets[k];
            }
        }
        for (f, n) in exceptions {
            current.entry(f.clone()).or_default().exceptions = *n;
        }
        let mut out = Vec::new();
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            let now_c = current.get(rule.function.as_ref()).cloned().unwrap_or_default();
            let base = self.baseline(now, rule.window, &rule.function);
            let value = measure(rule.metric, rule.window, &now_c, &base);
            let enough_calls = rule.min_calls_in_force().is_none_or(|n| calls(&now_c, &base) >= n as f64);
            let holds = enough_calls && !value.is_nan() && rule.op.holds(value, rule.threshold);
            match (holds, self.tracked.get_mut(&i)) {
                (true, Some(t)) => {
                    t.value = value;
                    if t.state == State::Pending
                        && now.saturating_duration_since(t.pending_since) >= rule.for_
                    {
                        t.state = State::Firing;
                        t.firing_since = Some(wall);
                        out.push(Transition::Fired(active(rule, t)));
                    } else if t.state == State::Firing {
                        out.push(Transition::StillFiring(active(rule, t)));
                    }
                }
                (true, None) => {
                    let mut t = Tracked {
                        state: State::Pending,
                        active_since: wall,
                        pending_since: now,
                        firing_since: None,
                        value,
                    };
                    if rule.for_.is_zero() {
                        t.state = State::Firing;
                        t.firing_since = Some(wall);
                        out.push(Transition::Fired(active(rule, &t)));
                    }
                    self.tracked.insert(i, t);
                }
                (false, Some(_)) => {
                    if let Some(t) = self.tracked.remove(&i) {
                        if t.state == State::Firing {
                            out.push(Transition::Resolved { alert: active(rule, &t), value, at: wall });
                        }
                    }
                }
                (false, None) => {}
            }
        }
        self.history.push_back((now, current));
        // Keep the newest snapshot at or before `now - keep` (the baseline of the longest window).
        while self.history.len() > 2
            && self.history.get(1).is_some_and(|(t, _)| now.saturating_duration_since(*t) >= self.keep)
        {
            self.history.pop_front();
        }
        out
    }

    /// Pending and firing alerts.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let mut v: Vec<ActiveAlert> =
            self.tracked.iter().filter_map(|(i, t)| self.rules.get(*i).map(|r| active(r, t))).collect();
        v.sort_by(|a, b| (&a.rule.function, &a.rule.name).cmp(&(&b.rule.function, &b.rule.name)));
        v
    }

    /// The counters at the last snapshot at or before `now - window`; zero if there is none.
    fn baseline(&self, now: Instant, window: Duration, function: &str) -> Counters {
        let Some(cut) = now.checked_sub(window) else { return Counters::default() };
        self.history
            .iter()
            .rev()
            .find(|(t, _)| *t <= cut)
            .and_then(|(_, m)| m.get(function).cloned())
            .unwrap_or_default()
    }
}

fn active(rule: &Rule, t: &Tracked) -> ActiveAlert {
    ActiveAlert {
        rule: rule.clone(),
        state: t.state,
        active_since: t.active_since,
        firing_since: t.firing_since,
        value: t.value,
    }
}

/// The calls over the window (every outcome).
fn calls(now: &Counters, base: &Counters) -> f64 {
    (0..3).map(|k| now.calls[k].saturating_sub(base.calls[k]) as f64).sum()
}

/// A rule's metric over its window; NaN when undefined (a ratio or quantile with no calls).
fn measure(metric: Metric, window: Duration, now: &Counters, base: &Counters) -> f64 {
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64;
    let calls = calls(now, base);
    let failed = d(now.calls[1], base.calls[1]) + d(now.calls[2], base.calls[2]);
    match metric {
        Metric::Calls => calls,
        Metric::Errors => failed,
        Metric::Rate => calls / window.as_secs_f64().max(f64::MIN_POSITIVE),
        Metric::ErrorRate => {
            if calls == 0.0 {
                f64::NAN
            } else {
                failed / calls
            }
        }
        Metric::Exceptions => d(now.exceptions, base.exceptions),
        Metric::Latency(q) => {
            let counts: [f64; BUCKETS] = std::array::from_fn(|k| d(now.buckets[k], base.buckets[k]));
            histogram_quantile(q, &counts)
        }
    }
}

/// Prometheus' `histogram_quantile` on per-bucket counts (upper bounds [`BOUNDS_NS`], then
/// `+Inf`), in seconds: linear interpolation inside the bucket the rank falls in, 0 as the lower
/// bound of the first bucket, and the highest finite bound when the rank falls in `+Inf`.
pub fn histogram_quantile(q: Quantile, counts: &[f64; BUCKETS]) -> f64 {
    let total: f64 = counts.iter().sum();
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q.value() * total;
    let mut cumulative = 0.0;
    for (b, c) in counts.iter().enumerate() {
        let before = cumulative;
        cumulative += c;
        if cumulative >= rank {
            if b == BUCKETS - 1 {
                return BOUNDS_NS[BUCKETS - 2] as f64 / 1e9;
            }
            let end = BOUNDS_NS[b] as f64 / 1e9;
            let start = if b == 0 { 0.0 } else { BOUNDS_NS[b - 1] as f64 / 1e9 };
            if *c == 0.0 {
                return end;
            }
            return start + (end - start) * ((rank - before) / c);
        }
    }
    BOUNDS_NS[BUCKETS - 2] as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Op, Origin, Severity};
    use std::borrow::Cow;

    fn rule(metric: Metric, op: Op, threshold: f64, window: u64, for_: u64) -> Rule {
        Rule {
            name: Cow::Borrowed("r"),
            function: Cow::Borrowed("app::f"),
            metric,
            op,
            threshold,
            window: Duration::from_secs(window),
            for_: Duration::from_secs(for_),
            severity: Severity::Warning,
            notify: vec![],
            summary: None,
            description: None,
            min_calls: None,
            labels: vec![],
            origin: Origin::Config { file: None, line: None },
            disabled: false,
        }
    }

    fn m(ok: u64, err: u64, latency_ns: u64) -> FunctionMetrics {
        let mut buckets = [0; BUCKETS];
        buckets[telemark_runtime::metrics::bucket(latency_ns)] = ok + err;
        FunctionMetrics {
            function: "app::f",
            module: "app",
            calls: [ok, err, 0],
            buckets,
            sum: Duration::ZERO,
            exceptions: 0,
        }
    }

    /// Runs evaluations every 15 s of a controlled clock; `series(i)` is the cumulative metrics at
    /// step `i`. Returns, per step, the names of the transitions.
    fn run(r: Rule, steps: usize, series: impl Fn(usize) -> FunctionMetrics) -> Vec<&'static str> {
        let mut e = Evaluator::new(vec![r]);
        let t0 = Instant::now();
        let w0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        (0..steps)
            .map(|i| {
                let step = Duration::from_secs(15 * i as u64);
                let tr = e.evaluate(t0 + step, w0 + step, &[series(i)], &[]);
                match tr.first() {
                    Some(Transition::Fired(_)) => "fired",
                    Some(Transition::StillFiring(_)) => "firing",
                    Some(Transition::Resolved { .. }) => "resolved",
                    None if e.active().iter().any(|a| a.state == State::Pending) => "pending",
                    None => "-",
                }
            })
            .collect()
    }

    #[test]
    fn error_rate_goes_pending_then_fires_then_resolves() {
        // 10 calls per step; from step 2 to 7, 5 of them fail; window 30 s (2 steps), for 30 s.
        let r = rule(Metric::ErrorRate, Op::Gt, 0.2, 30, 30);
        let got = run(r, 14, |i| {
            let failing = (2..8).filter(|s| *s <= i).count() as u64 * 5;
            m(10 * i as u64 - failing, failing, 1_000_000)
        });
        assert_eq!(
            got,
            [
                "-", "-", "pending", "pending", "fired", "firing", "firing", "firing", "firing", "resolved",
                "-", "-", "-", "-"
            ]
        );
    }

    #[test]
    fn for_zero_fires_at_once_and_no_calls_is_no_ratio() {
        let mut r = rule(Metric::ErrorRate, Op::Gt, 0.0, 30, 0);
        r.min_calls = Some(1);
        assert_eq!(run(r, 3, |i| m(0, i as u64, 1_000)), ["-", "fired", "firing"], "no calls yet at step 0");
        let idle = rule(Metric::ErrorRate, Op::Ge, 0.0, 30, 0);
        assert_eq!(run(idle, 2, |_| m(0, 0, 1_000)), ["-", "-"], "0/0 is not a value");
    }

    #[test]
    fn min_calls_holds_back_ratios_and_quantiles_not_counts() {
        // Every call fails and takes 300 ms, one call per 15 s step, window 60 s: 1, 2, 3, 4, 4…
        // calls in the window.
        let series = |i: usize| m(0, i as u64, 300_000_000);
        let mut r = rule(Metric::ErrorRate, Op::Gt, 0.05, 60, 0);
        assert_eq!(r.min_calls_in_force(), Some(crate::DEFAULT_MIN_CALLS));
        assert_eq!(run(r.clone(), 6, series), ["-"; 6], "never 10 calls in the window");
        r.min_calls = Some(3);
        assert_eq!(run(r, 6, series), ["-", "-", "-", "fired", "firing", "firing"]);
        let mut p99 = rule(Metric::Latency(Quantile::P99), Op::Gt, 0.2, 60, 0);
        p99.min_calls = Some(4);
        assert_eq!(run(p99, 6, series), ["-", "-", "-", "-", "fired", "firing"]);
        // Not the counts, nor the largest latency: one call is enough.
        for metric in [Metric::Errors, Metric::Latency(Quantile::Max)] {
            let r = rule(metric, Op::Gt, 0.0, 60, 0);
            assert_eq!(r.min_calls_in_force(), None);
            assert_eq!(run(r, 3, series), ["-", "fired", "firing"], "{metric:?}");
        }
    }

    #[test]
    fn a_function_never_called_has_no_calls() {
        let r = rule(Metric::Calls, Op::Lt, 1.0, 60, 0);
        let mut e = Evaluator::new(vec![r]);
        let tr = e.evaluate(Instant::now(), SystemTime::now(), &[], &[]);
        assert!(matches!(tr.as_slice(), [Transition::Fired(a)] if a.value == 0.0));
    }

    #[test]
    fn quantiles_follow_prometheus() {
        let mut c = [0f64; BUCKETS];
        // 100 calls in (100 ms, 200 ms]: p50 interpolates to 150 ms; max is the bucket's bound.
        c[telemark_runtime::metrics::bucket(150_000_000)] = 100.0;
        assert!((histogram_quantile(Quantile::P50, &c) - 0.15).abs() < 1e-9);
        assert!((histogram_quantile(Quantile::Max, &c) - 0.2).abs() < 1e-9);
        // Past the last bound: the highest finite bound.
        let mut inf = [0f64; BUCKETS];
        inf[BUCKETS - 1] = 1.0;
        assert_eq!(histogram_quantile(Quantile::P99, &inf), 100.0);
        assert!(histogram_quantile(Quantile::P99, &[0.0; BUCKETS]).is_nan());
    }

    #[test]
    fn latency_and_rate_over_the_window() {
        // Calls at 300 ms from step 3 on: p99 over 30 s rises above 200 ms at step 3.
        let r = rule(Metric::Latency(Quantile::P99), Op::Gt, 0.2, 30, 0);
        let got = run(r, 6, |i| {
            let mut f = m(10 * i as u64, 0, 1_000_000);
            if i >= 3 {
                f.buckets[telemark_runtime::metrics::bucket(300_000_000)] = 10 * (i as u64 - 2);
                f.buckets[telemark_runtime::metrics::bucket(1_000_000)] = 20;
            }
            f
        });
        assert_eq!(got, ["-", "-", "-", "fired", "firing", "firing"]);
        // 10 calls per 15 s = 0.67/s: `rate < 1` holds from the start.
        let r = rule(Metric::Rate, Op::Lt, 1.0, 30, 0);
        assert_eq!(run(r, 2, |i| m(10 * i as u64, 0, 1_000)), ["fired", "firing"]);
    }
}
