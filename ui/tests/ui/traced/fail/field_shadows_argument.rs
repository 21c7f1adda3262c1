use telemark::traced;

#[traced(fields(user = user.to_uppercase()))]
fn load(user: &str) {
    let _ = user;
}

fn main() {
    load("ann");
}
