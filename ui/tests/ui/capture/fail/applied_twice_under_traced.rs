use telemark::{capture_exceptions, traced};

#[traced]
#[capture_exceptions]
#[capture_exceptions(level = "warn")]
fn lookup(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {
    let _ = lookup(1);
}
