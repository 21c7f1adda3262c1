// Generated code names telemark by the `crate` path: one that does not resolve is an error.
use telemark::traced;

#[traced(crate = not_telemark)]
fn load() {}

fn main() {
    load();
}
