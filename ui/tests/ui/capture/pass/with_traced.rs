#![deny(warnings)]
// With `#[traced]`, in either order, sync and async: the capture runs inside the span.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use telemark::{capture_exceptions, traced};

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

#[traced]
#[capture_exceptions]
fn traced_first(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

#[capture_exceptions]
#[traced]
fn capture_first(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

#[traced(ret, level = "debug")]
#[capture_exceptions(level = "warn", backtrace = false)]
fn with_options(n: u32) -> Result<u32, std::num::TryFromIntError> {
    Ok(u8::try_from(n)?.into())
}

#[capture_exceptions(ignore = ["NotFound"])]
#[traced(err = false)]
fn quiet_span(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

#[traced]
#[capture_exceptions]
fn not_result(n: u32) -> u32 {
    n + 1
}

#[capture_exceptions]
#[traced]
fn unit_capture_first() {}

#[traced]
#[capture_exceptions]
async fn async_traced_first(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

#[capture_exceptions]
#[traced]
async fn async_capture_first(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

#[traced]
#[capture_exceptions]
async fn async_unit(log: &mut Vec<u32>) {
    log.push(1);
}

#[capture_exceptions]
#[traced]
async fn async_unit_capture_first(log: &mut Vec<u32>) {
    log.push(2);
}

// Paths to the attributes work too.
#[telemark::traced]
#[telemark::capture_exceptions]
fn paths(n: i32) -> Result<i32, String> {
    traced_first(n)
}

struct Service {
    calls: u32,
}

impl Service {
    #[traced]
    #[capture_exceptions]
    fn call(&mut self, n: i32) -> Result<u32, String> {
        self.calls += 1;
        capture_first(n)?;
        Ok(self.calls)
    }

    #[capture_exceptions]
    #[traced]
    async fn call_async(&self, n: i32) -> Result<u32, String> {
        async_traced_first(n).await?;
        Ok(self.calls)
    }
}

fn main() {
    assert_eq!(traced_first(1), Ok(1));
    assert!(traced_first(-1).is_err());
    assert_eq!(capture_first(2), Ok(2));
    assert!(capture_first(-2).is_err());
    assert_eq!(with_options(5), Ok(5));
    assert!(with_options(500).is_err());
    assert!(quiet_span("/nonexistent/telemark-ui").is_err());
    assert_eq!(not_result(1), 2);
    unit_capture_first();
    assert_eq!(block_on(assert_send(async_traced_first(3))), Ok(3));
    assert!(block_on(async_traced_first(-3)).is_err());
    assert_eq!(block_on(assert_send(async_capture_first(4))), Ok(4));
    assert!(block_on(async_capture_first(-4)).is_err());
    let mut log = Vec::new();
    block_on(assert_send(async_unit(&mut log)));
    block_on(assert_send(async_unit_capture_first(&mut log)));
    assert_eq!(log, [1, 2]);
    assert!(paths(-1).is_err());
    let mut s = Service { calls: 0 };
    assert_eq!(s.call(1), Ok(1));
    assert!(s.call(-1).is_err());
    assert_eq!(block_on(assert_send(s.call_async(1))), Ok(2));
}
