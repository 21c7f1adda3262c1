// `tracing::instrument` options that telemark does not have get a hint.
use telemark::traced;

#[traced(target = "db")]
fn query() {}

fn main() {
    query();
}
