#![deny(warnings)]
// `#[capture_exceptions]` under `#[async_trait]`, alone and with `#[traced]` in either order.

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

#[async_trait::async_trait]
trait Repo {
    async fn load(&self, id: u64) -> Result<String, String>;
    async fn load_traced(&self, id: u64) -> Result<String, String>;
    async fn load_capture_first(&self, id: u64) -> Result<String, String>;
    async fn save(&mut self, id: u64, value: String) -> Result<(), std::io::Error>;
    async fn count(&self) -> usize;
    async fn clear(&mut self);
}

struct Memory {
    rows: Vec<(u64, String)>,
}

#[async_trait::async_trait]
impl Repo for Memory {
    #[capture_exceptions]
    async fn load(&self, id: u64) -> Result<String, String> {
        let row = self.rows.iter().find(|(i, _)| *i == id).ok_or_else(|| format!("no row {id}"))?;
        Ok(row.1.clone())
    }

    #[traced]
    #[capture_exceptions(level = "warn")]
    async fn load_traced(&self, id: u64) -> Result<String, String> {
        self.load(id).await
    }

    #[capture_exceptions(backtrace = false)]
    #[traced(kind = "client")]
    async fn load_capture_first(&self, id: u64) -> Result<String, String> {
        self.load(id).await
    }

    #[capture_exceptions(ignore = ["io::ErrorKind::AlreadyExists"])]
    async fn save(&mut self, id: u64, value: String) -> Result<(), std::io::Error> {
        if self.rows.iter().any(|(i, _)| *i == id) {
            return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, format!("row {id}")));
        }
        self.rows.push((id, value));
        Ok(())
    }

    #[capture_exceptions]
    async fn count(&self) -> usize {
        self.rows.len()
    }

    #[capture_exceptions]
    #[traced]
    async fn clear(&mut self) {
        self.rows.clear();
    }
}

fn main() {
    let mut m = Memory { rows: Vec::new() };
    assert!(block_on(assert_send(m.save(1, "one".into()))).is_ok());
    assert!(block_on(m.save(1, "again".into())).is_err());
    assert_eq!(block_on(assert_send(m.load(1))), Ok("one".to_string()));
    assert!(block_on(m.load(2)).is_err());
    assert_eq!(block_on(assert_send(m.load_traced(1))), Ok("one".to_string()));
    assert!(block_on(m.load_traced(2)).is_err());
    assert_eq!(block_on(assert_send(m.load_capture_first(1))), Ok("one".to_string()));
    assert!(block_on(m.load_capture_first(2)).is_err());
    assert_eq!(block_on(assert_send(m.count())), 1);
    block_on(assert_send(m.clear()));
    assert_eq!(block_on(m.count()), 0);
}
