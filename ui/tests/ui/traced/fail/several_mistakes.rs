// Every mistake is reported at once, each on its own token.
use telemark::traced;

#[traced(level = "verbose", kind = "http", sample = 2.0, skip(pasword), nme = "x", ret)]
fn login(user: &str, password: &str) {
    let _ = (user, password);
}

fn main() {
    login("a", "b");
}
