#![deny(warnings)]
#![deny(unsafe_op_in_unsafe_fn)]

use telemark::capture_exceptions;

/// # Safety
/// `p` must be valid for reads.
#[capture_exceptions]
unsafe fn read(p: *const u32) -> u32 {
    // SAFETY: the caller's contract.
    unsafe { *p }
}

/// # Safety
/// `p` must be valid for reads unless null.
#[capture_exceptions]
unsafe fn read_checked(p: *const u32) -> Result<u32, String> {
    if p.is_null() {
        return Err("null".into());
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { *p })
}

#[capture_exceptions]
pub extern "C" fn c_abi(x: i32) -> i32 {
    x + 1
}

fn main() {
    let x = 5u32;
    // SAFETY: `&x` is valid.
    assert_eq!(unsafe { read(&x) }, 5);
    // SAFETY: `&x` is valid; null is checked.
    assert_eq!(unsafe { read_checked(&x) }, Ok(5));
    assert!(unsafe { read_checked(std::ptr::null()) }.is_err());
    assert_eq!(c_abi(1), 2);
}
