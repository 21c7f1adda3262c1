//! A payment service whose error rate climbs until an alert fires — on the console and to a
//! webhook — then recovers, and the alert resolves. Everything runs in this process: the webhook
//! receiver is a small listener on 127.0.0.1 that prints what it gets.
//!
//! ```text
//! cargo run --example alerts
//! ```
//!
//! The timings are shortened so the whole story takes a few seconds: rules are evaluated every
//! 200 ms over a 2 s window, and notifications are not held back (`group_wait: 0s`). The
//! error-rate rule waits for 10 calls in its window (the default `min_calls`); the service makes
//! hundreds a second. Each phase of the story lasts until what it shows has happened (asked of
//! `telemark::alerts::active()`, which evaluates the rules on the spot), so it reads the same on a
//! fast machine and on a busy one.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use telemark::alerts::{ActiveAlert, ChannelConfig, State};
use telemark::{alert_on, traced};

/// Percent of payments the card processor declines right now.
static DECLINE_PERCENT: AtomicU32 = AtomicU32::new(0);

#[traced(kind = "client")]
#[alert_on(error_rate > 20%, window = "2s", for = "400ms", severity = "critical", notify = ["console", "webhook"],
    summary = "{function} fails {value} of payments (threshold {threshold})", labels(team = "payments"))]
fn charge(order: u32) -> Result<u32, String> {
    std::thread::sleep(Duration::from_millis(2));
    if order % 100 < DECLINE_PERCENT.load(Relaxed) {
        Err(format!("card declined for order {order}"))
    } else {
        Ok(order)
    }
}

/// A webhook receiver: prints the status of every notification and passes it on to `seen`.
fn webhook_listener(seen: mpsc::Sender<String>) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = Vec::new();
            // Read the head, then the body by Content-Length.
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        let status = body
                            .split("\"status\":\"")
                            .nth(1)
                            .and_then(|s| s.split('"').next())
                            .unwrap_or("?");
                        println!("[webhook] received a {status} notification ({} bytes)", body.len());
                        let _ = seen.send(status.to_string());
                        break;
                    }
                }
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Ok(url)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = telemark::Config::from_env()?.console(false);
    config.alerts.evaluation_interval = Duration::from_millis(200);
    config.alerts.group_wait = Duration::ZERO;
    config.alerts.group_interval = Duration::from_millis(500);
    let (seen, webhook) = mpsc::channel();
    config.alerts.channels.insert("webhook".into(), ChannelConfig::webhook(webhook_listener(seen)?));
    let _guard = telemark::init(config)?;
    for r in telemark::alerts::rules() {
        println!("watching: {r}");
    }

    let mut order = 0;
    // Payments at `decline` percent for at least `secs`, then until `done` holds of the active
    // alerts (at most a minute).
    let mut phase = |name: &str, decline: u32, secs: u64, done: &dyn Fn(&[ActiveAlert]) -> bool| {
        println!("-- {name}: {decline}% of payments declined");
        DECLINE_PERCENT.store(decline, Relaxed);
        let start = Instant::now();
        let until = start + Duration::from_secs(secs);
        let active = loop {
            for _ in 0..50 {
                let _ = charge(order);
                order += 1;
            }
            let active = telemark::alerts::active();
            if Instant::now() >= until && done(&active) || start.elapsed() > Duration::from_secs(60) {
                break active;
            }
        };
        for a in active {
            println!("   active: {} {:?} value {}", a.rule.name, a.state, a.rule.value_text(a.value));
        }
    };
    let quiet = |a: &[ActiveAlert]| a.is_empty();
    let firing = |a: &[ActiveAlert]| a.iter().any(|a| a.state == State::Firing);
    phase("healthy", 2, 1, &quiet);
    phase("degrading", 10, 1, &quiet);
    phase("incident", 45, 1, &firing);
    phase("recovered", 0, 1, &quiet);
    // The webhook hears of the resolution a `group_interval` after it heard of the incident.
    while webhook.recv_timeout(Duration::from_secs(60)).is_ok_and(|status| status != "resolved") {}
    println!("done: {order} payments");
    Ok(())
}
