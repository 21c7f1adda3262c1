use telemark::traced;

#[traced(skip = password)]
fn login(password: &str) -> bool {
    password.is_empty()
}

fn main() {
    login("");
}
