use telemark::capture_exceptions;

#[capture_exceptions]
struct Handler {
    id: u32,
}

fn main() {
    let _ = Handler { id: 1 }.id;
}
