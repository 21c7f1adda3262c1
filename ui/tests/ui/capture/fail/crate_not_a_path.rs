use telemark::capture_exceptions;

#[capture_exceptions(crate = "telemark")]
fn quoted() -> Result<(), String> {
    Ok(())
}

#[capture_exceptions(level = "warn", crate = , backtrace = false)]
fn empty() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = quoted();
    let _ = empty();
}
