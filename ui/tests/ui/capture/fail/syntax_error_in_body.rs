// A syntax error in the body is left to rustc, on the user's line.
use telemark::capture_exceptions;

#[capture_exceptions]
fn parse(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|_| "bad".to_string())?
    Ok(n)
}

fn main() {
    let _ = parse("1");
}
