#![deny(warnings)]
// `impl Trait` in the return type: the body runs in place (a closure could not name the type),
// so a returned `Err` is not seen, but the function compiles and a panic inside is captured.

use std::fmt::Display;
use std::future::Future;
use telemark::capture_exceptions;

#[capture_exceptions]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[capture_exceptions]
fn shown(n: u32) -> Result<impl Display, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[capture_exceptions]
fn later(n: u32) -> impl Future<Output = Result<u32, String>> {
    async move { if n == 0 { Err("zero".to_string()) } else { Ok(n) } }
}

#[capture_exceptions]
async fn async_shown(n: u32) -> Result<impl Display, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

fn main() {
    assert_eq!(evens(7).collect::<Vec<_>>(), [0, 2, 4, 6]);
    assert_eq!(shown(3).unwrap().to_string(), "3");
    assert!(shown(0).is_err());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let fut = std::pin::pin!(later(0));
    assert!(matches!(fut.poll(&mut cx), std::task::Poll::Ready(Err(_))));
    let fut = std::pin::pin!(async_shown(0));
    assert!(matches!(fut.poll(&mut cx), std::task::Poll::Ready(Err(_))));
}
