#![deny(warnings)]

use telemark::traced;

#[traced(root)]
fn fresh_trace() -> u32 {
    inner()
}

#[traced(sample = 0.5)]
fn inner() -> u32 {
    1
}

#[traced(sample = 0)]
fn never_sampled() {}

#[traced(sample = 1)]
fn always_sampled() {}

#[traced(sample = 0.001, root, kind = "producer")]
fn rare_root() {}

#[traced]
fn outer() -> u32 {
    fresh_trace() + inner()
}

fn main() {
    assert_eq!(outer(), 2);
    for _ in 0..100 {
        never_sampled();
        always_sampled();
        rare_root();
    }
}
