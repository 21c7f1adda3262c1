//! What is captured of an error: its type (and enum variant), message, `source()` chain and call
//! site, and the fingerprint that groups it.

use super::fingerprint::{fnv1a, hex, normalize};
use std::error::Error;
use std::fmt;

/// Longest `source()` chain kept; a longer one is cut and marked.
pub const MAX_CHAIN: usize = 64;

/// A captured error or panic.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    /// The error's type, with the enum variant when there is one (`app::DbError::Timeout`).
    pub type_name: String,
    /// Its message (`Display`).
    pub message: String,
    /// The messages of its `source()` chain, outermost first.
    pub chain: Vec<String>,
    /// Whether the chain was longer than [`MAX_CHAIN`] and cut.
    pub chain_truncated: bool,
    /// Where it was captured: `module::function` when known, else the file.
    pub site: String,
    /// The grouping key.
    pub fingerprint: String,
}

/// The enum variant in a `Debug` rendering, if the value is an enum: the leading identifier when it
/// differs from the type's own name (`Timeout(30)` for `DbError` → `Timeout`).
pub fn variant_from_debug(type_name: &str, debug: &str) -> Option<String> {
    let ident: String = debug.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    let own = short_name(type_name);
    let first = ident.chars().next()?;
    (first.is_uppercase() && ident != own).then_some(ident)
}

/// The `ErrorKind` in an `io::Error`'s `Debug` (`Custom { kind: NotFound, .. }`, `Kind(NotFound)`,
/// `Os { code: 2, kind: NotFound, .. }`).
fn io_kind_from_debug(debug: &str) -> Option<String> {
    let rest = match debug.find("kind: ") {
        Some(i) => &debug[i + 6..],
        None => debug.strip_prefix("Kind(")?,
    };
    let kind: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!kind.is_empty()).then_some(kind)
}

/// `a::b::Name<T>` → `Name`.
fn short_name(type_name: &str) -> &str {
    let base = type_name.split('<').next().unwrap_or(type_name);
    base.rsplit("::").next().unwrap_or(base)
}

impl Exception {
    /// Captures `error`; `type_name` is `std::any::type_name::<E>()`, `debug` its `Debug` text when
    /// it has one (for the variant), `site` where it happened, `user_fingerprint` the caller's own key.
    #[cfg(test)]
    pub fn capture(
        error: &dyn Error,
        type_name: &str,
        debug: Option<&str>,
        site: &str,
        user_fingerprint: Option<&str>,
    ) -> Exception {
        Exception::unkeyed(error, type_name, debug, site).keyed(user_fingerprint)
    }

    /// Sets the fingerprint: the user's key, else the type, the site and the normalised message.
    pub(crate) fn keyed(mut self, user_fingerprint: Option<&str>) -> Exception {
        self.fingerprint = match user_fingerprint {
            Some(f) => hex(fnv1a(&["user", f])),
            None => hex(fnv1a(&[&self.type_name, &self.site, &normalize(&self.message)])),
        };
        self
    }

    /// `capture` (its test form) without the fingerprint (left empty): normalising the
    /// message is left to telemark's thread.
    pub(crate) fn unkeyed(error: &dyn Error, type_name: &str, debug: Option<&str>, site: &str) -> Exception {
        let io_kind = if type_name == "std::io::error::Error" || type_name == "std::io::Error" {
            debug.and_then(io_kind_from_debug)
        } else {
            None
        };
        let variant = io_kind.or_else(|| debug.and_then(|d| variant_from_debug(type_name, d)));
        let type_name = match variant {
            Some(v) => format!("{}::{v}", type_name.split('<').next().unwrap_or(type_name)),
            None => type_name.to_string(),
        };
        let message = safe_display(error);
        let mut chain = Vec::new();
        let mut next = error.source();
        let mut truncated = false;
        while let Some(e) = next {
            if chain.len() == MAX_CHAIN {
                truncated = true;
                break;
            }
            chain.push(safe_display(e));
            next = e.source();
        }
        Exception {
            type_name,
            message,
            chain,
            chain_truncated: truncated,
            site: site.to_string(),
            fingerprint: String::new(),
        }
    }

