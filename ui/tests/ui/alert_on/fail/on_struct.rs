use telemark::alert_on;

#[alert_on(errors > 5)]
struct Checkout;

fn main() {
    let _ = Checkout;
}
