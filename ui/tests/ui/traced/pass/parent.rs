#![deny(warnings)]

use telemark::{traced, SpanContext, SpanId, TraceId};

fn remote() -> SpanContext {
    SpanContext::remote(TraceId(0x0af7651916cd43dd8448eb211c80319c), SpanId(0xb7ad6b7169203331), true)
}

#[traced(kind = "server", parent = ctx)]
fn owned(ctx: SpanContext) -> u32 {
    let _ = ctx;
    1
}

#[traced(parent = ctx)]
fn optional(ctx: Option<SpanContext>) -> bool {
    ctx.is_some()
}

#[traced(parent = ctx)]
fn borrowed(ctx: &SpanContext) {
    let _ = ctx;
}

#[traced(parent = ctx.as_ref())]
fn borrowed_option(ctx: &Option<SpanContext>) {
    let _ = ctx;
}

#[traced(parent = remote())]
fn from_call() {}

#[traced(parent = None::<SpanContext>)]
fn explicit_none() {}

struct Request {
    context: Option<SpanContext>,
}

#[traced(kind = "consumer", parent = &request.context)]
async fn handle(request: Request) -> usize {
    usize::from(request.context.is_some())
}

fn main() {
    assert_eq!(owned(remote()), 1);
    assert!(optional(Some(remote())));
    assert!(!optional(None));
    borrowed(&remote());
    borrowed_option(&Some(remote()));
    from_call();
    explicit_none();
    drop(handle(Request { context: Some(remote()) }));
}
