#![deny(warnings)]
use telemark::traced;

#[traced(err = false)]
#[track_caller]
fn lookup(id: u32) -> Result<u32, String> {
    assert!(std::panic::Location::caller().line() > 10);
    Ok(id)
}

fn main() {
    let _ = lookup(1);
}
