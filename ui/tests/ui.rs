//! The UI tests of `#[traced]` and `#[capture_exceptions]`: every `fail` case must fail to compile
//! with exactly the messages in its `.stderr`, every `pass` case must compile without warnings and
//! run.
//!
//! The cases of `#[traced]` live at the repository root, in `tests/ui/traced/{fail,pass}/`; those of
//! `#[capture_exceptions]` in this crate, in `ui/tests/ui/capture/{fail,pass}/`. Regenerate the
//! `.stderr` files with `TRYBUILD=overwrite cargo test -p telemark-ui` (add `-- capture` or
//! `-- traced` for one macro), then read every diff.

#[test]
fn traced() {
    // trybuild builds the cases in its own project (target/tests/trybuild) with the cargo it
    // spawns, which inherits this environment. Without debuginfo each pass-case binary is a few
    // MB instead of ~23 MB (1.1 GB for the suite); diagnostics are unchanged.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "0");
    let t = trybuild::TestCases::new();
    t.compile_fail("../tests/ui/traced/fail/*.rs");
    t.pass("../tests/ui/traced/pass/*.rs");
}

#[test]
fn capture_exceptions() {
    // See `traced` above.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "0");
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/capture/fail/*.rs");
    t.pass("tests/ui/capture/pass/*.rs");
}