    #[cfg(test)]
    /// Captures a boxed or wrapped `dyn Error` (`Box<dyn Error>`, `anyhow::Error`), whose type is
    /// not known statically: an `io::Error` is recognised, else the type is the leading identifier
    /// of its `Debug` output (`ParseIntError { .. }` → `ParseIntError`), else `container`.
    pub fn capture_dyn(
        error: &(dyn Error + 'static),
        container: &str,
        debug: &str,
        site: &str,
        user_fingerprint: Option<&str>,
    ) -> Exception {
        Exception::dyn_unkeyed(error, container, debug, site).keyed(user_fingerprint)
    }

    /// `capture_dyn` (its test form) without the fingerprint.
    pub(crate) fn dyn_unkeyed(
        error: &(dyn Error + 'static),
        container: &str,
        debug: &str,
        site: &str,
    ) -> Exception {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            let debug = format!("{io:?}");
            return Exception::unkeyed(error, "std::io::Error", Some(&debug), site);
        }
        let ident: String = debug.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let type_name = if ident.chars().next().is_some_and(char::is_uppercase) { &ident } else { container };
        Exception::unkeyed(error, type_name, None, site)
    }

    /// Captures a value that is only `Display` (not an `Error`), without the fingerprint.
    pub(crate) fn display_unkeyed(
        value: &dyn fmt::Display,
        type_name: &str,
        debug: Option<&str>,
        site: &str,
    ) -> Exception {
        struct Shown(String);
        impl fmt::Debug for Shown {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Display for Shown {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Error for Shown {}
        Exception::unkeyed(&Shown(crate::caller::span::display_to_string(value)), type_name, debug, site)
    }
}

fn safe_display(e: &dyn Error) -> String {
    crate::caller::span::display_to_string(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum DbError {
        Timeout(u32),
        NotFound { id: u64 },
    }
    impl fmt::Display for DbError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                DbError::Timeout(ms) => write!(f, "query timed out after {ms} ms"),
                DbError::NotFound { id } => write!(f, "row {id} not found"),
            }
        }
    }
    impl Error for DbError {}

    fn cap(e: &DbError, site: &str) -> Exception {
        Exception::capture(e, std::any::type_name::<DbError>(), Some(&format!("{e:?}")), site, None)
    }

    #[derive(Debug)]
    struct Chain(usize, Option<Box<Chain>>);
    impl fmt::Display for Chain {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "level {}", self.0)
        }
    }
    impl Error for Chain {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|c| c as &(dyn Error + 'static))
        }
    }

    /// The grouping corpus of the exceptions issue.
    #[test]
    fn messages_that_differ_only_in_ids_group_together() {
        let a = cap(&DbError::Timeout(30), "app::load");
        let b = cap(&DbError::Timeout(4500), "app::load");
        assert_eq!(a.fingerprint, b.fingerprint);
        let c = cap(&DbError::NotFound { id: 1 }, "app::load");
        let d = cap(&DbError::NotFound { id: 99_999 }, "app::load");
        assert_eq!(c.fingerprint, d.fingerprint);
    }

    #[test]
    fn enum_variants_are_separate_groups() {
        let t = cap(&DbError::Timeout(30), "app::load");
        let n = cap(&DbError::NotFound { id: 1 }, "app::load");
        assert_ne!(t.fingerprint, n.fingerprint);
        assert!(t.type_name.ends_with("DbError::Timeout"), "{}", t.type_name);
        assert!(n.type_name.ends_with("DbError::NotFound"), "{}", n.type_name);
    }

    #[test]
    fn the_same_type_from_two_call_sites_is_two_groups_unless_the_user_says_otherwise() {
        let a = cap(&DbError::Timeout(30), "app::load_user");
        let b = cap(&DbError::Timeout(30), "app::load_order");
        assert_ne!(a.fingerprint, b.fingerprint);
        let ua =
            Exception::capture(&DbError::Timeout(30), "DbError", None, "app::load_user", Some("db-timeouts"));
        let ub =
            Exception::capture(&DbError::Timeout(1), "DbError", None, "app::load_order", Some("db-timeouts"));
        assert_eq!(ua.fingerprint, ub.fingerprint);
    }

    #[test]
    fn io_errors_carry_their_kind() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file /tmp/x");
        let x = Exception::capture(&e, "std::io::error::Error", Some(&format!("{e:?}")), "app::read", None);
        assert_eq!(x.type_name, "std::io::error::Error::NotFound");
    }

    #[test]
    fn a_very_deep_source_chain_is_cut_without_overflowing() {
        let mut e = Chain(0, None);
        for i in 1..10_000 {
            e = Chain(i, Some(Box::new(e)));
        }
        let x = Exception::capture(&e, "Chain", None, "app", None);
        assert_eq!(x.chain.len(), MAX_CHAIN);
        assert!(x.chain_truncated);
        assert_eq!(x.chain[0], "level 9998");
        // Dropping a 10,000-deep Box chain recurses; do it on a big stack like a real program would
        // have to.
        std::thread::Builder::new().stack_size(64 << 20).spawn(move || drop(e)).unwrap().join().unwrap();
    }

    #[test]
    fn dyn_errors_take_their_type_from_debug() {
        let parse: Box<dyn Error> = Box::new("x".parse::<u32>().unwrap_err());
        let e = Exception::capture_dyn(parse.as_ref(), "Box<dyn Error>", &format!("{parse:?}"), "app", None);
        assert_eq!(e.type_name, "ParseIntError");
        let text: Box<dyn Error> = "plain text".into();
        let e = Exception::capture_dyn(text.as_ref(), "Box<dyn Error>", &format!("{text:?}"), "app", None);
        assert_eq!(e.type_name, "Box<dyn Error>");
        assert_eq!(e.message, "plain text");
        let io: Box<dyn Error> = Box::new(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        let e = Exception::capture_dyn(io.as_ref(), "Box<dyn Error>", &format!("{io:?}"), "app", None);
        assert_eq!(e.type_name, "std::io::Error::NotFound");
    }

    #[test]
    fn variants_from_debug() {
        assert_eq!(variant_from_debug("a::DbError", "Timeout(3)").as_deref(), Some("Timeout"));
        assert_eq!(variant_from_debug("a::DbError", "DbError { x: 1 }"), None, "a struct is not a variant");
        assert_eq!(variant_from_debug("alloc::string::String", "\"text\""), None);
    }
}
