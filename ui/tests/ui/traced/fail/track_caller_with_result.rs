use telemark::traced;

#[traced]
#[track_caller]
fn lookup(id: u32) -> Result<u32, String> {
    if id == 0 {
        return Err("zero".into());
    }
    Ok(id)
}

fn main() {
    let _ = lookup(1);
}
