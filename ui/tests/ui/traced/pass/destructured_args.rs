#![deny(warnings)]

use telemark::traced;

#[derive(Debug, Clone, Copy)]
struct Point {
    x: i32,
    y: i32,
}

struct Pair(u8, u8);

#[traced]
fn tuple((a, b): (u32, u32)) -> u32 {
    a + b
}

#[traced]
fn point(Point { x, y: vertical }: Point) -> i32 {
    x + vertical
}

#[traced]
fn pair(Pair(first, _): Pair) -> u8 {
    first
}

#[traced]
fn reference(&n: &u64, _: u8, _ignored: bool) -> u64 {
    n
}

#[traced]
fn slice([head, ..]: [u8; 3]) -> u8 {
    head
}

#[traced]
fn bound(whole @ Point { x, .. }: Point) -> i32 {
    whole.y + x
}

#[traced]
fn nested(((a, b), Pair(c, d)): ((u8, u8), Pair)) -> u8 {
    a + b + c + d
}

fn main() {
    assert_eq!(tuple((1, 2)), 3);
    assert_eq!(point(Point { x: 1, y: 2 }), 3);
    assert_eq!(pair(Pair(4, 5)), 4);
    assert_eq!(reference(&6, 0, false), 6);
    assert_eq!(slice([7, 8, 9]), 7);
    assert_eq!(bound(Point { x: 1, y: 10 }), 11);
    assert_eq!(nested(((1, 2), Pair(3, 4))), 10);
}
