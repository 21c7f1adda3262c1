use telemark::alert_on;

#[alert_on(calls > 5)]
const fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
