//! The comparator: a `tracing` span exported over OTLP/gRPC through tracing-opentelemetry and the
//! OpenTelemetry SDK's batch span processor.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tracing::instrument]
fn work() {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic's channel needs a Tokio runtime when it is built and while it exports.
    let runtime = tokio::runtime::Runtime::new()?;
    let _enter = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint("http://localhost:4317")
        .build()?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("otel-min").build())
        .with_batch_exporter(exporter)
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("otel-min"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    work();
    provider.shutdown()?;
    Ok(())
}
