// Every mistake in the options is reported at once.
use telemark::capture_exceptions;

#[capture_exceptions(ignore = [""], backtrace = 1, level = "fatal", fingerprint = "")]
fn open(path: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() {
    let _ = open("/nonexistent");
}
