use telemark::traced;

#[traced(err)]
fn parse(s: &str) -> impl std::fmt::Debug {
    s.parse::<u32>()
}

fn main() {
    let _ = parse("1");
}
