//! The UI tests of the macros: every `fail` case must fail to compile with exactly the messages in
//! its `.stderr`, every `pass` case must compile without warnings and run.
//!
//! The cases live in this crate, one folder per macro: `tests/ui/<macro>/{fail,pass}/`, with
//! `<macro>` one of `traced`, `capture` and `alert_on`. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p telemark-ui` (add `-- traced`, `-- capture` or `-- alert_on`
//! for one macro), then read every diff.

/// Runs the cases of one macro's folder.
fn cases(folder: &str) {
    // trybuild builds the cases in its own project (target/tests/trybuild) with the cargo it
    // spawns, which inherits this environment. Without debuginfo each pass-case binary is a few
    // MB instead of ~23 MB (1.1 GB for the suite); diagnostics are unchanged.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "0");
    let t = trybuild::TestCases::new();
    t.compile_fail(format!("tests/ui/{folder}/fail/*.rs"));
    t.pass(format!("tests/ui/{folder}/pass/*.rs"));
}

#[test]
fn traced() {
    cases("traced");
}

#[test]
fn capture_exceptions() {
    cases("capture");
}

#[test]
fn alert_on() {
    cases("alert_on");
}
