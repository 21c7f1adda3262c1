use telemark::traced;

#[traced(err)]
fn store(value: u32) {
    let _ = value;
}

fn main() {
    store(1);
}
