// A fingerprint is computed without the call's arguments (once per group, not per call):
// rustc's error is on the argument.
use telemark::capture_exceptions;

#[capture_exceptions(fingerprint = format!("open-{}", path))]
fn open(path: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() {
    let _ = open("/nonexistent");
}
