use telemark::traced;

#[traced(root = true)]
fn handle() {}

fn main() {
    handle();
}
