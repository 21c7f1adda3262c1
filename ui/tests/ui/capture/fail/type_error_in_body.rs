// A type error inside the body is reported on the user's line, not on the macro: in the closure
// that sees the `Err` (a wrong value, a wrong `return`, a `?` that cannot convert) and in an async
// function.
use telemark::capture_exceptions;

#[capture_exceptions]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n + "1")
}

#[capture_exceptions]
fn label(id: u32) -> Result<String, String> {
    if id == 0 {
        return Ok("none");
    }
    Ok(id.to_string())
}

#[capture_exceptions]
fn convert(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse()?;
    Ok(n)
}

#[capture_exceptions]
async fn fetch(id: u32) -> Result<String, String> {
    Ok(id)
}

fn main() {
    let _ = parse("1");
    let _ = label(1);
    let _ = convert("1");
    let _ = fetch(1);
}
