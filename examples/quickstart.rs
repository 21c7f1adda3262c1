//! The smallest telemark program: no backend, no network. It prints a span tree per trace and the
//! log lines, each carrying its trace and span ids.
//!
//! ```text
//! cargo run --example quickstart
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 cargo run --example quickstart   # to a collector
//! ```

use telemark::traced;
use telemark::tracing::{error, info, warn};

#[derive(Debug)]
struct Order {
    id: u64,
    items: Vec<&'static str>,
}

#[traced(kind = "server", fields(order.items = order.items.len()))]
fn handle_order(order: &Order, api_token: &str) -> Result<u64, String> {
    info!(order_id = order.id, "received order");
    let total = price(&order.items)?;
    charge(order.id, total, api_token)?;
    info!(total, "order complete");
    Ok(total)
}

#[traced(ret)]
fn price(items: &[&str]) -> Result<u64, String> {
    items
        .iter()
        .map(|i| match *i {
            "book" => Ok(12),
            "pen" => Ok(2),
            other => Err(format!("unknown item {other:?}")),
        })
        .sum()
}

#[traced(kind = "client", skip(token))]
fn charge(order_id: u64, amount: u64, token: &str) -> Result<(), String> {
    let _ = token;
    if amount > 20 {
        warn!(amount, "amount needs review");
    }
    telemark::current_span().set_attribute("payment.provider", "acme");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = telemark::init(telemark::Config::from_env()?)?;

    for order in [Order { id: 1, items: vec!["book", "pen"] }, Order { id: 2, items: vec!["book", "lamp"] }] {
        match handle_order(&order, "s3cr3t") {
            Ok(total) => info!(order = order.id, total, "ok"),
            Err(e) => error!(order = order.id, error = %e, "order failed"),
        }
    }
    Ok(())
}
