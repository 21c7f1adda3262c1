use telemark::traced;

#[traced]
struct Handler {
    port: u16,
}

fn main() {
    let _ = Handler { port: 80 }.port;
}
