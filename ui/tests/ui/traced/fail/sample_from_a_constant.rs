// The ratio is checked at compile time, so it must be a literal.
use telemark::traced;

const RATE: f64 = 0.1;

#[traced(sample = RATE)]
fn hot_path() {}

fn main() {
    let _ = RATE;
    hot_path();
}
