use telemark::traced;

#[traced(crate = "telemark")]
fn quoted() {}

#[traced(crate = 1, name = "number")]
fn number() {}

#[traced(crate = telemark::<u8>)]
fn generic() {}

#[traced(crate)]
fn without_value() {}

fn main() {
    quoted();
    number();
    generic();
    without_value();
}
