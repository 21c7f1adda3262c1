// Errors that borrow (not `'static`), and fingerprints that use `Self` and generic parameters.
#![deny(warnings)]

use std::fmt;
use telemark::capture_exceptions;

#[derive(Debug)]
struct ParseError<'a> {
    input: &'a str,
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot parse {:?}", self.input)
    }
}

impl std::error::Error for ParseError<'_> {}

#[capture_exceptions]
fn parse(input: &str) -> Result<u32, ParseError<'_>> {
    input.parse().map_err(|_| ParseError { input })
}

#[capture_exceptions]
fn first_error<E: std::error::Error>(e: Option<E>) -> Result<(), E> {
    match e {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Db;

impl Db {
    const KEY: &'static str = "db";

    #[capture_exceptions(fingerprint = Self::KEY)]
    fn query(&self) -> Result<(), String> {
        Err("down".into())
    }
}

#[capture_exceptions(fingerprint = std::any::type_name::<T>())]
fn convert<T: Default>() -> Result<T, String> {
    Ok(T::default())
}

fn main() {
    assert!(parse("x").is_err());
    assert!(first_error::<std::io::Error>(None).is_ok());
    assert!(Db.query().is_err());
    assert_eq!(convert::<u8>(), Ok(0));
}
