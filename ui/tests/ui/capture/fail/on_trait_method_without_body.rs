use telemark::capture_exceptions;

trait Store {
    #[capture_exceptions]
    fn get(&self, key: &str) -> Result<String, String>;
}

fn main() {}
