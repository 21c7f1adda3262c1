#![deny(warnings)]
// `return`, `?`, loops with values, labelled breaks and nested closures in a body that runs in
// the closure that sees the `Err`.

use telemark::capture_exceptions;

#[capture_exceptions]
fn sum(input: &str) -> Result<u64, std::num::ParseIntError> {
    let mut total = 0;
    'parts: for part in input.split(',') {
        for c in part.chars() {
            if c == '#' {
                continue 'parts;
            }
        }
        if part.is_empty() {
            return Ok(total);
        }
        total += part.trim().parse::<u64>()?;
    }
    Ok(total)
}

#[capture_exceptions]
fn find(v: Vec<u32>, want: u32) -> Result<usize, String> {
    let mut i = 0;
    let found = loop {
        if i == v.len() {
            break None;
        }
        if v[i] == want {
            break Some(i);
        }
        i += 1;
    };
    let check = |x: usize| -> Result<usize, String> {
        if x > 100 {
            return Err("too far".into());
        }
        Ok(x)
    };
    check(found.ok_or_else(|| format!("{want} not in {v:?}"))?)
}

#[capture_exceptions]
fn mutate(mut n: u32) -> Result<u32, String> {
    n += 1;
    if n > 10 {
        Err(format!("{n} > 10"))
    } else {
        Ok(n)
    }
}

#[capture_exceptions]
fn shadowing(__telemark_out: u32, __telemark_site: u32) -> Result<u32, String> {
    let __telemark_scope = __telemark_out + __telemark_site;
    Ok(__telemark_scope)
}

fn main() {
    assert_eq!(sum("1, 2,#3,4"), Ok(7));
    assert_eq!(sum("1,,5"), Ok(1));
    assert!(sum("1,x").is_err());
    assert_eq!(find(vec![5, 6], 6), Ok(1));
    assert!(find(vec![5, 6], 7).is_err());
    assert_eq!(mutate(1), Ok(2));
    assert!(mutate(10).is_err());
    assert_eq!(shadowing(1, 2), Ok(3));
}
