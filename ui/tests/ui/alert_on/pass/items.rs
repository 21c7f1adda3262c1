#![deny(warnings)]
// `#[alert_on]` on what `#[traced]` accepts: methods (`&self`, `&mut self`, associated), trait
// impls, `#[async_trait]` impls, generic, async and unsafe functions, `impl Trait` returns, with
// `#[capture_exceptions]`, and `#[alert_on]` used through its full path.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use telemark::{alert_on, capture_exceptions, traced};

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

struct Cart {
    items: Vec<u32>,
}

impl Cart {
    #[alert_on(p99 > 5ms)]
    fn total(&self) -> u32 {
        self.items.iter().sum()
    }

    #[traced]
    #[alert_on(errors > 0)]
    fn add(&mut self, item: u32) -> Result<(), String> {
        if item == 0 {
            return Err("zero".into());
        }
        self.items.push(item);
        Ok(())
    }

    #[telemark::alert_on(calls > 1000)]
    fn new() -> Self {
        Cart { items: Vec::new() }
    }
}

trait Pay {
    fn pay(&self, amount: u32) -> bool;
}

impl Pay for Cart {
    #[alert_on(error_rate > 1%)]
    fn pay(&self, amount: u32) -> bool {
        amount > 0
    }
}

#[async_trait::async_trait]
trait Ship {
    async fn ship(&self) -> Result<u32, String>;
}

#[async_trait::async_trait]
impl Ship for Cart {
    #[alert_on(p95 > 1s)]
    async fn ship(&self) -> Result<u32, String> {
        Ok(self.items.len() as u32)
    }
}

#[alert_on(calls > 10)]
fn generic<T: std::fmt::Debug + Clone>(t: &T) -> T {
    t.clone()
}

#[alert_on(max_latency > 2s)]
async fn fetch(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[alert_on(errors > 5)]
unsafe fn raw(p: *const u32) -> u32 {
    unsafe { *p }
}

#[alert_on(calls > 5)]
fn evens(n: u32) -> impl Iterator<Item = u32> {
    (0..n).filter(|i| i % 2 == 0)
}

#[capture_exceptions]
#[alert_on(exceptions > 0)]
fn load(id: u32) -> Result<u32, std::io::Error> {
    Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{id} not found")))
}

#[alert_on(exceptions > 0)]
#[capture_exceptions]
#[traced]
fn store(id: u32) -> Result<u32, std::io::Error> {
    Ok(id)
}

fn main() {
    let rules = telemark::alerts::rules();
    let functions: Vec<&str> = rules.iter().map(|r| r.function.as_ref()).collect();
    for f in ["total", "add", "new", "pay", "ship", "generic", "fetch", "raw", "evens", "load", "store"] {
        let full = format!("{}::{f}", module_path!());
        assert!(functions.contains(&full.as_str()), "{full} not in {functions:?}");
    }
    assert_eq!(rules.len(), 11);

    let mut cart = Cart::new();
    cart.add(2).unwrap_or_default();
    assert!(cart.add(0).is_err());
    assert_eq!(cart.total(), 2);
    assert!(cart.pay(2));
    assert_eq!(block_on(cart.ship()), Ok(1));
    assert_eq!(generic(&"x"), "x");
    assert_eq!(block_on(fetch(3)), Ok(3));
    assert_eq!(unsafe { raw(&7) }, 7);
    assert_eq!(evens(5).count(), 3);
    assert!(load(1).is_err());
    assert_eq!(store(2).ok(), Some(2));
}
