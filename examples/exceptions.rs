//! A small order service that fails in several ways — a database timeout (twice, with different
//! ids), a missing row, a parse error behind `Box<dyn Error>`, an expected cache miss that is
//! ignored, and a panic on a worker thread — and prints its exception groups at the end.
//!
//! ```text
//! cargo run --example exceptions
//! ```

use std::fmt;
use telemark::{capture_exceptions, traced};

/// The database's errors: each variant is its own group.
#[derive(Debug)]
enum DbError {
    Timeout { query_id: u64, ms: u64 },
    NotFound(u64),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Timeout { query_id, ms } => write!(f, "query {query_id} timed out after {ms} ms"),
            DbError::NotFound(id) => write!(f, "order {id} not found"),
        }
    }
}

impl std::error::Error for DbError {}

#[traced(kind = "client")]
#[capture_exceptions]
fn load_order(id: u64) -> Result<String, DbError> {
    match id {
        7 | 8 => Err(DbError::Timeout { query_id: id * 1000 + 17, ms: 250 }),
        404 => Err(DbError::NotFound(id)),
        _ => Ok(format!("order {id}")),
    }
}

#[capture_exceptions(level = "warn")]
fn parse_quantity(text: &str) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(text.trim().parse::<u32>()?)
}

#[capture_exceptions(ignore = ["cache miss"], backtrace = false)]
fn from_cache(id: u64) -> Result<String, String> {
    Err(format!("cache miss for order {id}"))
}

#[traced(kind = "server")]
fn handle(id: u64, quantity: &str) -> Result<String, String> {
    let _ = from_cache(id);
    let order = load_order(id).map_err(|e| e.to_string())?;
    let n = parse_quantity(quantity).map_err(|e| e.to_string())?;
    Ok(format!("{order} x{n}"))
}

#[capture_exceptions]
fn worker(batch: &[u64]) -> u64 {
    batch.iter().map(|id| 100 / id).sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = telemark::init(telemark::Config::from_env()?)?;

    for (id, quantity) in [(1, "2"), (7, "1"), (8, "3"), (404, "1"), (2, "two")] {
        match handle(id, quantity) {
            Ok(done) => println!("ok: {done}"),
            Err(e) => println!("failed: {e}"),
        }
    }
    // A panic on another thread is captured by the hook `init` installed, then unwinds as usual.
    let crashed = std::thread::spawn(|| worker(&[5, 0, 2])).join().is_err();
    println!("worker thread panicked: {crashed}");

    // `groups()` waits until telemark's thread has grouped (and printed) every exception above.
    let groups = telemark::exceptions::groups();
    println!("\nexception groups:");
    for g in groups {
        println!(
            "  {:>3} × {}  {}  ({}) at {}",
            g.count, g.fingerprint, g.type_name, g.sample_message, g.site
        );
        if let Some(top) = g.top_frames.first() {
            println!("        top in-app frame: {top}");
        }
    }
    println!("ignored: {}", telemark::exceptions::ignored());
    Ok(())
}
