// A type error inside the body is reported on the user's line, not on the macro: in a plain
// sync function, in one whose return value is recorded (`Result`, `ret`), and in an async one.
use telemark::traced;

#[traced]
fn total(prices: &[u32]) -> u32 {
    let sum: u64 = prices.iter().map(|p| u64::from(*p)).sum();
    sum
}

#[traced]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n + "1")
}

#[traced(ret)]
fn label(id: u32) -> String {
    if id == 0 {
        return "none";
    }
    id.to_string()
}

#[traced]
async fn fetch(id: u32) -> String {
    id
}

fn main() {
    let _ = total(&[1, 2]);
    let _ = parse("1");
    let _ = label(1);
    let _ = fetch(1);
}
