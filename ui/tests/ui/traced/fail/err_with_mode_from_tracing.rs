// `tracing::instrument` takes `err(Debug)`; telemark picks Display, else Debug, by itself.
use telemark::traced;

#[traced(err(Debug))]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

fn main() {
    let _ = parse("1");
}
