use telemark::alert_on;

#[alert_on(errors > 1, crate = "telemark")]
fn quoted() {}

#[alert_on(errors > 1, crate = my-telemark)]
fn dashed() {}

fn main() {
    quoted();
    dashed();
}
