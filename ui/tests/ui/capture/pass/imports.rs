#![deny(warnings)]
// The import of `#[capture_exceptions]` counts as used however it is spelled and in either order
// with `#[traced]`: when `#[traced]` expands first it rewrites the body itself, and the attribute
// must still resolve through the user's import. Each module has imports of its own, used only by
// the functions of one order, so that an unused import in one of them fails this case.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

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

mod traced_first {
    use std::fmt::Display;
    use telemark::{capture_exceptions, traced};

    #[traced]
    #[capture_exceptions]
    pub fn free(n: i32) -> Result<i32, String> {
        if n < 0 {
            return Err(format!("negative: {n}"));
        }
        Ok(n)
    }

    #[traced]
    #[capture_exceptions]
    pub fn unit() {}

    #[traced]
    #[capture_exceptions(level = "warn")]
    pub async fn asynchronous(n: i32) -> Result<i32, String> {
        free(n)
    }

    #[traced]
    #[capture_exceptions]
    pub fn generic<T: Display, const N: usize>(items: [T; N]) -> Result<String, String> {
        items.first().map(ToString::to_string).ok_or_else(|| "empty".to_string())
    }

    pub struct Service {
        pub calls: u32,
    }

    impl Service {
        #[traced]
        #[capture_exceptions]
        pub fn call(&mut self, n: i32) -> Result<u32, String> {
            self.calls += 1;
            free(n)?;
            Ok(self.calls)
        }

        #[traced]
        #[capture_exceptions]
        pub async fn call_async(&self, n: i32) -> Result<u32, String> {
            asynchronous(n).await?;
            Ok(self.calls)
        }
    }

    #[async_trait::async_trait]
    pub trait Repo {
        async fn load(&self, id: u64) -> Result<String, String>;
    }

    #[async_trait::async_trait]
    impl Repo for Service {
        #[traced]
        #[capture_exceptions]
        async fn load(&self, id: u64) -> Result<String, String> {
            if id == 0 {
                return Err("no row 0".into());
            }
            Ok(format!("row {id}"))
        }
    }
}

mod capture_first {
    use telemark::{capture_exceptions, traced};

    #[capture_exceptions]
    #[traced]
    pub fn free(n: i32) -> Result<i32, String> {
        if n < 0 {
            return Err(format!("negative: {n}"));
        }
        Ok(n)
    }

    #[capture_exceptions]
    #[traced]
    pub async fn asynchronous(n: i32) -> Result<i32, String> {
        free(n)
    }
}

// Paths, with no import of the attribute at all, or through an import of the crate.
mod paths {
    use telemark as tm;
    use telemark::traced;

    #[traced]
    #[telemark::capture_exceptions]
    pub fn absolute(n: i32) -> Result<i32, String> {
        crate::traced_first::free(n)
    }

    #[traced]
    #[tm::capture_exceptions]
    pub fn through_alias(n: i32) -> Result<i32, String> {
        crate::traced_first::free(n)
    }

    #[telemark::capture_exceptions]
    #[telemark::traced]
    pub fn absolute_capture_first(n: i32) -> Result<i32, String> {
        crate::traced_first::free(n)
    }
}

// A renamed import, in either order (a macro cannot see through the rename: below `#[traced]` the
// capture expands on its own, around the span).
mod renamed_traced_first {
    use telemark::capture_exceptions as capture;
    use telemark::traced;

    #[traced]
    #[capture]
    pub fn free(n: i32) -> Result<i32, String> {
        crate::traced_first::free(n)
    }
}

mod renamed_capture_first {
    use telemark::capture_exceptions as capture;
    use telemark::traced;

    #[capture]
    #[traced]
    pub fn free(n: i32) -> Result<i32, String> {
        crate::traced_first::free(n)
    }
}

// `#[alert_on]` without `#[traced]` adds one above the remaining attributes, so the capture is
// rewritten by `#[traced]` here too.
mod alert_on_above {
    use telemark::{alert_on, capture_exceptions};

    #[alert_on(errors > 1)]
    #[capture_exceptions]
    pub fn free(n: i32) -> Result<i32, String> {
        crate::traced_first::free(n)
    }
}

fn main() {
    use traced_first::Repo as _;

    assert_eq!(traced_first::free(1), Ok(1));
    assert!(traced_first::free(-1).is_err());
    traced_first::unit();
    assert_eq!(block_on(assert_send(traced_first::asynchronous(2))), Ok(2));
    assert!(block_on(traced_first::asynchronous(-2)).is_err());
    assert_eq!(traced_first::generic([7, 8]), Ok("7".to_string()));
    assert!(traced_first::generic::<u8, 0>([]).is_err());
    let mut s = traced_first::Service { calls: 0 };
    assert_eq!(s.call(1), Ok(1));
    assert!(s.call(-1).is_err());
    assert_eq!(block_on(assert_send(s.call_async(1))), Ok(2));
    assert_eq!(block_on(assert_send(s.load(3))), Ok("row 3".to_string()));
    assert!(block_on(s.load(0)).is_err());

    assert_eq!(capture_first::free(3), Ok(3));
    assert!(block_on(assert_send(capture_first::asynchronous(-3))).is_err());

    assert_eq!(paths::absolute(4), Ok(4));
    assert!(paths::through_alias(-4).is_err());
    assert_eq!(paths::absolute_capture_first(5), Ok(5));

    assert_eq!(renamed_traced_first::free(6), Ok(6));
    assert!(renamed_capture_first::free(-6).is_err());

    assert_eq!(alert_on_above::free(7), Ok(7));
}
