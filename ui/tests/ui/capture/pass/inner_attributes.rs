// Inner attributes at the top of a body stay there, with either macro or both.
#![deny(warnings)]

#[telemark::traced]
fn traced_only() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[telemark::traced]
#[telemark::capture_exceptions]
fn both() -> Result<u32, String> {
    #![allow(unused_variables)]
    let unused = 1;
    Ok(2)
}

#[telemark::alert_on(errors > 3)]
fn alerted() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

fn main() {
    assert_eq!(traced_only(), 2);
    assert_eq!(both(), Ok(2));
    assert_eq!(alerted(), 2);
}
