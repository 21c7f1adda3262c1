use telemark::capture_exceptions;

#[capture_exceptions(ignore = [io::ErrorKind::NotFound])]
fn read() -> Result<String, std::io::Error> {
    Ok(String::new())
}

fn main() {
    let _ = read();
}
