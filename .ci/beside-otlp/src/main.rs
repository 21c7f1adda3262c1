//! telemark and the program's own opentelemetry-otlp exporter, both built (see Cargo.toml: the
//! point is that this compiles; it is checked, not run).

use opentelemetry_otlp::WithExportConfig;
use telemark::traced;

#[traced]
fn work() -> u32 {
    42
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = telemark::init(telemark::Config::default().service_name("beside-otlp"))?;
    work();
    // The program's own SDK exporter, over HTTP/protobuf (its default features) …
    let _http = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()?;
    // … and over gRPC (`tls-roots` alone only sets tonic's root features: `with_tls_config` needs
    // `tls-ring` or `tls-aws-lc` as well).
    #[cfg(feature = "more")]
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let _in_runtime = runtime.enter();
        let _grpc = opentelemetry_otlp::SpanExporter::builder().with_tonic().build()?;
    }
    guard.shutdown_within(std::time::Duration::from_secs(5));
    Ok(())
}
