use telemark::capture_exceptions;

#[capture_exceptions]
const fn answer() -> Result<u32, u32> {
    Ok(42)
}

fn main() {
    let _ = answer();
}
