#![deny(warnings)]
// `crate = path`: telemark reached under another name, through a re-export or a renamed crate,
// alone and with `#[traced]` (each attribute takes its own `crate`), in either order.

extern crate telemark as tm;

/// What a wrapper library does: re-export telemark as its own.
mod my_telemark {
    pub use telemark::*;
}

use my_telemark::{capture_exceptions, traced};

#[capture_exceptions(crate = my_telemark, level = "warn")]
fn alone(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

#[traced(crate = my_telemark)]
#[capture_exceptions(crate = my_telemark)]
fn traced_first(n: i32) -> Result<i32, String> {
    alone(n)
}

#[tm::capture_exceptions(crate = tm, fingerprint = "renamed")]
#[tm::traced(crate = tm)]
fn capture_first(n: i32) -> Result<i32, String> {
    alone(n)
}

fn main() {
    let capture = tm::testing::capture();
    assert_eq!(alone(1), Ok(1));
    assert!(alone(-1).is_err());
    assert!(traced_first(-2).is_err());
    assert!(capture_first(-3).is_err());

    // The capture runs inside the span, in either order: the span has the exception.
    for f in ["traced_first", "capture_first"] {
        let span = capture.span(f).unwrap_or_else(|| panic!("a span for `{f}`"));
        assert!(span.events.iter().any(|e| e.name == "exception"), "{f}: {span:?}");
    }
    let groups = tm::exceptions::groups();
    for f in ["::alone", "::traced_first", "::capture_first"] {
        assert!(groups.iter().any(|g| g.site.ends_with(f)), "{f}: {groups:?}");
    }
}
