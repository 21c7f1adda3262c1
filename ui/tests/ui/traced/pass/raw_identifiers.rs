#![deny(warnings)]

use telemark::traced;

#[traced]
fn r#type(r#match: u32, r#ref: &str) -> usize {
    r#match as usize + r#ref.len()
}

#[traced(skip(r#match))]
fn r#async(r#match: u32, r#in: u8) -> u32 {
    r#match + u32::from(r#in)
}

#[traced(skip(match_))]
fn trailing_underscore(match_: u32) -> u32 {
    match_
}

struct S;

impl S {
    #[traced(ret)]
    fn r#fn(&self, r#struct: i64) -> i64 {
        r#struct
    }
}

fn main() {
    assert_eq!(r#type(1, "ab"), 3);
    assert_eq!(r#async(1, 2), 3);
    assert_eq!(trailing_underscore(4), 4);
    assert_eq!(S.r#fn(5), 5);
}
