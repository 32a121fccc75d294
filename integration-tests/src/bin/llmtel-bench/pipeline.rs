//! Pipeline throughput: OTLP/gRPC trace exports of 100 spans each into llmtel and into rotel, each forwarding over
//! OTLP/gRPC with gzip (both programs' default; this rotel build compresses even when told not to) to the same
//! counting sink in this process; the same load generator drives both.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::procs::{Proc, free_addr, serve_on_own_thread, wait_listening, write};

/// Counts the spans it receives.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Counter {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The counting sink, on its own thread.
pub struct Sink {
    pub addr: SocketAddr,
    count: Arc<AtomicU64>,
}

impl Sink {
    pub fn start() -> Sink {
        let count = Arc::new(AtomicU64::new(0));
        let svc = Counter(count.clone());
        let addr = serve_on_own_thread("sink", |listener| async move {
            let routes = tonic::service::Routes::new(
                TraceServiceServer::new(svc)
                    .max_decoding_message_size(64 << 20)
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
            )
            .prepare();
            integration_tests::sink::serve(listener, routes, None).await;
        });
        Sink { addr, count }
    }

    pub fn spans(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// One export request of `n` spans with typical attributes; `seq` makes ids differ between requests.
pub fn request(n: usize, seq: u64) -> ExportTraceServiceRequest {
    let spans = (0..n as u64)
        .map(|i| {
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&seq.to_be_bytes());
            trace_id[8..].copy_from_slice(&(i / 10 + 1).to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (seq * 1000 + i + 1).to_be_bytes().to_vec(),
                name: "chat qwen3:14b".into(),
                kind: 3,
                start_time_unix_nano: 1_764_460_800_000_000_000 + i * 1000,
                end_time_unix_nano: 1_764_460_801_000_000_000 + i * 1000,
                attributes: vec![
                    s("gen_ai.operation.name", "chat"),
                    s("gen_ai.provider.name", "ollama"),
                    s("gen_ai.request.model", "qwen3:14b"),
                    s("server.address", "127.0.0.1"),
                    s("http.route", "/api/chat"),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", "bench-app")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "bench".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// What one load run saw.
pub struct Load {
    /// Spans the sink received per second, after warm-up.
    pub delivered_per_s: f64,
    /// CPU used by the system under test, % of one core.
    pub cpu_percent: f64,
    /// Its resident memory at the end, KiB.
    pub rss_kib: u64,
    /// Export calls refused (`UNAVAILABLE`) or failed.
    pub refused: u64,
}

/// Drives `target` for `seconds` (after a 1 s warm-up): `concurrency` loops sending as fast as answered, or, with
/// `rate` (requests per second), one request per tick.
pub fn drive(
    target: SocketAddr,
    sut: &Proc,
    sink: &Sink,
    concurrency: usize,
    rate: Option<u64>,
    seconds: f64,
) -> Load {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{target}"))
            .unwrap_or_else(|e| panic!("endpoint: {e}"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect to the system under test: {e}"));
        let refused = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        let template = request(100, 1);
        match rate {
            None => {
                for _ in 0..concurrency {
                    let mut client = TraceServiceClient::new(channel.clone());
                    let (req, refused, stop) = (template.clone(), refused.clone(), stop.clone());
                    tasks.spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            if client.export(req.clone()).await.is_err() {
                                refused.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    });
                }
            }
            Some(per_second) => {
                let (refused, stop, channel) = (refused.clone(), stop.clone(), channel.clone());
                tasks.spawn(async move {
                    let mut tick =
                        tokio::time::interval(Duration::from_secs_f64(1.0 / per_second as f64));
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        let mut client = TraceServiceClient::new(channel.clone());
                        let (req, refused) = (template.clone(), refused.clone());
                        tokio::spawn(async move {
                            if client.export(req).await.is_err() {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                });
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (spans0, cpu0, t0) = (sink.spans(), sut.cpu_seconds(), Instant::now());
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let (spans1, cpu1, wall) = (sink.spans(), sut.cpu_seconds(), t0.elapsed().as_secs_f64());
        let rss_kib = sut.rss_kib();
        stop.store(true, Ordering::Relaxed);
        tasks.abort_all();
        Load {
            delivered_per_s: (spans1 - spans0) as f64 / wall,
            cpu_percent: (cpu1 - cpu0) / wall * 100.0,
            rss_kib,
            refused: refused.load(Ordering::Relaxed),
        }
    })
}

/// llmtel: OTLP gRPC in, batch, OTLP gRPC out (gzip, the default) to `sink`.
pub fn start_llmtel(llmtel: &Path, dir: &Path, sink: SocketAddr) -> (Proc, SocketAddr) {
    let listen = free_addr();
    let cfg = format!(
        "receivers:\n  otlp: {{protocols: {{grpc: {{endpoint: \"{listen}\"}}}}}}\n\
         processors:\n  batch:\n\
         exporters:\n  otlp: {{endpoint: \"http://{sink}\"}}\n\
         service:\n  pipelines:\n    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}\n\
         \x20 telemetry: {{admin: {{enabled: false}}}}\n"
    );
    let path = write(dir, "llmtel-pipeline.yaml", &cfg);
    let p = Proc::spawn("llmtel", llmtel, &["--config", &path], &[]);
    wait_listening(listen, "llmtel OTLP receiver");
    (p, listen)
}

/// rotel: OTLP gRPC in, its default batching, OTLP gRPC out (gzip, the default) to `sink`.
pub fn start_rotel(rotel: &Path, sink: SocketAddr) -> (Proc, SocketAddr) {
    let grpc = free_addr();
    let http = free_addr();
    let (g, h, e) = (grpc.to_string(), http.to_string(), format!("http://{sink}"));
    let p = Proc::spawn(
        "rotel",
        rotel,
        &[
            "start",
            "--otlp-grpc-endpoint",
            &g,
            "--otlp-http-endpoint",
            &h,
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            &e,
            "--otlp-exporter-protocol",
            "grpc",
        ],
        &[],
    );
    wait_listening(grpc, "rotel OTLP receiver");
    (p, grpc)
}
