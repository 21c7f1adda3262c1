//! The alert service `init` starts: the effective rules (declared with `#[alert_on]`, plus
//! `alerts.rules`, with `alerts.overrides` applied), an evaluator on a thread telemark owns every
//! `alerts.evaluation_interval`, and the dispatcher that groups and delivers notifications to the
//! channels. Nothing here runs on, or waits for, the application's threads.

use crate::channels::{AlertmanagerChannel, ConsoleChannel, EmailChannel, SmtpSettings, WebhookChannel};
use crate::config::{merge, AlertsConfig, ChannelKind, CONSOLE};
use crate::eval::{ActiveAlert, Evaluator, Transition};
use crate::notify::{Alert, AlertHandler, AlertState, DeliveryStats, DispatchSettings, Dispatcher};
use crate::rule::Rule;
use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The rules of the running pipeline (after the config); `None` before `init`.
static EFFECTIVE: Mutex<Option<Vec<Rule>>> = Mutex::new(None);
/// Pending and firing alerts at the last evaluation.
static ACTIVE: Mutex<Vec<ActiveAlert>> = Mutex::new(Vec::new());
/// Delivery counters, refreshed by the alerts thread.
static DELIVERY: Mutex<Option<DeliveryStats>> = Mutex::new(None);
/// The running alerts thread's inbox, for [`active`] to ask for an evaluation.
static CONTROL: Mutex<Option<SyncSender<Control>>> = Mutex::new(None);

/// What the alerts thread is told.
pub(crate) enum Control {
    /// Evaluate now, then acknowledge ([`active`]).
    Evaluate(SyncSender<()>),
    /// Deliver what is queued until the deadline, then stop.
    Stop(Instant),
}

/// What the channels delivered, failed to deliver (after retries), dropped (a full queue) and how
/// often a handler panicked — since `init` started the alerts; the default before that.
pub fn delivery() -> DeliveryStats {
    DELIVERY.lock().ok().and_then(|d| d.clone()).unwrap_or_default()
}

/// The effective rules, if `init` has run.
pub(crate) fn effective() -> Option<Vec<Rule>> {
    EFFECTIVE.lock().ok().and_then(|r| r.clone())
}

/// Pending and firing alerts, by function and name, from an evaluation that counts every call
/// and exception recorded before the call: it waits for telemark's thread to take them in and for
/// the alerts thread to evaluate (at most [`QUERY_WAIT`](telemark_runtime::QUERY_WAIT) each, bounds reached
/// only when those threads are stuck). Evaluating early changes nothing else: `for` durations
/// and windows are measured on the clock, not in evaluations.
pub fn active() -> Vec<ActiveAlert> {
    if !telemark_runtime::host::is_internal() {
        telemark_runtime::host::barrier();
        let control = CONTROL.lock().ok().and_then(|c| c.clone());
        if let Some(tx) = control {
            let (ack, done) = mpsc::sync_channel(1);
            // A full inbox already holds evaluations that will run before anything recorded now
            // could be missed: the last one of them is as good as a new one.
            if tx.try_send(Control::Evaluate(ack)).is_ok() {
                let _ = done.recv_timeout(telemark_runtime::QUERY_WAIT);
            }
        }
    }
    ACTIVE.lock().map(|a| a.clone()).unwrap_or_default()
}

/// Fills `{function}`, `{value}` and `{threshold}` in a summary or description of `rule`.
fn render(template: &str, rule: &Rule, value: f64) -> String {
    crate::parse::render_template(template, &rule.function, &rule.value_text(value), &rule.threshold_text())
}

impl Transition {
    /// The alert the dispatcher gets for this transition: firing (started or still) or resolved,
    /// with its labels, its rendered `summary` and `description`, and the channels to notify.
    /// The alerts thread hands exactly these to [`Dispatcher::update`](crate::notify::Dispatcher::update).
    ///
    /// A firing alert carries the value of the latest evaluation; a resolved one the value measured
    /// at the evaluation that resolved it (for which the condition no longer holds), in its
    /// `value` and in its texts.
    pub fn to_alert(&self) -> Alert {
        match self {
            Transition::Fired(a) | Transition::StillFiring(a) => {
                to_alert(a, a.value, AlertState::Firing, None)
            }
            Transition::Resolved { alert, value, at } => {
                to_alert(alert, *value, AlertState::Resolved, Some(*at))
            }
        }
    }
}

