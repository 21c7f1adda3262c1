//! Per-function metrics: every call counted by outcome with its latency, sampled or not, read
//! from `telemark::metrics::snapshot()`, from the Prometheus endpoint (checked by the real
//! `promtool check metrics`) and by a real Prometheus server scraping it, and pushed over OTLP
//! (gRPC and HTTP/protobuf) to the test receiver in `tests/support`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use telemark::{capture_exceptions, traced, Config};

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

/// Works for at least 3 ms of wall time (more on a busy machine).
#[traced]
fn slow() {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(3) {
        std::hint::spin_loop();
    }
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
    let outer = Instant::now();
    slow();
    let slow_took = outer.elapsed();
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
    assert!(
        s.sum >= Duration::from_millis(3) && s.sum <= slow_took,
        "{:?} (the call took {slow_took:?})",
        s.sum
    );
    // Its one latency is in a bucket between 3 ms and what the call took from outside.
    let at = s.buckets.iter().position(|n| *n == 1).expect("one latency");
    assert_eq!(s.buckets.iter().sum::<u64>(), 1, "{:?}", s.buckets);
    let (lowest, highest) =
        (telemark::metrics::bucket(3_000_000), telemark::metrics::bucket(slow_took.as_nanos() as u64));
    assert!(
        (lowest..=highest).contains(&at),
        "bucket {at} of {:?}, expected {lowest}..={highest}",
        s.buckets
    );
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
    // Prometheus scrapes on its own schedule and can only be asked what it stored.
    let value = support::eventually("Prometheus stored a scrape of the endpoint", || {
        TcpStream::connect(prom_addr).ok()?;
        let (_, body) = get(prom_addr, query);
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str().map(str::to_string)
    });
    let _ = prom.kill();
    let _ = prom.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let expected = metrics_of("lookup").calls[1];
    assert_eq!(value.parse::<u64>().unwrap(), expected, "what Prometheus stored is what telemark counted");
    drop(guard);
}

// ---------------------------------------------------------------------------------------------
// OTLP push

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, AggregationTemporality, Metric};
use telemark::Protocol;

/// Called only by `metrics_are_pushed_over_otlp_grpc_and_http`: an `Err` for every third id.
#[traced]
fn pushed(id: u32) -> Result<u32, String> {
    if id % 3 == 0 {
        Err(format!("no row {id}"))
    } else {
        Ok(id)
    }
}

/// Called only by `metrics_are_pushed_over_otlp_at_shutdown`: its `Err` is captured.
#[traced]
#[capture_exceptions(backtrace = false)]
fn pushed_at_shutdown(fail: bool) -> Result<(), String> {
    if fail {
        Err("down".into())
    } else {
        Ok(())
    }
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attrs.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn find_metric<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> Option<&'a Metric> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
}

/// The `telemark.function.calls` points of `function` in `req`, as sorted `(outcome, value)`.
fn pushed_calls(req: &ExportMetricsServiceRequest, function: &str) -> Vec<(String, i64)> {
    let Some(metric::Data::Sum(sum)) =
        find_metric(req, "telemark.function.calls").and_then(|m| m.data.as_ref())
    else {
        return Vec::new();
    };
    let mut out: Vec<(String, i64)> = sum
        .data_points
        .iter()
        .filter(|p| str_attr(&p.attributes, "function") == Some(function))
        .map(|p| {
            let value = match p.value {
                Some(number_data_point::Value::AsInt(n)) => n,
                ref other => panic!("calls point of {function} is not an int: {other:?}"),
            };
            (str_attr(&p.attributes, "outcome").unwrap_or("<none>").to_string(), value)
        })
        .collect();
    out.sort();
    out
}

/// The `telemark.exceptions` point of `function` in `req`, if there is one.
fn pushed_exceptions(req: &ExportMetricsServiceRequest, function: &str) -> Option<i64> {
    let Some(metric::Data::Sum(sum)) = find_metric(req, "telemark.exceptions").and_then(|m| m.data.as_ref())
    else {
        return None;
    };
    let p = sum.data_points.iter().find(|p| str_attr(&p.attributes, "function") == Some(function))?;
    match p.value {
        Some(number_data_point::Value::AsInt(n)) => Some(n),
        ref other => panic!("exceptions point of {function} is not an int: {other:?}"),
    }
}

/// `[ok, error, panic]` as `pushed_calls` shows them.
fn expected_calls(calls: [u64; 3]) -> Vec<(String, i64)> {
    let [ok, error, panic] = calls.map(|n| n as i64);
    vec![("error".into(), error), ("ok".into(), ok), ("panic".into(), panic)]
}

