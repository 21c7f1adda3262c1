use telemark::traced;

#[traced(fields("" = 1))]
fn load() {}

fn main() {
    load();
}
