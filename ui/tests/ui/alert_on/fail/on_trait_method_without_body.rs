use telemark::alert_on;

trait Checkout {
    #[alert_on(errors > 5)]
    fn checkout(&self);
}

fn main() {}
