use telemark::traced;

#[traced(level = "verbose")]
fn load() {}

fn main() {
    load();
}
