// Under `#[traced]`, `#[capture_exceptions]` must still be in scope: the attribute resolves as it
// does anywhere else, and the error is on it.
use telemark::traced;

#[traced]
#[capture_exceptions]
fn open(path: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() {
    let _ = open("/nonexistent");
}
