use telemark::traced;

#[traced(nme = "load")]
fn load() {}

fn main() {
    load();
}
