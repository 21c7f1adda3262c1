//! Exception groups in a release build, where small `#[capture_exceptions]` functions are inlined
//! into their caller and leave no frame of their own on the stack: the capture site, known at
//! compile time, still separates their groups. Meaningful only when optimised, so it runs under
//! `cargo test --release -p telemark-benches --test release_grouping` (`.ci/run` does) and is
//! ignored in a debug build.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Error, ErrorKind};
use telemark::capture_exceptions;

#[capture_exceptions]
#[inline(always)]
fn load_user(id: u64) -> Result<u64, Error> {
    Err(Error::new(ErrorKind::TimedOut, format!("lookup {id} timed out")))
}

#[capture_exceptions]
#[inline(always)]
fn load_order(id: u64) -> Result<u64, Error> {
    Err(Error::new(ErrorKind::TimedOut, format!("lookup {id} timed out")))
}

/// Calls both from one frame of the application's own, which is what the stack shows of them.
#[inline(never)]
fn handle(id: u64) {
    assert!(load_user(id).is_err());
    assert!(load_order(id).is_err());
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "a release-build check: cargo test --release -p telemark-benches --test release_grouping"
)]
fn inlined_capturing_functions_keep_their_own_groups() {
    let _capture = telemark::testing::capture();
    for id in 0..3 {
        handle(std::hint::black_box(id));
    }
    let groups = telemark::exceptions::groups();
    let group =
        |site: &str| groups.iter().find(|g| g.site == site).unwrap_or_else(|| panic!("{site}: {groups:#?}"));
    let user = group("release_grouping::load_user");
    let order = group("release_grouping::load_order");
    assert_eq!((user.count, order.count), (3, 3), "{groups:#?}");
    assert!(!user.top_frames.is_empty(), "grouped by frames (a backtrace was taken): {user:?}");
    assert_ne!(user.fingerprint, order.fingerprint, "one error type from two functions is two groups");
    // What the stack showed: in a release build the capturing functions are usually not on it.
    eprintln!("top frames of load_user's group: {:?}", user.top_frames);
}
