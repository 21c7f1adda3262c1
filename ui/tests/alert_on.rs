//! The UI tests of `#[alert_on]`: every `fail` case must fail to compile with exactly the messages
//! in its `.stderr`, every `pass` case must compile without warnings and run.
//!
//! The cases live in this crate, in `ui/tests/ui/alert_on/{fail,pass}/`. Regenerate the `.stderr`
//! files with `TRYBUILD=overwrite cargo test -p telemark-ui --test alert_on`, then read every diff.

#[test]
fn alert_on() {
    // As in `ui.rs`: without debuginfo each pass-case binary is a few MB instead of ~23 MB.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "0");
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/alert_on/fail/*.rs");
    t.pass("tests/ui/alert_on/pass/*.rs");
}
