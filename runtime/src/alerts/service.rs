//! The alert service `init` starts: the effective rules (declared with `#[alert_on]`, plus
//! `alerts.rules`, with `alerts.overrides` applied), an evaluator on a thread telemark owns every
//! `alerts.evaluation_interval`, and the dispatcher that groups and delivers notifications to the
//! channels. Nothing here runs on, or waits for, the application's threads.

use super::channels::{AlertmanagerChannel, ConsoleChannel, EmailChannel, SmtpSettings, WebhookChannel};
use super::config::{merge, AlertsConfig, ChannelKind, CONSOLE};
use super::eval::{ActiveAlert, Evaluator, Transition};
use super::notify::{Alert, AlertHandler, AlertState, DeliveryStats, DispatchSettings, Dispatcher};
use super::rule::Rule;
use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The rules of the running pipeline (after the config); `None` before `init`.
static EFFECTIVE: Mutex<Option<Vec<Rule>>> = Mutex::new(None);
/// Pending and firing alerts at the last evaluation.
static ACTIVE: Mutex<Vec<ActiveAlert>> = Mutex::new(Vec::new());
/// Delivery counters, refreshed by the alerts thread.
static DELIVERY: Mutex<Option<DeliveryStats>> = Mutex::new(None);

/// What the channels delivered, failed to deliver (after retries), dropped (a full queue) and how
/// often a handler panicked — since `init` started the alerts; the default before that.
pub fn delivery() -> DeliveryStats {
    DELIVERY.lock().ok().and_then(|d| d.clone()).unwrap_or_default()
}

/// The effective rules, if `init` has run.
pub(crate) fn effective() -> Option<Vec<Rule>> {
    EFFECTIVE.lock().ok().and_then(|r| r.clone())
}

/// Pending and firing alerts at the last evaluation, by function and name.
pub fn active() -> Vec<ActiveAlert> {
    ACTIVE.lock().map(|a| a.clone()).unwrap_or_default()
}

/// Fills `{function}`, `{value}` and `{threshold}` in a summary or description of `rule`.
fn render(template: &str, rule: &Rule, value: f64) -> String {
    super::parse::render_template(template, &rule.function, &rule.value_text(value), &rule.threshold_text())
}

impl Transition {
    /// The alert the dispatcher gets for this transition: firing (started or still) or resolved,
    /// with its labels, its rendered `summary` and `description`, and the channels to notify.
    /// The alerts thread hands exactly these to [`Dispatcher::update`](super::notify::Dispatcher::update).
    pub fn to_alert(&self) -> Alert {
        match self {
            Transition::Fired(a) | Transition::StillFiring(a) => to_alert(a, AlertState::Firing, None),
            Transition::Resolved { alert, at } => to_alert(alert, AlertState::Resolved, Some(*at)),
        }
    }
}

/// The alert a notification carries for `a`.
fn to_alert(a: &ActiveAlert, state: AlertState, ends_at: Option<SystemTime>) -> Alert {
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
    let summary = render(&r.summary_template(), r, a.value);
    annotations.insert("summary".to_string(), summary);
    if let Some(d) = &r.description {
        annotations.insert("description".to_string(), render(d, r, a.value));
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
        value: a.value,
        starts_at: a.firing_since.unwrap_or(a.active_since),
        ends_at,
        channels,
    }
}

/// The running service: stopped (delivering what is queued until the deadline) by
/// [`Worker::stop`](crate::worker::Worker::stop).
pub(crate) type Service = crate::worker::Worker;

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
        cfg.channels.entry(name.clone()).or_insert_with(|| super::config::ChannelConfig {
            kind: ChannelKind::Console,
            ..Default::default()
        });
    }
    let rules = merge(super::declared_rules(), &cfg, file)?;
    if let Ok(mut e) = EFFECTIVE.lock() {
        *e = Some(rules.clone());
    }
    if let Ok(mut a) = ACTIVE.lock() {
        a.clear();
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
                match c.kind {
                    ChannelKind::Console => Box::new(ConsoleChannel::new()),
                    ChannelKind::Webhook => Box::new(
                        WebhookChannel::new(&url(), c.secret.clone(), c.timeout(), c.max_retries())
                            .map_err(at)?,
                    ),
                    ChannelKind::Alertmanager => {
                        Box::new(AlertmanagerChannel::new(&url(), c.timeout()).map_err(at)?)
                    }
                    ChannelKind::Email => Box::new(
                        EmailChannel::new(SmtpSettings {
                            host: c.host.clone().unwrap_or_default(),
                            port: c.port(),
                            from: c.from.clone().unwrap_or_default(),
                            to: c.to.clone(),
                            username: c.username.clone(),
                            password: c.password.clone(),
                            timeout: c.timeout(),
                        })
                        .map_err(at)?,
                    ),
                }
            }
        };
        dispatcher.add_channel(name, handler);
    }
    let interval = cfg.evaluation_interval.max(Duration::from_millis(10));
    let (tx, rx) = mpsc::sync_channel::<Instant>(1);
    let thread = std::thread::Builder::new()
        .name("telemark-alerts".into())
        .spawn(move || run(Evaluator::new(rules), dispatcher, interval, &rx))
        .map_err(|e| format!("cannot start the alerts thread: {e}"))?;
    Ok(Some(Service::new(tx, thread)))
}

fn run(
    mut evaluator: Evaluator,
    mut dispatcher: Dispatcher,
    interval: Duration,
    rx: &mpsc::Receiver<Instant>,
) {
    crate::local::mark_internal();
    let mut next_eval = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_eval {
            let transitions = evaluator.evaluate(
                now,
                SystemTime::now(),
                &crate::metrics::snapshot(),
                &crate::metrics::exception_counts(),
            );
            let alerts: Vec<Alert> = transitions.iter().map(Transition::to_alert).collect();
            if let Ok(mut a) = ACTIVE.lock() {
                *a = evaluator.active();
            }
            dispatcher.update(&alerts, now);
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
            Ok(deadline) => {
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
