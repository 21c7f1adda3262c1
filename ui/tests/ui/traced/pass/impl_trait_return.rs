#![deny(warnings)]

use std::fmt::Display;
use telemark::traced;

#[traced]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[traced]
fn greeting(name: &str) -> impl Display + '_ {
    if name.is_empty() {
        return format!("hello, stranger");
    }
    format!("hello, {name}")
}

#[traced(err = false)]
fn boxed(n: u32) -> Box<dyn Fn(u32) -> u32> {
    Box::new(move |x| x + n)
}

fn main() {
    assert_eq!(evens(5).collect::<Vec<_>>(), vec![0, 2, 4]);
    assert_eq!(greeting("ann").to_string(), "hello, ann");
    assert_eq!(greeting("").to_string(), "hello, stranger");
    assert_eq!(boxed(1)(1), 2);
}
