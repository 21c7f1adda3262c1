//! Per-function metrics: every call counted by outcome with its latency, sampled or not, read
//! from `telemark::metrics::snapshot()`, from the Prometheus endpoint (checked by the real
//! `promtool check metrics`) and by a real Prometheus server scraping it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use telemark::{traced, Config};

/// telemark's pipeline is process-wide: these tests take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[traced]
fn lookup(id: u32) -> Result<u32, String> {
    if id % 4 == 0 {
        Err(format!("no row {id}"))
    } else {
        Ok(id)
    }
}

#[traced]
fn slow() {
    std::thread::sleep(Duration::from_millis(3));
}

#[traced]
fn boom() {
    panic!("boom");
}

#[traced(__metrics_only)]
fn counted_only(x: u32) -> u32 {
    x + 1
}

#[traced]
async fn fetch(fail: bool) -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    if fail {
        Err(std::io::Error::other("down"))
    } else {
        Ok(())
    }
}

fn metrics_of(name: &str) -> telemark::metrics::FunctionMetrics {
    telemark::metrics::snapshot()
        .into_iter()
        .find(|m| m.function == format!("metrics::{name}"))
        .unwrap_or_else(|| panic!("no metrics for {name}"))
}

fn config() -> Config {
    let mut c = Config::default().console(false);
    c.metrics.prometheus.listen = Some("127.0.0.1:0".into());
    c
}

#[test]
fn every_call_is_counted_by_outcome_sampled_or_not() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // Nothing is sampled: the spans are not recorded, the calls still are.
    let mut c = config();
    c.sampling.sampler = "always_off".parse().unwrap();
    let guard = telemark::init(c).unwrap();
    let before = telemark::metrics::snapshot();
    let prior =
        |f: &str| before.iter().find(|m| m.function == format!("metrics::{f}")).map_or([0; 3], |m| m.calls);

    for id in 1..=20 {
        let _ = lookup(id);
    }
    slow();
    assert!(std::panic::catch_unwind(boom).is_err());
    assert_eq!(counted_only(1), 2);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let _ = fetch(false).await;
        let _ = fetch(true).await;
    });
    // Another thread's calls land in its own table and are summed.
    std::thread::spawn(|| {
        for id in 1..=4 {
            let _ = lookup(id);
        }
    })
    .join()
    .unwrap();

    let l = metrics_of("lookup");
    let p = prior("lookup");
    assert_eq!([l.calls[0] - p[0], l.calls[1] - p[1], l.calls[2] - p[2]], [18, 6, 0], "24 calls, 6 Err");
    assert_eq!(l.buckets.iter().sum::<u64>(), l.total(), "every call has a latency");
    let s = metrics_of("slow");
    assert!(s.sum >= Duration::from_millis(3), "{:?}", s.sum);
    let slow_bucket = telemark::metrics::bucket(3_000_000);
    assert_eq!(s.buckets[slow_bucket], 1, "3 ms lands in (2 ms, 5 ms]: {:?}", s.buckets);
    assert_eq!(metrics_of("boom").calls[2] - prior("boom")[2], 1, "a panic is its own outcome");
    assert_eq!(metrics_of("counted_only").calls[0] - prior("counted_only")[0], 1);
    let f = metrics_of("fetch");
    assert_eq!([f.calls[0] - prior("fetch")[0], f.calls[1] - prior("fetch")[1]], [1, 1], "async calls too");
    drop(guard);
}

fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn the_prometheus_endpoint_passes_promtool_and_a_real_prometheus_scrapes_it() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let guard = telemark::init(config()).unwrap();
    for id in 1..=8 {
        let _ = lookup(id);
    }
    let _ = counted_only(3);
    let addr = guard.prometheus_address().expect("the endpoint runs");
    let (head, body) = get(addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(
        body.contains("telemark_function_calls_total{function=\"metrics::lookup\",module=\"metrics\",outcome=\"error\"}"),
        "{body}"
    );
    assert!(body.contains("telemark_function_duration_seconds_bucket{function=\"metrics::lookup\",module=\"metrics\",le=\"+Inf\"}"));
    assert!(get(addr, "/nope").0.starts_with("HTTP/1.1 404"));

    // promtool's linter on the exposition.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; .ci/run installs it)");
    promtool.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes it.
    let dir = std::env::temp_dir().join(format!("telemark-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prometheus (Debian package `prometheus`; .ci/run installs it)");
    let prom_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = "/api/v1/query?query=telemark_function_calls_total%7Bfunction%3D%22metrics%3A%3Alookup%22%2Coutcome%3D%22error%22%7D";
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    let value = loop {
        if let Ok(s) = TcpStream::connect(prom_addr) {
            drop(s);
            let (_, body) = get(prom_addr, query);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if let Some(x) = v["data"]["result"][0]["value"][1].as_str() {
                break x.to_string();
            }
            last = body;
        }
        assert!(Instant::now() < deadline, "Prometheus never scraped the endpoint: {last}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let _ = prom.kill();
    let _ = prom.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let expected = metrics_of("lookup").calls[1];
    assert_eq!(value.parse::<u64>().unwrap(), expected, "what Prometheus stored is what telemark counted");
    drop(guard);
}
