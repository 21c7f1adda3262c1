use telemark::capture_exceptions;

#[capture_exceptions(backtrace = "yes")]
fn open(path: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() {
    let _ = open("/nonexistent");
}
