use telemark::traced;

#[traced(ret)]
fn store(value: u32) {
    let _ = value;
}

fn main() {
    store(1);
}
