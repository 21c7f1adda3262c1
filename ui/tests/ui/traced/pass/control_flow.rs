#![deny(warnings)]

use telemark::traced;

// Early `return`, `?` on `Option`, loops with labels and `break` values, nested closures and
// items, and bodies that diverge: none of them may trip a lint in user code.
#[traced]
fn first_even(values: &[i32]) -> Option<i32> {
    let first = *values.first()?;
    if first % 2 == 0 {
        return Some(first);
    }
    let found = 'outer: loop {
        for v in values {
            if v % 2 == 0 {
                break 'outer Some(*v);
            }
        }
        break None;
    };
    found
}

#[traced(ret)]
fn classify(n: i32) -> &'static str {
    fn helper(n: i32) -> bool {
        n > 100
    }
    const LIMIT: i32 = 10;
    let check = |x: i32| x < LIMIT;
    match n {
        _ if helper(n) => return "huge",
        n if check(n) => "small",
        _ => "big",
    }
}

#[traced]
fn never_returns(code: i32) -> ! {
    std::process::exit(code)
}

#[traced]
fn panics_maybe(fail: bool) -> u32 {
    if fail {
        panic!("failed");
    }
    1
}

#[traced]
fn unit_with_return(x: u32) {
    if x > 1 {
        return;
    }
    let _ = x;
}

#[traced]
fn mutates(mut v: Vec<u32>, mut n: u32) -> Result<Vec<u32>, String> {
    n += 1;
    v.push(n);
    if v.len() > 10 {
        Err("too long".into())
    } else {
        Ok(v)
    }
}

// `?` on `Option` in a body whose return value is recorded.
#[traced(ret)]
fn second(values: &[u32]) -> Option<u32> {
    let v = values.get(1)?;
    Some(*v)
}

#[traced]
fn block_expression(x: u32) -> u32 {
    {
        x + 1
    }
}

fn main() {
    assert_eq!(first_even(&[1, 3, 4]), Some(4));
    assert_eq!(first_even(&[2]), Some(2));
    assert_eq!(first_even(&[]), None);
    assert_eq!(classify(1), "small");
    assert_eq!(classify(1000), "huge");
    assert_eq!(classify(50), "big");
    assert_eq!(panics_maybe(false), 1);
    std::panic::set_hook(Box::new(|_| {}));
    assert!(std::panic::catch_unwind(|| panics_maybe(true)).is_err());
    let _ = std::panic::take_hook();
    unit_with_return(2);
    unit_with_return(0);
    assert_eq!(mutates(vec![], 1), Ok(vec![2]));
    assert_eq!(block_expression(1), 2);
    assert_eq!(second(&[1, 2]), Some(2));
    assert_eq!(second(&[1]), None);
    if std::env::args().count() > 100 {
        never_returns(0);
    }
}
