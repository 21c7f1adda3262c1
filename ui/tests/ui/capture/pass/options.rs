#![deny(warnings)]
// Every option, alone and all together, in each accepted spelling.

use telemark::capture_exceptions;

#[capture_exceptions(
    ignore = ["NotFound", "io::ErrorKind::WouldBlock", "cache miss"],
    backtrace = true,
    level = "warn",
    fingerprint = "file-reads",
)]
fn all(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

#[capture_exceptions(fingerprint = "all-async", level = "error", backtrace = false, ignore = [])]
async fn all_async(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[capture_exceptions()]
fn empty_parens() -> Result<(), String> {
    Ok(())
}

#[capture_exceptions(ignore = ["timeout",])]
fn trailing_comma_in_list() -> Result<(), String> {
    Err("timeout".into())
}

#[capture_exceptions(ignore = ["DbError::Timeout", "std::io::ErrorKind::NotFound", "_private::Kind2"])]
fn type_patterns() -> Result<(), String> {
    Ok(())
}

#[capture_exceptions(level = warn)]
fn level_without_quotes() -> Result<(), String> {
    Ok(())
}

#[capture_exceptions(level = "warning")]
fn level_warning() -> Result<(), String> {
    Ok(())
}

#[capture_exceptions(level = "Error")]
fn level_capitalised() -> Result<(), String> {
    Ok(())
}

#[capture_exceptions(backtrace = false,)]
fn trailing_comma() -> Result<(), String> {
    Ok(())
}

fn main() {
    assert!(all("/nonexistent/telemark-ui").is_err());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let fut = std::pin::pin!(all_async(0));
    assert!(matches!(std::future::Future::poll(fut, &mut cx), std::task::Poll::Ready(Err(_))));
    assert!(empty_parens().is_ok());
    assert!(trailing_comma_in_list().is_err());
    assert!(type_patterns().is_ok());
    assert!(level_without_quotes().is_ok());
    assert!(level_warning().is_ok());
    assert!(level_capitalised().is_ok());
    assert!(trailing_comma().is_ok());
}
