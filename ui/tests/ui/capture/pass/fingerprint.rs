#![deny(warnings)]
// A fingerprint is any `Display` expression that needs none of the call's arguments.

use telemark::capture_exceptions;

const DB_TIMEOUTS: &str = "db-timeouts";

mod keys {
    pub const PAYMENTS: &str = "payments";
    pub fn region() -> String {
        "eu-west".to_string()
    }
}

#[capture_exceptions(fingerprint = DB_TIMEOUTS)]
fn from_const(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("timeout".into());
    }
    Ok(n)
}

#[capture_exceptions(fingerprint = keys::PAYMENTS)]
fn from_path() -> Result<(), String> {
    Err("declined".into())
}

#[capture_exceptions(fingerprint = concat!("db", "-", "timeouts"))]
fn from_concat() -> Result<(), String> {
    Err("timeout".into())
}

#[capture_exceptions(fingerprint = format!("{}-{}", module_path!(), keys::region()))]
fn from_format() -> Result<(), String> {
    Err("timeout".into())
}

#[capture_exceptions(fingerprint = 404)]
fn from_number() -> Result<(), String> {
    Err("not found".into())
}

#[capture_exceptions(fingerprint = keys::region())]
async fn from_call_async() -> Result<(), String> {
    Err("timeout".into())
}

#[capture_exceptions(fingerprint = "worker-crash")]
fn not_result(items: &[u32]) -> u32 {
    items.iter().sum()
}

fn main() {
    assert!(from_const(0).is_err());
    assert_eq!(from_const(1), Ok(1));
    assert!(from_path().is_err());
    assert!(from_concat().is_err());
    assert!(from_format().is_err());
    assert!(from_number().is_err());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let fut = std::pin::pin!(from_call_async());
    assert!(matches!(std::future::Future::poll(fut, &mut cx), std::task::Poll::Ready(Err(_))));
    assert_eq!(not_result(&[1, 2]), 3);
}
