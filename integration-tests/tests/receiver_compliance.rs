//! Every receiver llmtel has passes the one receiver compliance test ([`integration_tests::compliance`]): it
//! refuses when its pipeline is full and loses nothing silently, stops cleanly, and fails clearly without what it
//! needs (a free port, or its source). A new receiver gets a [`Subject`] here.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use integration_tests::compliance::{
    Answer, Needs, Running, Setup, Subject, run_receiver_compliance,
};
use integration_tests::emulator::{Emulator, Script};
use integration_tests::gpu::SteadyBackend;
use integration_tests::{http_request, trace_request};
use llmtel_collector::Listeners;
use llmtel_config::{ComponentId, ReceiverConfig};
use llmtel_instrument::gpu::{Backend, GpuReceiver};
use llmtel_instrument::host::HostReceiver;
use llmtel_pipelines::{BuildError, Receiver, Signal};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic_types::StatusExt;

/// How often the receivers that sample or poll do so in these tests.
const INTERVAL: &str = "50ms";

/// `127.0.0.1:0`, or the taken address.
fn listen(setup: Setup) -> String {
    match setup {
        Setup::Taken(addr) => addr.to_string(),
        Setup::Normal | Setup::Absent => "127.0.0.1:0".to_owned(),
    }
}

fn bound(receiver: Running<'_>, what: &str) -> SocketAddr {
    let name = format!("{} {what}", receiver.id);
    receiver
        .listeners
        .get(&name)
        .unwrap_or_else(|| panic!("no address recorded as {name:?}"))
}

// === otlp ===

/// The `otlp` receiver over gRPC: a refusal is UNAVAILABLE with RetryInfo.
struct OtlpGrpc {
    batch: u32,
}

impl Subject for OtlpGrpc {
    fn kind(&self) -> &'static str {
        "otlp"
    }
    fn signal(&self) -> Signal {
        Signal::Traces
    }
    fn needs(&self) -> Needs {
        Needs::Port
    }
    fn settings(&self, setup: Setup) -> String {
        format!(
            "{{protocols: {{grpc: {{endpoint: \"{}\"}}}}}}",
            listen(setup)
        )
    }
    async fn emit(&mut self, receiver: Running<'_>) -> Answer {
        let addr = bound(receiver, "otlp grpc");
        let mut client = TraceServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect to the otlp receiver");
        self.batch += 1;
        match client.export(trace_request(10, self.batch)).await {
            Ok(_) => Answer::Accepted(10),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                assert!(
                    status.get_details_retry_info().is_some(),
                    "a refusal says when to retry: {status:?}"
                );
                Answer::Refused(10)
            }
        }
    }
}

/// The `otlp` receiver over HTTP: a refusal is 503 with Retry-After.
struct OtlpHttp {
    batch: u32,
}

