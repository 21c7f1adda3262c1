use telemark::traced;

#[traced(skip(config))]
fn start() {}

fn main() {
    start();
}
