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
//! hundreds a second.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};
use telemark::alerts::{ChannelConfig, ChannelKind};
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

/// A webhook receiver: prints the status and alert names of every notification.
fn webhook_listener() -> std::io::Result<String> {
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
    config.alerts.channels.insert(
        "webhook".into(),
        ChannelConfig { kind: ChannelKind::Webhook, url: Some(webhook_listener()?), ..Default::default() },
    );
    let _guard = telemark::init(config)?;
    for r in telemark::alerts::rules() {
        println!("watching: {r}");
    }

    let mut order = 0;
    let mut phase = |name: &str, decline: u32, secs: u64| {
        println!("-- {name}: {decline}% of payments declined for {secs} s");
        DECLINE_PERCENT.store(decline, Relaxed);
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            let _ = charge(order);
            order += 1;
        }
        for a in telemark::alerts::active() {
            println!("   active: {} {:?} value {}", a.rule.name, a.state, a.rule.value_text(a.value));
        }
    };
    phase("healthy", 2, 1);
    phase("degrading", 10, 1);
    phase("incident", 45, 2);
    phase("recovered", 0, 3);
    println!("done: {order} payments");
    Ok(())
}
