#![deny(warnings)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use telemark::traced;

/// A minimal executor: polls until ready (the futures here never wait on anything).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Returns `Pending` once, so spans cross a suspension point.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[traced]
async fn nothing() {}

#[traced]
async fn double(x: u32) -> u32 {
    YieldOnce(false).await;
    x * 2
}

#[traced(ret, err)]
async fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    YieldOnce(false).await;
    let n: u32 = s.trim().parse()?;
    if n == 0 {
        return Ok(1);
    }
    Ok(n)
}

#[traced(ret)]
async fn borrowed<'a>(s: &'a str) -> &'a str {
    &s[1..]
}

#[traced(ret)]
async fn display_later(x: u32) -> impl std::fmt::Display {
    x
}

#[traced]
async fn nested() -> u32 {
    double(1).await + double(2).await
}

struct Service {
    calls: u32,
}

impl Service {
    #[traced]
    async fn call(&mut self, n: u32) -> u32 {
        YieldOnce(false).await;
        self.calls += n;
        self.calls
    }
}

fn main() {
    block_on(nothing());
    assert_eq!(block_on(double(2)), 4);
    assert_eq!(block_on(parse("7")), Ok(7));
    assert_eq!(block_on(parse("0")), Ok(1));
    assert!(block_on(parse("x")).is_err());
    assert_eq!(block_on(borrowed("abc")), "bc");
    assert_eq!(block_on(display_later(3)).to_string(), "3");
    assert_eq!(block_on(nested()), 6);
    let mut s = Service { calls: 0 };
    assert_eq!(block_on(s.call(2)), 2);
    // A future dropped before completion ends its span.
    drop(double(9));
}
