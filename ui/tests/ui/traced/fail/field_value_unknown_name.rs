// An error inside a `fields` value is reported on the user's own tokens.
use telemark::traced;

#[traced(fields(user.id = user_id))]
fn load(id: u64) {
    let _ = id;
}

fn main() {
    load(1);
}
