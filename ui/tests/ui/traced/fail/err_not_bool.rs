use telemark::traced;

#[traced(err = "yes")]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

fn main() {
    let _ = parse("1");
}
