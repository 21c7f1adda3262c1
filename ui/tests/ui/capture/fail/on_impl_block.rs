use telemark::capture_exceptions;

struct Handler;

#[capture_exceptions]
impl Handler {
    fn handle(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {
    let _ = Handler.handle();
}
