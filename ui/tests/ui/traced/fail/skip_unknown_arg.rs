use telemark::traced;

#[traced(skip(pasword))]
fn login(user: &str, password: &str) -> bool {
    user.len() == password.len()
}

fn main() {
    login("a", "b");
}