/// The alert a notification carries for `a`, with `value` as the metric's value.
fn to_alert(a: &ActiveAlert, value: f64, state: AlertState, ends_at: Option<SystemTime>) -> Alert {
    let r = &a.rule;
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), r.name.to_string());
    labels.insert("function".to_string(), r.function.to_string());
    labels.insert("severity".to_string(), r.severity.as_str().to_string());
    for (k, v) in &r.labels {
        labels.insert(k.to_string(), v.to_string());
    }
    let mut annotations = BTreeMap::new();
    // The same default summary as the exported Prometheus rule.
    let summary = render(&r.summary_template(), r, value);
    annotations.insert("summary".to_string(), summary);
    if let Some(d) = &r.description {
        annotations.insert("description".to_string(), render(d, r, value));
    }
    let channels: Vec<String> = if r.notify.is_empty() {
        vec![CONSOLE.to_string()]
    } else {
        r.notify.iter().map(|c| c.to_string()).collect()
    };
    Alert {
        name: r.name.to_string(),
        function: r.function.to_string(),
        severity: r.severity,
        labels,
        annotations,
        state,
        metric: r.metric,
        value,
        starts_at: a.firing_since.unwrap_or(a.active_since),
        ends_at,
        channels,
    }
}

/// The running service: stopped (delivering what is queued until the deadline) by
/// [`Worker::stop`](crate::worker::Worker::stop).
pub(crate) type Service = crate::worker::Worker<Control>;

/// Custom channels given in code (`Config::alert_handler`).
pub(crate) type Handlers = Vec<(String, Box<dyn AlertHandler>)>;

/// Works out the rules and starts the service; `None` when there is no rule to evaluate.
pub(crate) fn start(
    cfg: &AlertsConfig,
    file: Option<&str>,
    custom: Handlers,
) -> Result<Option<Service>, String> {
    let mut cfg = cfg.clone();
    // Channels given in code count as defined, for the check that every rule's channel exists.
    for (name, _) in &custom {
        cfg.channels.entry(name.clone()).or_insert_with(|| crate::config::ChannelConfig {
            kind: ChannelKind::Console,
            ..Default::default()
        });
    }
    let rules = merge(crate::declared_rules(), &cfg, file)?;
    if let Ok(mut e) = EFFECTIVE.lock() {
        *e = Some(rules.clone());
    }
    if let Ok(mut a) = ACTIVE.lock() {
        a.clear();
    }
    if let Ok(mut c) = CONTROL.lock() {
        *c = None;
    }
    if rules.iter().all(|r| r.disabled) {
        return Ok(None);
    }
    let mut dispatcher = Dispatcher::new(DispatchSettings {
        group_wait: cfg.group_wait,
        group_interval: cfg.group_interval,
        repeat_interval: cfg.repeat_interval,
    });
    let mut custom = custom;
    let mut names: Vec<&str> = vec![CONSOLE];
    names.extend(cfg.channels.keys().map(String::as_str));
    names.sort_unstable();
    names.dedup();
    for name in names {
        if let Some(i) = custom.iter().position(|(n, _)| n == name) {
            let (n, h) = custom.swap_remove(i);
            dispatcher.add_channel(&n, h);
            continue;
        }
        let handler: Box<dyn AlertHandler> = match cfg.channels.get(name) {
            None => Box::new(ConsoleChannel::new()),
            Some(c) => {
                let url = || c.url.clone().unwrap_or_default();
                let at = |e: String| format!("alerts.channels.{name}: {e}");
                // Without files, the default TLS configuration is made on the first https request.
                let tls = c.tls_files();
                let retry = crate::http::RetryPolicy::default();
                match c.kind {
                    ChannelKind::Console => Box::new(ConsoleChannel::new()),
                    ChannelKind::Webhook => Box::new(
                        WebhookChannel::new(&url(), c.secret.clone(), c.timeout(), c.max_retries())
                            .and_then(|w| if tls.is_set() { w.with_tls(&tls) } else { Ok(w) })
                            .map_err(at)?,
                    ),
                    ChannelKind::Alertmanager => Box::new(
                        AlertmanagerChannel::new(&url(), c.timeout())
                            .map(|a| a.with_retries(c.max_retries(), retry.base, retry.max_delay))
                            .and_then(|a| if tls.is_set() { a.with_tls(&tls) } else { Ok(a) })
                            .map_err(at)?,
                    ),
                    ChannelKind::Email => Box::new(
                        EmailChannel::new(SmtpSettings {
                            host: c.host.clone().unwrap_or_default(),
                            port: c.port(),
                            from: c.from.clone().unwrap_or_default(),
                            to: c.to.clone(),
                            username: c.username.clone(),
                            password: c.password.clone(),
                            timeout: c.timeout(),
                            tls: c.smtp_tls(),
                            tls_files: c.tls_files(),
                            allow_insecure_auth: c.allow_insecure_auth,
                        })
                        .map(|e| e.with_retries(c.max_retries(), retry.base, retry.max_delay))
                        .map_err(at)?,
                    ),
                }
            }
        };
        dispatcher.add_channel(name, handler);
    }
    let interval = cfg.evaluation_interval.max(Duration::from_millis(10));
    let (tx, rx) = mpsc::sync_channel::<Control>(64);
    let thread = std::thread::Builder::new()
        .name("telemark-alerts".into())
        .spawn(move || run(Evaluator::new(rules), dispatcher, interval, &rx))
        .map_err(|e| format!("cannot start the alerts thread: {e}"))?;
    if let Ok(mut c) = CONTROL.lock() {
        *c = Some(tx.clone());
    }
    Ok(Some(Service::with_messages(tx, thread, Control::Stop)))
}

