#![deny(warnings)]

use std::fmt::{Debug, Display};
use telemark::traced;

// An argument with neither `Display` nor `Debug` is left out: no compile error.
struct Opaque;

#[traced]
fn show<T: Display>(value: T) -> String {
    value.to_string()
}

#[traced]
fn debug_all<T>(items: &[T]) -> usize
where
    T: Debug + Clone,
{
    items.to_vec().len()
}

#[traced]
fn anything<T>(value: T) -> T {
    value
}

#[traced]
fn with_impl_arg(value: impl Display, other: impl Sized) -> String {
    let _ = other;
    value.to_string()
}

#[traced]
fn lifetimes<'a, 'b: 'a>(a: &'a str, b: &'b str) -> &'a str {
    if a.len() > b.len() {
        a
    } else {
        b
    }
}

#[traced]
fn array<const N: usize>(values: [u8; N]) -> usize {
    values.len()
}

struct Wrapper<T>(T);

impl<T: Clone> Wrapper<T> {
    #[traced]
    fn get(&self) -> T {
        self.0.clone()
    }
}

#[traced]
fn fallible<T, E>(r: Result<T, E>) -> Result<T, E> {
    r
}

fn main() {
    assert_eq!(show(5), "5");
    assert_eq!(debug_all(&[1, 2, 3]), 3);
    let Opaque = anything(Opaque);
    assert_eq!(with_impl_arg(1.5, Opaque), "1.5");
    assert_eq!(lifetimes("ab", "c"), "ab");
    assert_eq!(array([1, 2, 3, 4]), 4);
    let Opaque = Wrapper(Opaque).get_opaque();
    assert_eq!(Wrapper(7).get(), 7);
    assert!(fallible::<u8, Opaque>(Err(Opaque)).is_err());
}

impl Wrapper<Opaque> {
    #[traced]
    fn get_opaque(self) -> Opaque {
        self.0
    }
}
