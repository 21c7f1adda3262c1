use telemark::traced;

#[traced(ret)]
async fn flush() -> () {}

fn main() {
    let _ = flush();
}
