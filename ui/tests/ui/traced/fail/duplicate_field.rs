use telemark::traced;

#[traced(fields(user.id = 1, user.id = 2))]
fn load() {}

fn main() {
    load();
}