impl Subject for OtlpHttp {
    fn kind(&self) -> &'static str {
        "otlp"
    }
    fn signal(&self) -> Signal {
        Signal::Traces
    }
    fn needs(&self) -> Needs {
        Needs::Port
    }
    fn settings(&self, setup: Setup) -> String {
        format!(
            "{{protocols: {{http: {{endpoint: \"{}\"}}}}}}",
            listen(setup)
        )
    }
    async fn emit(&mut self, receiver: Running<'_>) -> Answer {
        let addr = bound(receiver, "otlp http");
        self.batch += 1;
        let answer = http_request(
            "POST",
            &format!("http://{addr}/v1/traces"),
            &[("content-type", "application/x-protobuf")],
            trace_request(10, self.batch).encode_to_vec(),
        )
        .await;
        match answer.status {
            200 => Answer::Accepted(10),
            503 => {
                assert!(
                    answer.headers.contains_key("retry-after"),
                    "a refusal says when to retry: {:?}",
                    answer.headers
                );
                Answer::Refused(10)
            }
            other => panic!("neither taken nor refused for a retry: HTTP {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_over_grpc_is_compliant() {
    run_receiver_compliance(OtlpGrpc { batch: 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_over_http_is_compliant() {
    run_receiver_compliance(OtlpHttp { batch: 0 }).await;
}

// === llm_proxy ===

/// The sidecar in front of the emulator. Its clients never hear about telemetry: whatever the pipeline does with
/// the spans, each gets the upstream's response unchanged.
struct LlmProxy {
    emulator: Emulator,
}

impl Subject for LlmProxy {
    fn kind(&self) -> &'static str {
        "llm_proxy"
    }
    fn signal(&self) -> Signal {
        Signal::Traces
    }
    fn needs(&self) -> Needs {
        Needs::Port
    }
    fn settings(&self, setup: Setup) -> String {
        format!(
            "{{listen: \"{}\", upstream: \"{}\", metrics_interval: {INTERVAL}}}",
            listen(setup),
            self.emulator.url()
        )
    }
    async fn emit(&mut self, receiver: Running<'_>) -> Answer {
        let addr = bound(receiver, "listen");
        let req = serde_json::json!({
            "model": "qwen3:14b",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": true,
        });
        let answer = http_request(
            "POST",
            &format!("http://{addr}/api/chat"),
            &[("content-type", "application/json")],
            req.to_string().into_bytes(),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body,
            self.emulator.body_for("/api/chat", &req),
            "a full pipeline must not change what the client receives"
        );
        Answer::Unheard
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_proxy_is_compliant() {
    let emulator = Emulator::start(Script::default()).await;
    run_receiver_compliance(LlmProxy { emulator }).await;
}

// === ollama ===

/// The `ollama` poller against the emulator; absent, against a port nothing listens on.
struct Ollama {
    emulator: Emulator,
    dead: SocketAddr,
}

impl Subject for Ollama {
    fn kind(&self) -> &'static str {
        "ollama"
    }
    fn signal(&self) -> Signal {
        Signal::Metrics
    }
    fn needs(&self) -> Needs {
        Needs::Source {
            warning: "ollama server not answering",
        }
    }
    fn settings(&self, setup: Setup) -> String {
        let endpoint = match setup {
            Setup::Absent => format!("http://{}", self.dead),
            Setup::Normal | Setup::Taken(_) => self.emulator.url(),
        };
        format!("{{endpoint: \"{endpoint}\", interval: {INTERVAL}, timeout: 1s}}")
    }
    async fn emit(&mut self, _receiver: Running<'_>) -> Answer {
        // A poller emits on its own interval: let one pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Answer::Unheard
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_is_compliant() {
    let emulator = Emulator::start(Script::default()).await;
    // A port nothing listens on: bind one, then let it go.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    run_receiver_compliance(Ollama { emulator, dead }).await;
}

// === gpu ===

/// The `gpu` sampler reading a steady test GPU; absent, a machine where NVML cannot be loaded.
struct Gpu;

impl Subject for Gpu {
    fn kind(&self) -> &'static str {
        "gpu"
    }
    fn signal(&self) -> Signal {
        Signal::Metrics
    }
    fn needs(&self) -> Needs {
        Needs::Source {
            warning: "NVML not available",
        }
    }
    fn settings(&self, _setup: Setup) -> String {
        format!("{{interval: {INTERVAL}}}")
    }
    fn build(
        &self,
        setup: Setup,
        id: &ComponentId,
        cfg: &ReceiverConfig,
        _listeners: &Listeners,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        let ReceiverConfig::Gpu(c) = cfg else {
            panic!("{id} is not a gpu receiver: {cfg:?}");
        };
        let open: llmtel_instrument::gpu::OpenBackend = match setup {
            Setup::Absent => Box::new(|| {
                Err("libnvidia-ml.so.1: cannot open shared object file (test double)".to_owned())
            }),
            Setup::Normal | Setup::Taken(_) => {
                Box::new(|| Ok(Box::new(SteadyBackend) as Box<dyn Backend>))
            }
        };
        Ok(Box::new(GpuReceiver::new(
            id.as_str(),
            c,
            opentelemetry_sdk::Resource::builder().build(),
            open,
        )))
    }
    async fn emit(&mut self, _receiver: Running<'_>) -> Answer {
        // A sampler emits on its own interval: let one pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Answer::Unheard
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_is_compliant() {
    run_receiver_compliance(Gpu).await;
}

// === prometheus ===

/// The `prometheus` scraper against a server answering a small exposition; absent, against a port nothing
/// listens on.
struct Scrape {
    url: String,
    dead: SocketAddr,
}

impl Subject for Scrape {
    fn kind(&self) -> &'static str {
        "prometheus"
    }
    fn signal(&self) -> Signal {
        Signal::Metrics
    }
    fn needs(&self) -> Needs {
        Needs::Source {
            warning: "scrape target down",
        }
    }
    fn settings(&self, setup: Setup) -> String {
        let target = match setup {
            Setup::Absent => format!("http://{}/metrics", self.dead),
            Setup::Normal | Setup::Taken(_) => format!("{}/metrics", self.url),
        };
        format!(
            "{{config: {{scrape_configs: [{{job_name: t, scrape_interval: {INTERVAL}, scrape_timeout: 40ms, static_configs: [{{targets: [\"{target}\"]}}]}}]}}}}"
        )
    }
    async fn emit(&mut self, _receiver: Running<'_>) -> Answer {
        // A scraper emits on its own interval: let one pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Answer::Unheard
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_is_compliant() {
    let url = integration_tests::raw_upstream(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: 33\r\n\r\n# TYPE jobs counter\njobs_total 3\n",
    )
    .await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    run_receiver_compliance(Scrape { url, dead }).await;
}

// === host ===

/// The `host` receiver reading this machine's `/proc`; absent, a `/proc` that is not there.
struct Host;

impl Subject for Host {
    fn kind(&self) -> &'static str {
        "host"
    }
    fn signal(&self) -> Signal {
        Signal::Metrics
    }
    fn needs(&self) -> Needs {
        Needs::Source {
            warning: "cannot read host /proc metrics",
        }
    }
    fn settings(&self, _setup: Setup) -> String {
        format!("{{interval: {INTERVAL}}}")
    }
    fn build(
        &self,
        setup: Setup,
        id: &ComponentId,
        cfg: &ReceiverConfig,
        _listeners: &Listeners,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        let ReceiverConfig::Host(c) = cfg else {
            panic!("{id} is not a host receiver: {cfg:?}");
        };
        let proc = match setup {
            Setup::Absent => std::path::PathBuf::from("/nonexistent/llmtel-test/proc"),
            Setup::Normal | Setup::Taken(_) => std::path::PathBuf::from("/proc"),
        };
        let receiver = HostReceiver::new(
            id.as_str(),
            c,
            opentelemetry_sdk::Resource::builder().build(),
        )
        .with_reader(Box::new(move || {
            llmtel_instrument::host::read::read(&proc, 100, &mut |_| None)
        }));
        Ok(Box::new(receiver))
    }
    async fn emit(&mut self, _receiver: Running<'_>) -> Answer {
        // A sampler emits on its own interval: let one pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Answer::Unheard
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_is_compliant() {
    run_receiver_compliance(Host).await;
}

// === the harness itself ===
//
// Receivers that break the contract, each in one way: the compliance test must fail for each, naming the fault.

/// How a [`Faulty`] receiver breaks the contract.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Tells its client "taken" when the pipeline refused.
    Lies,
    /// Leaves a handle to its output in a task that never ends.
    Leaks,
    /// Ignores shutdown.
    Deaf,
    /// Binds nothing, so it starts on a taken port.
    NoBind,
}

/// A receiver whose output the subject drives directly; `fault` says what it gets wrong.
struct Faulty {
    fault: Fault,
    output: std::sync::Arc<std::sync::Mutex<Option<llmtel_pipelines::Output>>>,
    batch: u32,
}

impl Faulty {
    fn new(fault: Fault) -> Self {
        Self {
            fault,
            output: Default::default(),
            batch: 0,
        }
    }
}

struct FaultyReceiver {
    fault: Fault,
    output: std::sync::Arc<std::sync::Mutex<Option<llmtel_pipelines::Output>>>,
}

impl Receiver for FaultyReceiver {
    fn start(
        self: Box<Self>,
        output: llmtel_pipelines::Output,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> llmtel_pipelines::BoxFuture<
        'static,
        Result<llmtel_pipelines::BoxFuture<'static, ()>, llmtel_pipelines::StartError>,
    > {
        Box::pin(async move {
            *self.output.lock().unwrap() = Some(output.clone());
            let fault = self.fault;
            let shared = self.output.clone();
            let serve: llmtel_pipelines::BoxFuture<'static, ()> = Box::pin(async move {
                if fault == Fault::Leaks {
                    let kept = output.clone();
                    tokio::spawn(async move {
                        std::future::pending::<()>().await;
                        drop(kept);
                    });
                }
                if fault == Fault::Deaf {
                    std::future::pending::<()>().await;
                }
                shutdown.cancelled().await;
                shared.lock().unwrap().take();
                drop(output);
            });
            Ok(serve)
        })
    }
}

impl Subject for Faulty {
    fn kind(&self) -> &'static str {
        "otlp"
    }
    fn signal(&self) -> Signal {
        Signal::Traces
    }
    fn needs(&self) -> Needs {
        Needs::Port
    }
    fn settings(&self, setup: Setup) -> String {
        format!(
            "{{protocols: {{grpc: {{endpoint: \"{}\"}}}}}}",
            listen(setup)
        )
    }
    fn build(
        &self,
        _setup: Setup,
        _id: &ComponentId,
        _cfg: &ReceiverConfig,
        _listeners: &Listeners,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(FaultyReceiver {
            fault: self.fault,
            output: self.output.clone(),
        }))
    }
    async fn emit(&mut self, _receiver: Running<'_>) -> Answer {
        let output = self.output.lock().unwrap().clone().expect("started");
        self.batch += 1;
        let batch = llmtel_pipelines::Payload::Traces(trace_request(10, self.batch).resource_spans);
        match output.try_send(batch) {
            Ok(()) => Answer::Accepted(10),
            Err(_) if self.fault == Fault::Lies => Answer::Accepted(10),
            Err(_) => Answer::Refused(10),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "the counters (accepted, refused) differ from what clients were told")]
async fn the_compliance_test_fails_a_receiver_that_hides_a_refusal() {
    run_receiver_compliance(Faulty::new(Fault::Lies)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "still held handles to its output after it stopped")]
async fn the_compliance_test_fails_a_receiver_that_leaks_its_output() {
    run_receiver_compliance(Faulty::new(Fault::Leaks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "its serving future never returned")]
async fn the_compliance_test_fails_a_receiver_that_ignores_shutdown() {
    run_receiver_compliance(Faulty::new(Fault::Deaf)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "started although its address")]
async fn the_compliance_test_fails_a_receiver_that_does_not_bind_its_port() {
    run_receiver_compliance(Faulty::new(Fault::NoBind)).await;
}
