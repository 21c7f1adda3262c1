#![deny(warnings)]
// `#[track_caller]` is fine where the body does not run in a closure: no `Result`.

use telemark::capture_exceptions;

#[capture_exceptions]
#[track_caller]
fn caller_line() -> u32 {
    std::panic::Location::caller().line()
}

fn main() {
    assert_eq!(caller_line(), line!());
}