/// The counts telemark has for `metrics::{name}` now (zero if it was never called).
fn counted(name: &str) -> [u64; 3] {
    let f = format!("metrics::{name}");
    telemark::metrics::snapshot().into_iter().find(|m| m.function == f).map_or([0; 3], |m| m.calls)
}

fn otlp_config(rx: &support::Receiver, protocol: Protocol, interval: Duration) -> Config {
    let endpoint = match protocol {
        Protocol::Grpc => rx.grpc_endpoint(),
        Protocol::HttpProtobuf => rx.http_endpoint(),
    };
    let mut c = Config::default().console(false).otlp(endpoint, protocol);
    c.service.name = "metrics-push-test".into();
    c.metrics.export_interval = interval;
    c
}

/// Checks the whole shape of one pushed request for `function` (`calls`: its `[ok, error,
/// panic]` counts in that request).
fn check_request(req: &ExportMetricsServiceRequest, function: &str, calls: [u64; 3]) {
    assert_eq!(pushed_calls(req, function), expected_calls(calls), "{req:#?}");
    let total: u64 = calls.iter().sum();
    let cumulative = AggregationTemporality::Cumulative as i32;

    assert_eq!(req.resource_metrics.len(), 1, "{req:#?}");
    let rm = &req.resource_metrics[0];
    let resource = rm.resource.as_ref().expect("a resource");
    assert_eq!(str_attr(&resource.attributes, "service.name"), Some("metrics-push-test"), "{resource:#?}");
    // The program's metrics, then telemark's own (its exporter: what it delivered and dropped).
    assert_eq!(rm.scope_metrics.len(), 2);
    assert_eq!(rm.scope_metrics[0].scope.as_ref().map(|s| s.name.as_str()), Some("telemark"));
    assert_eq!(rm.scope_metrics[1].scope.as_ref().map(|s| s.name.as_str()), Some("telemark.self"));
    let own: Vec<&str> = rm.scope_metrics[1].metrics.iter().map(|m| m.name.as_str()).collect();
    for name in [
        "otel.sdk.exporter.span.exported",
        "otel.sdk.exporter.log.exported",
        "telemark.exporter.failures",
        "otel.sdk.processor.span.queue.size",
        "telemark.exporter.queue.bytes",
        "otel.sdk.exporter.operation.duration",
    ] {
        assert!(own.contains(&name), "{name} in {own:?}");
    }
    let names: Vec<&str> = rm.scope_metrics[0].metrics.iter().map(|m| m.name.as_str()).collect();
    // `telemark.exceptions` is left out while no exception was captured (never sent empty).
    let with_exceptions = ["telemark.function.calls", "telemark.function.duration", "telemark.exceptions"];
    assert!(names == with_exceptions || names == with_exceptions[..2], "{names:?}");

    let calls_metric = find_metric(req, "telemark.function.calls").unwrap();
    let Some(metric::Data::Sum(sum)) = &calls_metric.data else {
        panic!("calls is not a Sum: {calls_metric:#?}")
    };
    assert_eq!(sum.aggregation_temporality, cumulative);
    assert!(sum.is_monotonic);
    for p in sum.data_points.iter().filter(|p| str_attr(&p.attributes, "function") == Some(function)) {
        assert_eq!(str_attr(&p.attributes, "module"), Some("metrics"), "{p:#?}");
        assert_eq!(p.attributes.len(), 3, "function, module, outcome: {p:#?}");
        assert!(p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano, "{p:#?}");
    }

    let duration = find_metric(req, "telemark.function.duration").unwrap();
    assert_eq!(duration.unit, "s");
    let Some(metric::Data::Histogram(h)) = &duration.data else {
        panic!("duration is not a Histogram: {duration:#?}")
    };
    assert_eq!(h.aggregation_temporality, cumulative);
    let points: Vec<_> =
        h.data_points.iter().filter(|p| str_attr(&p.attributes, "function") == Some(function)).collect();
    assert_eq!(points.len(), 1, "one histogram point per function: {h:#?}");
    let p = points[0];
    assert_eq!(str_attr(&p.attributes, "module"), Some("metrics"));
    assert_eq!(p.attributes.len(), 2, "function, module: {p:#?}");
    assert_eq!(p.count, total, "every call has a latency: {p:#?}");
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1, "{p:#?}");
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count, "{p:#?}");
    let bounds: Vec<f64> = telemark::metrics::BOUNDS_NS.iter().map(|b| *b as f64 / 1e9).collect();
    assert_eq!(p.explicit_bounds, bounds, "bounds in seconds");
    let s = p.sum.expect("a sum");
    assert!((0.0..10.0).contains(&s), "sum in seconds: {s}");

    if let Some(exceptions) = find_metric(req, "telemark.exceptions") {
        let Some(metric::Data::Sum(e)) = &exceptions.data else {
            panic!("exceptions is not a Sum: {exceptions:#?}")
        };
        assert_eq!(e.aggregation_temporality, cumulative);
        assert!(e.is_monotonic);
        assert!(!e.data_points.is_empty(), "never sent without points");
    }
}

