//! Alert rules declared on functions with `#[alert_on]`, listed and written as a Prometheus rule
//! file — no backend, no `init` needed: the rules are registered at link time.
//!
//! ```sh
//! cargo run --example alert_rules                       # writes configs/alerts.rules.yml
//! cargo run --example alert_rules -- /tmp/rules.yml     # or anywhere else
//! promtool check rules configs/alerts.rules.yml
//! ```

use telemark::{alert_on, traced};

/// A checkout: slow is bad, failing is worse.
#[traced]
#[alert_on(p99_latency > 300ms, window = "10m", for = "2m", severity = "critical",
    summary = "{function} is slow: p99 {value} > {threshold}", labels(team = "payments"))]
#[alert_on(error_rate > 5%, min_calls = 20, severity = "critical", labels(team = "payments"),
    description = "More than {threshold} of the calls to {function} failed over the last 5 minutes ({value}).")]
fn checkout(items: u32) -> Result<u32, String> {
    if items == 0 {
        return Err("empty cart".to_string());
    }
    Ok(items * 100)
}

/// Without `#[traced]`: `#[alert_on]` records the metrics without a span.
#[alert_on(max_latency > 1.5s)]
#[alert_on(calls < 1, window = "1h", severity = "info", name = "search_idle",
    summary = "nobody searched in the last hour")]
fn search(query: &str) -> usize {
    query.len()
}

/// Exceptions captured in a background job, and how often it runs.
#[traced]
#[telemark::capture_exceptions]
#[alert_on(exceptions > 10, window = "15m", notify = ["console"])]
#[alert_on(rate < 0.5, name = "sync_stalled")]
fn sync_inventory() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The rules are known before any of these functions has run.
    let rules = telemark::alerts::rules();
    println!("{} alert rules:", rules.len());
    for r in &rules {
        let at = match &r.origin {
            telemark::alerts::Origin::Macro { file, line } => format!("{file}:{line}"),
            telemark::alerts::Origin::Config { .. } => "config".to_string(),
        };
        println!("  {r}  [{}] ({at})", r.severity.as_str());
    }
    let path = std::env::args().nth(1).unwrap_or_else(|| "configs/alerts.rules.yml".to_string());
    std::fs::write(&path, telemark::alerts::prometheus_rules(&rules))?;
    println!("wrote {path}");

    // The functions themselves (their metrics are what the rules watch).
    let _ = checkout(2);
    let _ = search("lamp");
    let _ = sync_inventory();
    Ok(())
}
