#![deny(warnings)]

use std::io::{self, Read};
use telemark::traced;

#[derive(Debug)]
struct AppError(String);

impl From<io::Error> for AppError {
    fn from(e: io::Error) -> Self {
        AppError(e.to_string())
    }
}

impl From<std::num::ParseIntError> for AppError {
    fn from(e: std::num::ParseIntError) -> Self {
        AppError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, AppError>;

#[traced]
fn read_all(mut r: impl Read) -> io::Result<String> {
    let mut s = String::new();
    r.read_to_string(&mut s)?;
    Ok(s)
}

#[traced]
fn parse_sum(input: &str) -> Result<u64> {
    let mut sum = 0;
    for part in input.split(',') {
        if part.is_empty() {
            continue;
        }
        let n: u64 = part.trim().parse()?;
        if n == 0 {
            return Err(AppError("zero".into()));
        }
        sum += n;
    }
    Ok(sum)
}

#[traced]
fn load(input: &[u8]) -> Result<u64> {
    let text = read_all(input)?;
    parse_sum(&text)
}

#[traced(err = false)]
fn quiet(n: i32) -> std::result::Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

// An error type with neither `Display` nor `Debug` is still recorded, by its type name.
struct Opaque;

#[traced]
fn opaque(fail: bool) -> std::result::Result<(), Opaque> {
    if fail {
        Err(Opaque)
    } else {
        Ok(())
    }
}

#[traced]
fn boxed_error(s: &str) -> std::result::Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(s.parse::<i64>()?)
}

fn main() {
    assert_eq!(read_all(&b"abc"[..]).unwrap(), "abc");
    assert_eq!(parse_sum("1, 2,,3").unwrap(), 6);
    assert!(parse_sum("1,0").is_err());
    assert!(parse_sum("x").is_err());
    assert_eq!(load(b"4,5").unwrap(), 9);
    assert!(quiet(-1).is_err());
    assert_eq!(quiet(1), Ok(1));
    assert!(opaque(true).is_err());
    assert!(opaque(false).is_ok());
    assert!(boxed_error("x").is_err());
    assert_eq!(boxed_error("-3").unwrap(), -3);
}
