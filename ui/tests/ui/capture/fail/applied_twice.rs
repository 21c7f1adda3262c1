use telemark::capture_exceptions;

#[capture_exceptions(level = "warn")]
#[capture_exceptions]
fn open(path: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() {
    let _ = open("/nonexistent");
}
