use telemark::traced;

#[traced(name = "")]
fn load() {}

fn main() {
    load();
}
