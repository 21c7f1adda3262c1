#![deny(warnings)]
// Functions that return no `Result`: nothing to capture but a panic; values and early returns
// are unchanged.

use std::future::Future;
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

#[capture_exceptions]
fn nothing() {}

#[capture_exceptions]
fn unit(log: &mut Vec<u32>) {
    log.push(1);
}

#[capture_exceptions]
fn explicit_unit() -> () {}

#[capture_exceptions]
fn number(n: u32) -> u32 {
    if n == 0 {
        return 100;
    }
    n * 2
}

#[capture_exceptions]
fn option(v: &[u32]) -> Option<&u32> {
    v.first()
}

#[capture_exceptions]
fn borrowed<'a>(a: &'a str, b: &str) -> &'a str {
    let _ = b;
    a
}

#[capture_exceptions]
fn diverges() -> ! {
    panic!("diverges")
}

#[capture_exceptions]
async fn async_unit(log: &mut Vec<u32>) {
    log.push(2);
}

#[capture_exceptions]
async fn async_number(n: u32) -> u32 {
    if n == 0 {
        return 100;
    }
    n * 3
}

// A panic inside unwinds through the function unchanged.
#[capture_exceptions]
fn divide(a: u32, b: u32) -> u32 {
    a / b
}

fn main() {
    nothing();
    let mut log = Vec::new();
    unit(&mut log);
    explicit_unit();
    assert_eq!(number(0), 100);
    assert_eq!(number(4), 8);
    assert_eq!(option(&[7, 8]), Some(&7));
    assert_eq!(borrowed("a", "b"), "a");
    block_on(async_unit(&mut log));
    assert_eq!(log, [1, 2]);
    assert_eq!(block_on(async_number(0)), 100);
    assert_eq!(block_on(async_number(2)), 6);
    std::panic::set_hook(Box::new(|_| {}));
    assert!(std::panic::catch_unwind(|| divide(1, 0)).is_err());
    assert!(std::panic::catch_unwind(|| diverges()).is_err());
    let _ = std::panic::take_hook();
    assert_eq!(divide(6, 3), 2);
}
