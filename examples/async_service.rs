//! A small tokio service: nested spans across `.await` and spawned tasks, an error that marks its
//! span, and a panic that is caught by the task boundary but still recorded on its span.
//!
//! ```text
//! cargo run --example async_service
//! ```

use std::time::Duration;
use telemark::traced;
use telemark::tracing::{error, info};

#[derive(Debug)]
enum PaymentError {
    Declined { code: u16 },
}

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PaymentError::Declined { code } => write!(f, "card declined (code {code})"),
        }
    }
}

impl std::error::Error for PaymentError {}

#[traced(kind = "server")]
async fn checkout(order_id: u64, amount_cents: u64) -> Result<(), PaymentError> {
    info!(order_id, "checkout started");
    let (stock, fraud) = tokio::join!(reserve_stock(order_id), fraud_score(order_id));
    info!(stock, fraud, "checks done");
    // Work on another task stays in this trace: telemark::spawn carries the current span.
    telemark::spawn(send_receipt(order_id)).await.ok();
    charge(amount_cents).await
}

#[traced]
async fn reserve_stock(order_id: u64) -> bool {
    tokio::time::sleep(Duration::from_millis(5)).await;
    order_id % 7 != 0
}

#[traced(level = "debug")]
async fn fraud_score(order_id: u64) -> u32 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    (order_id * 37 % 100) as u32
}

#[traced(kind = "client")]
async fn charge(amount_cents: u64) -> Result<(), PaymentError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if amount_cents > 10_000 {
        return Err(PaymentError::Declined { code: 51 });
    }
    Ok(())
}

#[traced(kind = "producer")]
async fn send_receipt(order_id: u64) {
    tokio::time::sleep(Duration::from_millis(1)).await;
    info!(order_id, "receipt queued");
}

#[traced]
async fn flaky_job(n: u32) -> u32 {
    if n == 2 {
        panic!("job {n} hit an impossible state");
    }
    n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = telemark::init(telemark::Config::from_env()?)?;

    checkout(1, 2_500).await?;
    if let Err(e) = checkout(2, 25_000).await {
        error!(error = %e, "checkout failed");
    }
    // The panic unwinds out of the task (tokio reports it as a JoinError); the span records it.
    match tokio::spawn(flaky_job(2)).await {
        Ok(n) => info!(n, "job done"),
        Err(e) => error!(panicked = e.is_panic(), "job crashed"),
    }
    Ok(())
}
