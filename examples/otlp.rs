//! Sends spans and logs to an OpenTelemetry Collector (or Jaeger, Tempo…) over OTLP.
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 cargo run --example otlp
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf cargo run --example otlp
//! ```
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it falls back to the console, like every telemark program.

use telemark::traced;
use telemark::tracing::{error, info, warn};

#[traced(kind = "server")]
fn handle(request_id: u32) -> Result<(), String> {
    info!(request_id, "handling request");
    lookup(request_id)?;
    Ok(())
}

#[traced(kind = "client", fields(db.system = "postgresql"))]
fn lookup(id: u32) -> Result<u32, String> {
    if id % 3 == 0 {
        warn!(id, "cache miss, falling back");
        return Err(format!("user {id} not found"));
    }
    Ok(id * 10)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = telemark::Config::from_env()?;
    let endpoint = config.exporters.otlp.endpoint.clone();
    let guard = telemark::init(config)?;
    for id in 1..=3 {
        if let Err(e) = handle(id) {
            error!(error = %e, "request failed");
        }
    }
    // Dropping the guard flushes; say what really happened, so a wrong or dead endpoint shows
    // (telemark also says once on stderr when export fails).
    let all_delivered = guard.shutdown_within(std::time::Duration::from_secs(5));
    let s = telemark::stats();
    eprintln!(
        "otlp example: endpoint={endpoint:?} all_delivered={all_delivered} \
         spans: {} recorded, {} exported, {} dropped; logs: {} recorded, {} exported, {} dropped",
        s.spans_recorded, s.spans_exported, s.spans_dropped, s.logs_recorded, s.logs_exported, s.logs_dropped
    );
    Ok(())
}
