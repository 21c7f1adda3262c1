use telemark::{traced, SpanContext};

#[traced(parent)]
fn handle(ctx: Option<SpanContext>) {
    let _ = ctx;
}

fn main() {
    handle(None);
}
