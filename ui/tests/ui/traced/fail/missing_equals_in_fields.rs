use telemark::traced;

#[traced(fields(user.id))]
fn load(id: u64) {
    let _ = id;
}

fn main() {
    load(1);
}
