use telemark::{traced, SpanContext};

#[traced(root, parent = ctx)]
fn handle(ctx: Option<SpanContext>) {
    let _ = ctx;
}

fn main() {
    handle(None);
}
