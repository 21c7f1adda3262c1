#![deny(warnings)]

use std::panic::Location;
use telemark::traced;

// `#[track_caller]` still reports the caller when the body runs in place (no recorded return
// value). Known gap: a function whose return value is recorded (`Result`, `ret`) runs its body in
// a closure, and there `Location::caller()` is the function's own line.
#[track_caller]
#[traced]
fn caller_line() -> u32 {
    Location::caller().line()
}

fn main() {
    let expected = line!() + 1;
    let got = caller_line();
    assert_eq!(got, expected);
}
