use telemark::traced;

#[traced(level = "info", level = "debug")]
fn load() {}

fn main() {
    load();
}
