#![deny(warnings)]

use telemark::traced;

#[traced(name = "db.query", level = "debug", kind = "client")]
fn query(sql: &str) -> usize {
    sql.len()
}

#[traced(level = trace, kind = server)]
fn bare_words() {}

#[traced(level = "WARN", kind = "Producer")]
fn upper_case() {}

#[traced(level = "error", kind = "consumer", name = "ünïcode span")]
fn unicode_name() {}

#[traced(level = "info", kind = "internal", ret, err)]
fn everything(n: u8) -> Result<u8, String> {
    n.checked_add(1).ok_or_else(|| "overflow".to_string())
}

#[traced(ret)]
fn returns_opaque() -> Opaque {
    Opaque
}

struct Opaque;

#[rustfmt::skip] // keeps the trailing comma this case is about
#[traced(skip_all,)]
fn trailing_comma(secret_sauce: &str) -> usize {
    secret_sauce.len()
}

/// Doc comments and other attributes are kept.
#[must_use]
#[inline]
#[traced]
#[allow(clippy::needless_pass_by_value)]
pub fn documented(v: String) -> usize {
    v.len()
}

#[traced]
fn recursive(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        n + recursive(n - 1)
    }
}

#[traced]
fn main() {
    assert_eq!(query("select 1"), 8);
    bare_words();
    upper_case();
    unicode_name();
    assert_eq!(everything(1), Ok(2));
    assert!(everything(255).is_err());
    let Opaque = returns_opaque();
    assert_eq!(trailing_comma("abc"), 3);
    assert_eq!(documented("ab".into()), 2);
    assert_eq!(recursive(3), 6);
}