/// One evaluation at `now`: the transitions go to the dispatcher, the active alerts to [`active`].
fn evaluate(evaluator: &mut Evaluator, dispatcher: &mut Dispatcher, now: Instant) {
    let transitions = evaluator.evaluate(
        now,
        SystemTime::now(),
        &telemark_runtime::metrics::snapshot(),
        &telemark_runtime::metrics::exception_counts(),
    );
    let alerts: Vec<Alert> = transitions.iter().map(Transition::to_alert).collect();
    if let Ok(mut a) = ACTIVE.lock() {
        *a = evaluator.active();
    }
    dispatcher.update(&alerts, now);
}

fn run(
    mut evaluator: Evaluator,
    mut dispatcher: Dispatcher,
    interval: Duration,
    rx: &mpsc::Receiver<Control>,
) {
    telemark_runtime::host::mark_internal();
    let mut next_eval = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_eval {
            evaluate(&mut evaluator, &mut dispatcher, now);
            while next_eval <= now {
                next_eval += interval;
            }
        }
        dispatcher.tick(Instant::now());
        if let Ok(mut d) = DELIVERY.lock() {
            *d = Some(dispatcher.stats());
        }
        let wake = dispatcher.next_tick().map_or(next_eval, |t| t.min(next_eval));
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(Control::Evaluate(ack)) => {
                evaluate(&mut evaluator, &mut dispatcher, Instant::now());
                let _ = ack.send(());
            }
            Ok(Control::Stop(deadline)) => {
                dispatcher.tick(Instant::now());
                let last = dispatcher.shutdown(deadline);
                if let Ok(mut d) = DELIVERY.lock() {
                    *d = Some(last);
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::{AlertmanagerChannel, ConsoleChannel, EmailChannel, SmtpSettings, WebhookChannel};
    use crate::config::RuleConfig;
    use crate::notify::Notification;
    use std::time::UNIX_EPOCH;
    use telemark_runtime::metrics::{bucket, FunctionMetrics, BUCKETS};

    fn rule(condition: &str, summary: Option<&str>) -> Rule {
        let rc = RuleConfig {
            function: "shop::pay".into(),
            condition: condition.into(),
            window: Some(Duration::from_secs(60)),
            summary: summary.map(str::to_string),
            description: Some("{function}: {value} against {threshold}".into()),
            notify: Some(vec!["ops".into()]),
            ..Default::default()
        };
        match rc.to_rule(None) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// `shop::pay` after `step` evaluations 15 s apart: 10 calls a step of 300 ms, `failing(step)`
    /// of them failed.
    fn pay(step: u64, failed_so_far: u64) -> FunctionMetrics {
        let mut buckets = [0; BUCKETS];
        buckets[bucket(300_000_000)] = 10 * step;
        FunctionMetrics {
            function: "shop::pay",
            module: "shop",
            calls: [10 * step - failed_so_far, failed_so_far, 0],
            buckets,
            sum: Duration::ZERO,
            exceptions: 0,
        }
    }

    /// Evaluations of `rule` every 15 s on a controlled clock; `failed(step)` is the cumulative
    /// count of failed calls. The alerts the dispatcher would get, with their step.
    fn alerts(rule: Rule, steps: u64, failed: impl Fn(u64) -> u64) -> Vec<(u64, Alert)> {
        let mut e = Evaluator::new(vec![rule]);
        let t0 = Instant::now();
        let w0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut out = Vec::new();
        for step in 0..steps {
            let at = Duration::from_secs(15 * step);
            for t in e.evaluate(t0 + at, w0 + at, &[pay(step, failed(step))], &[]) {
                out.push((step, t.to_alert()));
            }
        }
        out
    }

    /// What each channel makes of a notification of `a`: the console block, the webhook body, the
    /// mail and the Alertmanager body.
    fn rendered(a: &Alert) -> [String; 4] {
        let n = Notification::new("ops", &a.name, vec![a.clone()]);
        let webhook = WebhookChannel::new("http://127.0.0.1:1/", None, Duration::from_secs(1), 0);
        let email = EmailChannel::new(SmtpSettings {
            from: "a@example.com".into(),
            to: vec!["b@example.com".into()],
            ..Default::default()
        });
        let am = AlertmanagerChannel::new("http://127.0.0.1:1", Duration::from_secs(1));
        match (webhook, email, am) {
            (Ok(w), Ok(m), Ok(am)) => [
                ConsoleChannel::format(&n),
                w.body(&n),
                m.message(&n, UNIX_EPOCH),
                am.body(&n, UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            ],
            _ => panic!("channels"),
        }
    }

    #[test]
    fn a_resolved_alert_carries_the_value_that_resolved_it() {
        // 3 of 10 calls fail from step 1 to 4, then none: over the 60 s window the error rate is
        // 30% (fires), 22.5% at step 5 (still firing) and 15% at step 6 (resolved).
        let r =
            rule("error_rate > 20%", Some("{function} fails {value} of payments (threshold {threshold})"));
        let got = alerts(r, 8, |step| 3 * step.min(4));
        let states: Vec<(u64, AlertState)> = got.iter().map(|(s, a)| (*s, a.state)).collect();
        use AlertState::{Firing, Resolved};
        assert_eq!(states, [(1, Firing), (2, Firing), (3, Firing), (4, Firing), (5, Firing), (6, Resolved)]);
        assert_eq!(got[4].1.annotations["summary"], "shop::pay fails 22.5% of payments (threshold 20%)");
        let resolved = &got[5].1;
        assert!((resolved.value - 0.15).abs() < 1e-9, "{}", resolved.value);
        assert_eq!(resolved.annotations["summary"], "shop::pay fails 15% of payments (threshold 20%)");
        assert_eq!(resolved.annotations["description"], "shop::pay: 15% against 20%");
        for text in rendered(resolved) {
            assert!(text.contains("shop::pay fails 15% of payments (threshold 20%)"), "{text}");
            assert!(text.contains("shop::pay: 15% against 20%"), "{text}");
            assert!(!text.contains("22.5"), "the value while it fired: {text}");
        }
        let [console, _, mail, _] = rendered(resolved);
        assert!(console.contains("- resolved pay_error_rate on shop::pay  value=15%  since "), "{console}");
        assert!(mail.contains("- resolved pay_error_rate on shop::pay  value=15%  since "), "{mail}");
    }

    #[test]
    fn a_resolved_alert_with_no_value_says_so() {
        // Calls stop: over the window there is no call, so no error rate (0/0); it resolves with
        // no value rather than with the last one.
        let r = rule("error_rate > 20%", None);
        let mut e = Evaluator::new(vec![r]);
        let t0 = Instant::now();
        let w0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |s: u64| (t0 + Duration::from_secs(15 * s), w0 + Duration::from_secs(15 * s));
        let fired = e.evaluate(at(1).0, at(1).1, &[pay(1, 5)], &[]);
        assert!(matches!(fired.as_slice(), [Transition::Fired(_)]), "{fired:?}");
        let resolved = e.evaluate(at(6).0, at(6).1, &[pay(1, 5)], &[]);
        let [t] = resolved.as_slice() else { panic!("{resolved:?}") };
        let a = t.to_alert();
        assert_eq!(a.state, AlertState::Resolved);
        assert!(a.value.is_nan());
        assert_eq!(a.annotations["summary"], "shop::pay: error_rate is n/a (> 20% over 1m)");
        let [console, ..] = rendered(&a);
        assert!(console.contains("value=n/a"), "{console}");
    }

    /// The value in the header line of a rendered notification (`value=…`).
    fn header_value(text: &str) -> &str {
        let start = text.find("value=").map_or(0, |i| i + "value=".len());
        let rest = &text[start..];
        &rest[..rest.find("  ").unwrap_or(rest.len())]
    }

    #[test]
    fn one_number_format_per_metric_in_every_text() {
        // The default summary (`{function}: <metric> is {value} (…)`) and the header line of the
        // console block and the mail show the same text for the value: the metric's format.
        for (condition, want) in [
            ("error_rate > 20%", "32.5%"),
            ("p99_latency > 200ms", "497ms"),
            ("rate > 0.1", "0.667"),
            ("errors > 1", "13"),
        ] {
            // 10 calls a step of 300 ms, 13 failed over the 60 s window at step 4.
            let got = alerts(rule(condition, None), 5, |step| if step == 0 { 0 } else { 10 * step / 3 });
            let (_, a) = got.iter().find(|(s, _)| *s == 4).unwrap_or_else(|| panic!("{condition}: {got:?}"));
            let summary = &a.annotations["summary"];
            assert!(summary.contains(&format!(" is {want} (")), "{condition}: {summary}");
            let [console, _, mail, _] = rendered(a);
            assert_eq!(header_value(&console), want, "{condition}: {console}");
            assert_eq!(header_value(&mail), want, "{condition}: {mail}");
        }
    }
}
