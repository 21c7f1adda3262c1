#![deny(warnings)]
// The error types people return, from async functions; the futures stay `Send`.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use telemark::capture_exceptions;

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

/// Pending once, so that the body really suspends inside the capture scope.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[derive(Debug)]
enum DbError {
    Timeout(u64),
    NotFound { id: u64 },
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Timeout(ms) => write!(f, "timed out after {ms} ms"),
            DbError::NotFound { id } => write!(f, "row {id} not found"),
        }
    }
}

impl Error for DbError {}

#[derive(Debug)]
struct OnlyDebug(#[allow(dead_code)] u32);

struct Opaque;

#[capture_exceptions]
async fn own_error(id: u64) -> Result<u64, DbError> {
    yield_now().await;
    match id {
        0 => Err(DbError::NotFound { id }),
        1..=9 => Ok(id),
        _ => Err(DbError::Timeout(id)),
    }
}

#[capture_exceptions]
async fn io_error(path: &str) -> io::Result<String> {
    yield_now().await;
    std::fs::read_to_string(path)
}

#[capture_exceptions]
async fn full_io_error(fail: bool) -> Result<(), io::Error> {
    if fail {
        return Err(io::Error::new(io::ErrorKind::WouldBlock, "try again"));
    }
    Ok(())
}

// `Box<dyn Error>` is not `Send`: held only after the last `.await`.
#[capture_exceptions]
async fn boxed(text: &str) -> Result<u16, Box<dyn Error>> {
    yield_now().await;
    Ok(text.parse::<u16>()?)
}

#[capture_exceptions]
async fn boxed_send_sync(text: &str) -> Result<u16, Box<dyn Error + Send + Sync>> {
    yield_now().await;
    if text.is_empty() {
        return Err("empty".into());
    }
    Ok(text.parse::<u16>()?)
}

#[capture_exceptions]
async fn string(n: i32) -> Result<i32, String> {
    yield_now().await;
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

#[capture_exceptions]
async fn only_debug(n: u32) -> Result<(), OnlyDebug> {
    yield_now().await;
    if n > 0 {
        return Err(OnlyDebug(n));
    }
    Ok(())
}

#[capture_exceptions]
async fn opaque(fail: bool) -> Result<(), Opaque> {
    yield_now().await;
    if fail {
        Err(Opaque)
    } else {
        Ok(())
    }
}

fn main() {
    assert_eq!(block_on(assert_send(own_error(3))).unwrap(), 3);
    assert!(matches!(block_on(own_error(0)), Err(DbError::NotFound { id: 0 })));
    assert!(matches!(block_on(own_error(17)), Err(DbError::Timeout(17))));
    let e = block_on(assert_send(io_error("/nonexistent/telemark-ui"))).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(block_on(assert_send(full_io_error(true))).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert_eq!(block_on(boxed("80")).unwrap(), 80);
    assert!(block_on(boxed("http")).is_err());
    assert_eq!(block_on(assert_send(boxed_send_sync("443"))).unwrap(), 443);
    assert!(block_on(boxed_send_sync("")).is_err());
    assert_eq!(block_on(assert_send(string(-2))), Err("negative: -2".to_string()));
    assert!(block_on(assert_send(only_debug(1))).is_err());
    assert!(block_on(assert_send(opaque(true))).is_err());
    assert!(block_on(opaque(false)).is_ok());
}
