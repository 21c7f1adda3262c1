// A `fields` value naming an argument whose `#[cfg]` is false is an error on that name: the
// argument does not exist in this configuration.
use telemark::traced;

#[traced(skip_all, fields(user.id = user_id))]
fn load(#[cfg(any())] user_id: u64, name: &str) {
    let _ = name;
}

fn main() {
    load("ann");
}
