use telemark::traced;

struct Handler;

#[traced]
impl Handler {
    fn handle(&self) {}
}

fn main() {
    Handler.handle();
}
