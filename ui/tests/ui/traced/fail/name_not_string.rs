use telemark::traced;

#[traced(name = load_user)]
fn load() {}

fn main() {
    load();
}
