// A `parent` that is not a context is a type error on the user's expression.
use telemark::traced;

#[traced(parent = request_id)]
fn handle(request_id: u64) {
    let _ = request_id;
}

fn main() {
    handle(7);
}
