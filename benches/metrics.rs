//! What the per-function metrics add to a `#[traced]` call (target: at most 5 ns), in one criterion
//! run: the same function with metrics off and on, for a sampled child span, a span disabled by
//! level, and an unsampled root — ns per call on the caller's thread. With metrics on, a recorded
//! span lends its timestamps to the metrics; a span that is not recorded reads the clock twice.
//!
//! `cargo bench -p telemark-benches --bench metrics` prints a markdown table, also written to
//! `target/telemark-bench/metrics.md`; `cargo test -p telemark-benches --bench metrics` runs every case once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::Criterion;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

#[inline(never)]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[telemark::traced(skip_all)]
#[inline(never)]
fn child(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[telemark::traced(skip_all, level = "debug")]
#[inline(never)]
fn debug_level(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// Children run under a root replaced every 1,024 calls (its cost is amortized over them).
fn under_roots(b: &mut criterion::Bencher<'_>) {
    b.iter_custom(|iters| {
        let start = std::time::Instant::now();
        let mut left = iters;
        while left > 0 {
            let n = left.min(1024);
            let _root = telemark::span("root");
            for i in 0..n {
                black_box(child(black_box(i)));
            }
            left -= n;
        }
        start.elapsed()
    });
}

fn flat(b: &mut criterion::Bencher<'_>, f: fn(u64) -> u64) {
    let mut i = 0u64;
    b.iter(|| {
        i = i.wrapping_add(1);
        black_box(f(black_box(i)))
    });
}

struct Setup {
    id: &'static str,
    metrics: bool,
    sampler_off: bool,
}

fn config(s: &Setup) -> telemark::Config {
    let mut c = telemark::Config::default()
        .console(false)
        .exporter(telemark::export::Discard)
        .install_subscriber(false)
        .level("info")
        .unwrap();
    c.metrics.enabled = s.metrics;
    if s.sampler_off {
        c = c.sampler(telemark::config::SamplerName::AlwaysOff, 1.0);
    }
    c
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test -p telemark-benches --bench metrics` does not (each case runs once).
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let mut c = if test_mode {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_millis(1))
    } else {
        Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
    }
    .configure_from_args();
    let setups = [
        Setup { id: "metrics_off", metrics: false, sampler_off: false },
        Setup { id: "metrics_on", metrics: true, sampler_off: false },
        Setup { id: "metrics_off_unsampled", metrics: false, sampler_off: true },
        Setup { id: "metrics_on_unsampled", metrics: true, sampler_off: true },
    ];
    let mut g = c.benchmark_group("metrics");
    g.bench_function("plain", |b| flat(b, plain));
    for s in &setups {
        let guard = telemark::init(config(s)).unwrap();
        if s.sampler_off {
            g.bench_function(format!("unsampled_root/{}", s.id), |b| flat(b, child));
        } else {
            g.bench_function(format!("sampled_child/{}", s.id), under_roots);
            g.bench_function(format!("disabled_by_level/{}", s.id), |b| flat(b, debug_level));
        }
        drop(guard);
    }
    g.finish();
    if test_mode {
        return;
    }
    // The table: criterion's medians from this run.
    let dir = telemark_benches::target_dir();
    let median = |id: &str| -> Option<f64> {
        // Criterion stores `a/b` ids under `a_b`.
        let p = dir
            .join("criterion")
            .join("metrics")
            .join(id.replace('/', "_"))
            .join("new")
            .join("estimates.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        v["median"]["point_estimate"].as_f64()
    };
    let mut out =
        String::from("| case | metrics off (ns) | metrics on (ns) | added (ns) |\n|---|---:|---:|---:|\n");
    for (case, off, on) in [
        ("sampled child span", "sampled_child/metrics_off", "sampled_child/metrics_on"),
        ("span disabled by level", "disabled_by_level/metrics_off", "disabled_by_level/metrics_on"),
        (
            "unsampled root span",
            "unsampled_root/metrics_off_unsampled",
            "unsampled_root/metrics_on_unsampled",
        ),
    ] {
        if let (Some(a), Some(b)) = (median(off), median(on)) {
            let _ = writeln!(out, "| {case} | {a:.1} | {b:.1} | {:+.1} |", b - a);
        }
    }
    if let Some(p) = median("plain") {
        let _ = writeln!(out, "| plain call | {p:.1} | | |");
    }
    println!("\n{out}");
    let _ = std::fs::create_dir_all(dir.join("telemark-bench"));
    let _ = std::fs::write(dir.join("telemark-bench").join("metrics.md"), out);
}
