use telemark::capture_exceptions;

struct Key;

#[capture_exceptions(fingerprint = Key)]
fn open(path: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() {
    let _ = open("/nonexistent");
}
