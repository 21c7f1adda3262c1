//! Alert channels under faults, through the whole pipeline (`telemark::init`, a rule, the alerts
//! thread, one delivery thread per channel): a webhook that answers 500 three times and then 200,
//! one that never answers, a closed port, and an SMTP server that is down. Each notification is
//! delivered once or counted as failed, and the instrumented caller is unaffected: its calls are
//! timed before the alert fires and while the channels fail (the timings are printed for
//! RELIABILITY.md, never asserted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::time::Instant;
use telemark::{traced, Config};
use telemark_tests as support;
use telemark_tests::webhook::{Reply, WebhookServer};

/// What the rule watches: one failure makes it fire.
#[traced]
fn declined() -> Result<(), String> {
    Err("card declined".into())
}

/// What the caller times, before and while the channels fail.
#[traced]
fn payment(i: u32) -> u32 {
    i.wrapping_mul(3)
}

/// `n` calls of `payment`, each timed on the caller's thread: (p50, p99, max) in nanoseconds.
fn timed_calls(n: u32) -> (u64, u64, u64) {
    let mut ns: Vec<u64> = (0..n)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(payment(std::hint::black_box(i)));
            t.elapsed().as_nanos() as u64
        })
        .collect();
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99), ns[ns.len() - 1])
}

#[test]
fn each_notification_is_delivered_once_or_counted_and_the_caller_does_not_wait() {
    let flaky = WebhookServer::start();
    flaky.script([Reply::status(500), Reply::status(500), Reply::status(500)]);
    let hang = WebhookServer::start();
    hang.set_default(Reply::Hang);
    let closed = support::dead_endpoint();
    let smtp_down = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // An SMTP server that refuses for good (554 at the greeting): not worth a retry.
    let refusing = TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp_refuses = refusing.local_addr().unwrap().port();
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = refused.clone();
    std::thread::spawn(move || {
        for mut conn in refusing.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = std::io::Write::write_all(&mut conn, b"554 5.7.1 not for you\r\n");
        }
    });
    let yaml = format!(
        "
service: {{name: alert-faults}}
exporters: {{console: {{enabled: false}}}}
alerts:
  evaluation_interval: 20ms
  group_wait: 0s
  rules:
    - function: alert_faults::declined
      condition: errors > 0
      window: 10m
      notify: [flaky, hang, closed, smtp_down, smtp_refuses]
  channels:
    flaky: {{kind: webhook, url: \"{flaky}\", timeout: 5s, max_retries: 3}}
    hang: {{kind: webhook, url: \"{hang}\", timeout: 500ms, max_retries: 1}}
    closed: {{kind: webhook, url: \"{closed}/hook\", timeout: 500ms, max_retries: 1}}
    smtp_down: {{kind: email, host: 127.0.0.1, port: {smtp_down}, from: telemark@example.com, to: [oncall@example.com], timeout: 500ms, max_retries: 1}}
    smtp_refuses: {{kind: email, host: 127.0.0.1, port: {smtp_refuses}, tls: none, from: telemark@example.com, to: [oncall@example.com], timeout: 500ms, max_retries: 3}}
",
        flaky = flaky.url("/hook"),
        hang = hang.url("/hook"),
    );
    let config = Config::from_yaml(&yaml, "alert_faults.yaml").unwrap();
    let guard = telemark::init(config).unwrap();

    // Before anything fires: the caller's baseline (after a warm-up).
    let _ = timed_calls(20_000);
    let quiet = timed_calls(50_000);
    assert!(telemark::alerts::active().is_empty());
    let _ = declined();
    let fired = telemark::alerts::active();
    assert!(fired.iter().any(|a| a.rule.function == "alert_faults::declined"), "{fired:?}");

    // While the four channels work through their notification (retries, timeouts): the caller.
    let t = Instant::now();
    let during = timed_calls(50_000);
    let during_took = t.elapsed();

    // The flaky webhook: four requests of one notification (one webhook-id), the last one taken.
    let got = flaky.wait_requests(4);
    let ids: Vec<_> = got.iter().map(|r| r.header("webhook-id").unwrap_or_default().to_string()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    // Every channel settles: delivered once or failed once — asked of the delivery counters, the
    // only way to know (another thread's schedule).
    let stats = support::eventually("every channel settled", || {
        let d = telemark::alerts::delivery();
        let settled = ["flaky", "hang", "closed", "smtp_down", "smtp_refuses"]
            .iter()
            .all(|c| d.channel(c).is_some_and(|s| s.queued == 0 && s.sent + s.failed >= 1));
        settled.then_some(d)
    });
    let ch = |c: &str| stats.channel(c).cloned().unwrap();
    assert_eq!((ch("flaky").sent, ch("flaky").failed, ch("flaky").dropped), (1, 0, 0), "{:?}", ch("flaky"));
    for (c, attempts) in
        [("hang", "after 2 attempts"), ("closed", "after 2 attempts"), ("smtp_down", "after 2 attempts")]
    {
        let s = ch(c);
        assert_eq!((s.sent, s.failed, s.dropped), (0, 1, 0), "{c}: {s:?}");
        let err = s.last_error.unwrap_or_default();
        assert!(err.contains(attempts), "{c}: {err}");
        println!("{c}: failed once: {err}");
    }
    // Refused for good: one attempt, however many retries are allowed.
    let s = ch("smtp_refuses");
    assert_eq!((s.sent, s.failed, s.dropped), (0, 1, 0), "{s:?}");
    let err = s.last_error.unwrap_or_default();
    assert!(err.contains("554") && !err.contains("attempts"), "{err}");
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 1, "not retried");
    assert_eq!(flaky.requests().len(), 4, "delivered once: no request after the 200");
    let hung = hang.requests().len();
    assert_eq!(hung, 2, "the silent webhook: the attempt and its one retry");

    drop(guard);
    println!(
        "caller, {} calls each, ns (p50 / p99 / max): alert quiet {:?}; channels failing {:?} ({:.1} ms)",
        50_000,
        quiet,
        during,
        during_took.as_secs_f64() * 1e3
    );
}
