// A syntax error inside the body is left to rustc, which reports it on the user's line.
use telemark::traced;

#[traced]
fn load(id: u64) -> u64 {
    let x = id +;
    x
}

fn main() {
    let _ = load(1);
}
