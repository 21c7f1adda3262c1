use telemark::traced;

#[traced(sample = "10%")]
fn hot_path() {}

fn main() {
    hot_path();
}
