#![deny(warnings)]
#![deny(unsafe_op_in_unsafe_fn)]

use telemark::traced;

/// # Safety
/// `p` must be valid for reads.
#[traced]
unsafe fn read(p: *const u32) -> u32 {
    // SAFETY: the caller's contract.
    unsafe { *p }
}

/// # Safety
/// `p` must be valid for reads.
#[traced(ret)]
unsafe fn read_checked(p: *const u32) -> Result<u32, String> {
    if p.is_null() {
        return Err("null".into());
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { *p })
}

/// # Safety
/// `p` must be valid for reads.
// In edition 2021 the body of an `unsafe fn` is an unsafe context; it still is when the body
// runs inside the closure that records the return value.
#[allow(unsafe_op_in_unsafe_fn)]
#[traced(ret)]
unsafe fn read_bare(p: *const u32) -> Result<u32, String> {
    Ok(*p)
}

#[traced]
pub extern "C" fn c_abi(x: i32) -> i32 {
    x + 1
}

fn main() {
    let x = 5u32;
    // SAFETY: `&x` is valid.
    assert_eq!(unsafe { read(&x) }, 5);
    // SAFETY: `&x` is valid; null is checked.
    assert_eq!(unsafe { read_checked(&x) }, Ok(5));
    // SAFETY: null is checked by the function.
    assert!(unsafe { read_checked(std::ptr::null()) }.is_err());
    // SAFETY: `&x` is valid.
    assert_eq!(unsafe { read_bare(&x) }, Ok(5));
    assert_eq!(c_abi(1), 2);
}
