use telemark::traced;

#[traced(kind = "http")]
fn serve() {}

fn main() {
    serve();
}
