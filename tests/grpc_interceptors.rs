//! tonic interceptors (`telemark::web::grpc`): a real gRPC client and server on 127.0.0.1, on a
//! service the tests already have (OTLP's `TraceService`, generated in opentelemetry-proto). The
//! client calls from inside a `#[traced]` function with a baggage entry set, through
//! `InjectContext`; the server, behind `ExtractContext`, handles the call in a
//! `#[traced(parent = grpc::parent(&request))]` method. Client and server share this process's
//! telemark pipeline, which exports to the test receiver: one trace, the server's span a child of
//! the client's, the baggage seen by the handler — and a new trace when no context is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use support::{Receiver, Span, SpanKind};
use telemark::web::grpc::{self, ExtractContext, InjectContext};
use telemark::{baggage, traced, Config, Protocol};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// What the handler saw of one call.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    /// The caller's `tenant` baggage entry, read with `telemark::baggage::get`.
    tenant: Option<String>,
    /// Whether `grpc::parent` found a context in the request.
    had_parent: bool,
}

/// The server: OTLP's trace service, used here as any unary gRPC service.
#[derive(Clone, Default)]
struct Backend {
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[tonic::async_trait]
impl TraceService for Backend {
    #[traced(kind = "server", name = "backend.export", parent = grpc::parent(&request))]
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let seen = Seen { tenant: baggage::get("tenant"), had_parent: grpc::parent(&request).is_some() };
        self.seen.lock().unwrap().push(seen);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

type Client = TraceServiceClient<InterceptedService<Channel, InjectContext>>;

#[traced(kind = "client", name = "frontend.call")]
async fn call_with_baggage(client: &mut Client) {
    assert!(baggage::set("tenant", "acme corp"), "a span is current");
    client.export(ExportTraceServiceRequest::default()).await.unwrap();
}

/// A traced caller whose client has no `InjectContext`: nothing travels.
#[traced(kind = "client", name = "frontend.call_plain")]
async fn call_without_interceptor(client: &mut TraceServiceClient<Channel>) {
    assert!(baggage::set("tenant", "acme corp"));
    client.export(ExportTraceServiceRequest::default()).await.unwrap();
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[test]
fn context_and_baggage_cross_a_grpc_call() {
    let rx = Receiver::start();
    let mut cfg =
        Config::default().service_name("grpc-interceptors").otlp(rx.grpc_endpoint(), Protocol::Grpc);
    cfg.export.shutdown_timeout = telemark::QUERY_WAIT;
    let guard = telemark::init(cfg).unwrap();

    let backend = Backend::default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(tonic::transport::Server::builder().serve_with_incoming_shutdown(
            TraceServiceServer::with_interceptor(backend.clone(), ExtractContext),
            tonic::transport::server::TcpIncoming::from(listener),
            async {
                let _ = stopped.await;
            },
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();

        // 1. Inside a traced function, through InjectContext: the context and baggage travel.
        let mut client = TraceServiceClient::with_interceptor(channel.clone(), InjectContext);
        call_with_baggage(&mut client).await;
        // 2. Outside any span, through InjectContext: nothing to send.
        client.export(ExportTraceServiceRequest::default()).await.unwrap();
        // 3. Inside a traced function, without the interceptor: nothing is sent either.
        call_without_interceptor(&mut TraceServiceClient::new(channel)).await;

        let _ = stop.send(());
        server.await.unwrap().unwrap();
    });

    let acme = Some("acme corp".to_string());
    assert_eq!(
        *backend.seen.lock().unwrap(),
        vec![
            Seen { tenant: acme, had_parent: true },
            Seen { tenant: None, had_parent: false },
            Seen { tenant: None, had_parent: false },
        ]
    );

    assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");
    let spans = rx.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let client = named(&spans, "frontend.call");
    let plain = named(&spans, "frontend.call_plain");
    let server = named(&spans, "backend.export");
    assert_eq!((client.len(), plain.len(), server.len()), (1, 1, 3), "{names:?}");
    let (client, plain) = (client[0], plain[0]);
    assert_eq!(client.kind, SpanKind::Client);
    assert!(client.is_root());

    // One trace: the server's span is the child of the client's, across the gRPC call.
    let (joined, alone): (Vec<&Span>, Vec<&Span>) =
        server.iter().partition(|s| s.trace_id == client.trace_id);
    assert_eq!(joined.len(), 1, "{server:#?}");
    assert_eq!(joined[0].parent_span_id, client.span_id);
    assert_eq!(joined[0].kind, SpanKind::Server);
    // Baggage is not copied into attributes on either side.
    assert!(joined[0].attributes.keys().chain(client.attributes.keys()).all(|k| !k.contains("tenant")));

    // No context sent: each server span starts a trace of its own.
    for s in &alone {
        assert!(s.is_root(), "{s:#?}");
        assert_ne!(s.trace_id, plain.trace_id);
    }
    assert_ne!(alone[0].trace_id, alone[1].trace_id);
    drop(guard);
}
