#![deny(warnings)]
// Arguments under `#[cfg]`: one whose condition is false does not exist, so nothing may record it
// (nor shift the others); one whose condition is true is recorded as usual.

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
fn sync(#[cfg(any())] x: u32, y: u32, #[cfg(all())] z: u32) -> u32 {
    y + z
}

// The value path (`ret`), a secret name, a pattern.
#[traced(ret)]
fn value(#[cfg(any())] password: &str, #[cfg(any())] (a, b): (u8, u8), y: u32) -> u32 {
    y
}

#[traced]
async fn asynchronous(#[cfg(any())] x: u32, y: u32, #[cfg(all())] z: u32) -> u32 {
    y + z
}

// `cfg_attr` that expands to `cfg`, and one that only expects a lint on the argument (copied onto
// the generated code it would be an unfulfilled expectation).
#[traced]
fn cfg_attrs(
    #[cfg_attr(all(), cfg(any()))] x: u32,
    #[cfg_attr(any(), cfg(any()))] y: u32,
    #[cfg_attr(all(), expect(non_snake_case))] userId: u32,
) -> u32 {
    y + userId
}

// One name under exclusive conditions: exactly one of them exists.
#[traced]
fn exclusive(#[cfg(all())] v: u32, #[cfg(not(all()))] v: String) -> u32 {
    v
}

// `skip` may name an argument that does not exist in this configuration.
#[traced(skip(x))]
fn skipped(#[cfg(any())] x: u32, y: u32) -> u32 {
    y
}

#[traced(skip_all, fields(y = y * 2))]
fn fields_only(#[cfg(any())] x: u32, y: u32) -> u32 {
    y
}

#[traced]
#[capture_exceptions]
fn captured(#[cfg(any())] x: u32, y: u32) -> Result<u32, String> {
    if y == 0 {
        return Err("zero".into());
    }
    Ok(y)
}

#[capture_exceptions]
#[traced]
async fn captured_async(#[cfg(any())] x: u32, y: u32, #[cfg(all())] z: u32) -> Result<u32, String> {
    if y == 0 {
        return Err("zero".into());
    }
    Ok(y + z)
}

struct Service {
    base: u32,
}

impl Service {
    #[traced]
    fn method(&self, #[cfg(any())] x: u32, y: u32, #[cfg(all())] z: u32) -> u32 {
        self.base + y + z
    }

    #[traced(ret)]
    async fn method_async(&mut self, #[cfg(any())] x: u32, y: u32) -> u32 {
        self.base += y;
        self.base
    }
}

#[async_trait::async_trait]
trait Repo {
    async fn load(&self, #[cfg(any())] x: u32, y: u32, #[cfg(all())] z: u32) -> Result<u32, String>;
}

#[async_trait::async_trait]
impl Repo for Service {
    #[traced]
    async fn load(&self, #[cfg(any())] x: u32, y: u32, #[cfg(all())] z: u32) -> Result<u32, String> {
        Ok(self.base + y + z)
    }
}

fn main() {
    assert_eq!(sync(1, 2), 3);
    assert_eq!(value(4), 4);
    assert_eq!(block_on(assert_send(asynchronous(1, 2))), 3);
    assert_eq!(cfg_attrs(1, 2), 3);
    assert_eq!(exclusive(5), 5);
    assert_eq!(skipped(6), 6);
    assert_eq!(fields_only(7), 7);
    assert_eq!(captured(8), Ok(8));
    assert!(captured(0).is_err());
    assert_eq!(block_on(assert_send(captured_async(1, 2))), Ok(3));
    let mut s = Service { base: 10 };
    assert_eq!(s.method(1, 2), 13);
    assert_eq!(block_on(assert_send(s.method_async(5))), 15);
    assert_eq!(block_on(assert_send(s.load(1, 2))), Ok(18));
}
