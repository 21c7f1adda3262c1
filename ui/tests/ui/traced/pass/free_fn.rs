#![deny(warnings)]

use telemark::traced;

#[traced]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[traced]
fn nothing() {}

fn main() {
    assert_eq!(add(1, 2), 3);
    nothing();
}
