#![deny(warnings)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use telemark::traced;

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[async_trait::async_trait]
trait Repo {
    async fn load(&self, id: u64) -> Result<String, String>;
    async fn save(&mut self, id: u64, value: String);
    async fn count(&self) -> usize;
}

struct Memory {
    rows: Vec<(u64, String)>,
}

// `#[traced]` under `#[async_trait]`: the span covers the boxed future.
#[async_trait::async_trait]
impl Repo for Memory {
    #[traced(kind = "client")]
    async fn load(&self, id: u64) -> Result<String, String> {
        let row = self.rows.iter().find(|(i, _)| *i == id).ok_or_else(|| format!("no row {id}"))?;
        Ok(row.1.clone())
    }

    #[traced(skip(value))]
    async fn save(&mut self, id: u64, value: String) {
        self.rows.push((id, value));
    }

    #[traced(ret)]
    async fn count(&self) -> usize {
        self.rows.len()
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let mut m = Memory { rows: Vec::new() };
    block_on(assert_send(m.save(1, "one".into())));
    assert_eq!(block_on(m.load(1)), Ok("one".to_string()));
    assert!(block_on(m.load(2)).is_err());
    assert_eq!(block_on(m.count()), 1);
}