#[test]
fn metrics_are_pushed_over_otlp_grpc_and_http() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    for (protocol, transport) in [(Protocol::Grpc, "grpc"), (Protocol::HttpProtobuf, "http")] {
        let rx = support::Receiver::start();
        let guard = telemark::init(otlp_config(&rx, protocol, Duration::from_millis(200))).unwrap();
        // Counts are since the program started (and this loop runs twice): expect ours on top.
        let before = counted("pushed");
        for id in 1..=7 {
            let _ = pushed(id);
        }
        let expected = [before[0] + 5, before[1] + 2, before[2]];
        assert_eq!(counted("pushed"), expected, "what telemark counted");

        // Pushed on telemark's timer (every 200 ms): waits for the push that counted them.
        let reqs = rx.wait_metrics(|reqs| {
            reqs.iter().any(|r| pushed_calls(r, "metrics::pushed") == expected_calls(expected))
        });
        let req = reqs
            .iter()
            .find(|r| pushed_calls(r, "metrics::pushed") == expected_calls(expected))
            .unwrap_or_else(|| {
                let last = reqs.last().map(|r| pushed_calls(r, "metrics::pushed"));
                panic!("{transport}: no push with {expected:?}: {} requests, the last: {last:?}", reqs.len())
            });
        check_request(req, "metrics::pushed", expected);
        // Every push is a full cumulative snapshot: the counts never go down.
        let series: Vec<Vec<(String, i64)>> =
            reqs.iter().map(|r| pushed_calls(r, "metrics::pushed")).collect();
        assert!(
            series.windows(2).all(|w| w[0].iter().zip(&w[1]).all(|(a, b)| a.0 == b.0 && a.1 <= b.1)),
            "{series:?}"
        );
        let metrics_requests: Vec<_> =
            rx.requests().into_iter().filter(|r| r.signal == support::Signal::Metrics).collect();
        assert!(
            metrics_requests.iter().all(|r| r.transport == transport && r.accepted),
            "{metrics_requests:#?}"
        );
        drop(guard);
        assert!(rx.take_errors().is_empty());
    }
}

#[test]
fn metrics_are_pushed_over_otlp_at_shutdown() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    for (protocol, transport) in [(Protocol::Grpc, "grpc"), (Protocol::HttpProtobuf, "http")] {
        let rx = support::Receiver::start();
        // No periodic push during the test: only the one at shutdown.
        let guard = telemark::init(otlp_config(&rx, protocol, Duration::from_secs(60))).unwrap();
        let before = counted("pushed_at_shutdown");
        let exceptions_before = telemark::metrics::snapshot()
            .iter()
            .find(|m| m.function == "metrics::pushed_at_shutdown")
            .map_or(0, |m| m.exceptions as i64);
        for fail in [false, true, false] {
            let _ = pushed_at_shutdown(fail);
        }
        let expected = [before[0] + 2, before[1] + 1, before[2]];
        assert!(rx.raw_metrics_requests().is_empty(), "{transport}: pushed before the interval");
        drop(guard);

        // Shutdown waits for the last push: it has arrived once `drop` returns, with the final
        // values — the exception captured just before included, although telemark's thread had
        // not grouped it yet when `drop` was called.
        let reqs = rx.raw_metrics_requests();
        assert_eq!(reqs.len(), 1, "{transport}: one push, at shutdown");
        check_request(&reqs[0], "metrics::pushed_at_shutdown", expected);
        assert_eq!(
            pushed_exceptions(&reqs[0], "metrics::pushed_at_shutdown"),
            Some(exceptions_before + 1),
            "{transport}: {:#?}",
            find_metric(&reqs[0], "telemark.exceptions")
        );
        assert!(rx
            .requests()
            .iter()
            .filter(|r| r.signal == support::Signal::Metrics)
            .all(|r| r.transport == transport));
    }
}
