//! The smallest telemark program that exports over OTLP/gRPC: one traced function, init, drop.

#[telemark::traced]
fn work() {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = telemark::Config::default()
        .service_name("telemark-min")
        .otlp("http://localhost:4317", telemark::Protocol::Grpc);
    let guard = telemark::init(config)?;
    work();
    drop(guard);
    Ok(())
}
