#![deny(warnings)]
// `crate = path`: telemark reached under another name, through a re-export or a renamed crate.
// Generated code then names `<path>::__private` (fail/crate_path_unresolved.rs shows it does).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

extern crate telemark as tm;

/// What a wrapper library does: re-export telemark as its own.
mod my_telemark {
    pub use telemark::*;
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[my_telemark::traced(crate = my_telemark, kind = "server", level = "warn")]
fn through_reexport(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[tm::traced(crate = tm)]
async fn through_renamed_crate(n: u32) -> u32 {
    n * 2
}

#[my_telemark::traced(crate = my_telemark, parent = None::<my_telemark::SpanContext>, sample = 1.0)]
fn with_parent() {}

#[tm::traced(crate = ::tm, root, fields(job.id = 7))]
fn with_root() {}

mod nested {
    use crate::my_telemark::traced;

    pub struct Counter(pub u32);

    impl Counter {
        #[traced(name = "nested.bump", crate = crate::my_telemark, ret)]
        pub fn bump(&mut self) -> u32 {
            self.0 += 1;
            self.0
        }
    }
}

fn main() {
    let capture = tm::testing::capture();
    assert_eq!(through_reexport(1), Ok(1));
    assert!(through_reexport(0).is_err());
    assert_eq!(block_on(through_renamed_crate(2)), 4);
    assert_eq!(nested::Counter(0).bump(), 1);
    with_parent();
    with_root();

    let span = capture.span("through_reexport").expect("a span for `through_reexport`");
    assert_eq!(span.kind, tm::SpanKind::Server);
    assert!(capture.span("through_renamed_crate").is_some());
    let span = capture.span("nested.bump").expect("a span for `nested.bump`");
    assert_eq!(span.attr("return.value").and_then(|v| v.as_i64()), Some(1));
    assert!(capture.span("with_parent").is_some());
    let span = capture.span("with_root").expect("a span for `with_root`");
    assert_eq!(span.attr("job.id").and_then(|v| v.as_i64()), Some(7));
}
