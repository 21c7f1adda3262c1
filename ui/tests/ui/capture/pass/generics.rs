#![deny(warnings)]

use std::error::Error;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::str::FromStr;
use telemark::capture_exceptions;

#[capture_exceptions]
fn parse<T: FromStr>(text: &str) -> Result<T, T::Err> {
    text.trim().parse()
}

#[capture_exceptions]
fn fallible<T, E>(r: Result<T, E>) -> Result<T, E> {
    r
}

#[capture_exceptions]
fn shown<T, E>(r: Result<T, E>) -> Result<T, E>
where
    E: Display + Debug + 'static,
{
    r
}

#[capture_exceptions]
fn errors<E: Error + 'static>(e: Option<E>) -> Result<(), E> {
    match e {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[capture_exceptions]
fn with_impl_arg(value: impl Display, limit: usize) -> Result<String, String> {
    let s = value.to_string();
    if s.len() > limit {
        return Err(format!("{s} is longer than {limit}"));
    }
    Ok(s)
}

#[capture_exceptions]
fn first<'a, 'b: 'a>(a: &'a [u32], b: &'b [u32]) -> Result<&'a u32, String> {
    a.first().or(b.first()).ok_or_else(|| "both empty".to_string())
}

#[capture_exceptions]
fn array<const N: usize>(values: [u8; N]) -> Result<usize, String> {
    if N == 0 {
        return Err("empty".into());
    }
    Ok(values.len())
}

#[capture_exceptions]
async fn async_parse<T: FromStr>(text: &str) -> Result<T, T::Err>
where
    T::Err: Debug,
{
    text.trim().parse()
}

struct Wrapper<T>(T);

impl<T: Clone + PartialEq> Wrapper<T> {
    #[capture_exceptions]
    fn get_if(&self, want: &T) -> Result<T, String> {
        if self.0 != *want {
            return Err("different".into());
        }
        Ok(self.0.clone())
    }
}

fn main() {
    assert_eq!(parse::<u32>(" 7 "), Ok(7));
    assert!(parse::<u32>("x").is_err());
    assert!(parse::<f64>("x").is_err());
    assert!(fallible::<u8, ()>(Err(())).is_err());
    assert_eq!(shown::<u8, String>(Ok(1)), Ok(1));
    assert!(shown::<u8, String>(Err("no".into())).is_err());
    assert!(errors(Some(std::fmt::Error)).is_err());
    assert!(errors::<std::fmt::Error>(None).is_ok());
    assert_eq!(with_impl_arg(1.5, 3), Ok("1.5".to_string()));
    assert!(with_impl_arg(12345, 3).is_err());
    assert_eq!(first(&[], &[2]), Ok(&2));
    assert!(first(&[], &[]).is_err());
    assert_eq!(array([1, 2, 3]), Ok(3));
    assert!(array([]).is_err());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let fut = std::pin::pin!(async_parse::<i8>("300"));
    assert!(matches!(fut.poll(&mut cx), std::task::Poll::Ready(Err(_))));
    assert_eq!(Wrapper(3).get_if(&3), Ok(3));
    assert!(Wrapper("a").get_if(&"b").is_err());
}
