#![deny(warnings)]
// The error types people return, from sync functions: each is captured by the best view it has
// (`Error`, a boxed `dyn Error`, `Display`, `Debug`, or only its type name).

use std::error::Error;
use std::fmt;
use std::io;
use telemark::capture_exceptions;

#[derive(Debug)]
enum DbError {
    Timeout(u64),
    NotFound { id: u64 },
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Timeout(ms) => write!(f, "timed out after {ms} ms"),
            DbError::NotFound { id } => write!(f, "row {id} not found"),
        }
    }
}

impl Error for DbError {}

#[derive(Debug)]
struct OnlyDebug(#[allow(dead_code)] u32);

struct Opaque;

#[capture_exceptions]
fn own_error(id: u64) -> Result<u64, DbError> {
    match id {
        0 => Err(DbError::NotFound { id }),
        1..=9 => Ok(id),
        _ => Err(DbError::Timeout(id)),
    }
}

#[capture_exceptions]
fn io_error(path: &str) -> io::Result<String> {
    std::fs::read_to_string(path)
}

#[capture_exceptions]
fn full_io_error(fail: bool) -> Result<(), io::Error> {
    if fail {
        return Err(io::Error::new(io::ErrorKind::WouldBlock, "try again"));
    }
    Ok(())
}

#[capture_exceptions]
fn boxed(text: &str) -> Result<u16, Box<dyn Error>> {
    Ok(text.parse::<u16>()?)
}

#[capture_exceptions]
fn boxed_send_sync(text: &str) -> Result<u16, Box<dyn Error + Send + Sync>> {
    if text.is_empty() {
        return Err("empty".into());
    }
    Ok(text.parse::<u16>()?)
}

#[capture_exceptions]
fn string(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    Ok(n)
}

#[capture_exceptions]
fn str_error(n: i32) -> Result<i32, &'static str> {
    if n < 0 {
        return Err("negative");
    }
    Ok(n)
}

#[capture_exceptions]
fn only_debug(n: u32) -> Result<(), OnlyDebug> {
    if n > 0 {
        return Err(OnlyDebug(n));
    }
    Ok(())
}

#[capture_exceptions]
fn opaque(fail: bool) -> Result<(), Opaque> {
    if fail {
        Err(Opaque)
    } else {
        Ok(())
    }
}

#[capture_exceptions]
fn unit_error(fail: bool) -> Result<u8, ()> {
    if fail {
        Err(())
    } else {
        Ok(1)
    }
}

fn main() {
    assert_eq!(own_error(3).unwrap(), 3);
    assert!(matches!(own_error(0), Err(DbError::NotFound { id: 0 })), "the Err is returned unchanged");
    assert!(matches!(own_error(17), Err(DbError::Timeout(17))));
    assert_eq!(io_error("/nonexistent/telemark-ui").unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(full_io_error(true).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(full_io_error(false).is_ok());
    assert_eq!(boxed("80").unwrap(), 80);
    assert!(boxed("http").is_err());
    assert_eq!(boxed_send_sync("443").unwrap(), 443);
    assert_eq!(boxed_send_sync("").unwrap_err().to_string(), "empty");
    assert_eq!(string(-2), Err("negative: -2".to_string()));
    assert_eq!(string(2), Ok(2));
    assert_eq!(str_error(-1), Err("negative"));
    assert!(only_debug(1).is_err());
    assert!(only_debug(0).is_ok());
    assert!(opaque(true).is_err());
    assert!(opaque(false).is_ok());
    assert_eq!(unit_error(true), Err(()));
    assert_eq!(unit_error(false), Ok(1));
}
