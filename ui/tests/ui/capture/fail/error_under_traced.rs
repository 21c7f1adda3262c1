// A mistake in `#[capture_exceptions]` is reported when `#[traced]` above it expands it.
use telemark::{capture_exceptions, traced};

#[traced]
#[capture_exceptions(levl = "warn")]
fn open(path: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() {
    let _ = open("/nonexistent");
}
