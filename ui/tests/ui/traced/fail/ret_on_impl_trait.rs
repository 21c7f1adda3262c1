use telemark::traced;

#[traced(ret)]
fn numbers() -> impl Iterator<Item = u32> {
    0..3
}

fn main() {
    let _ = numbers();
}
