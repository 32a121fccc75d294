//! Support for llmtel's end-to-end tests: a capturing exporter that can be held shut, llmtel in-process with it,
//! the real `llmtel` binary as a child process, and a small HTTP client. Every listener is `127.0.0.1:0`; every
//! process a test starts is stopped when its handle drops.
//!
//! A fixture that cannot do its job (a port, a process, a file it needs) fails the test that uses it: it panics
//! saying what it was doing and why, as a failed assertion would, instead of handing every test an error to
//! unwrap. Nothing here unwraps silently; shared state survives a panicking test thread (see [`lock`]).

pub mod compliance;
pub mod emulator;
pub mod gpu;
pub mod prom;
pub mod py;
pub mod sink;
pub mod traces;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llmtel_collector::{CollectorFactory, Listeners, Running};
use llmtel_config::{ComponentId, ExporterConfig, ReceiverConfig};
use llmtel_pipelines::{
    BoxFuture, BuildError, ExportError, Exported, Exporter, Factory, Payload, Receiver, Signal,
};
use tokio::sync::Semaphore;

/// Locks `m`, also after a test thread panicked while holding it: what it guards is counts and logs, still worth
/// reading for the failure message.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a [`Capture`] exporter has seen.
#[derive(Debug, Default)]
pub struct Captured {
    /// Items per signal.
    pub items: BTreeMap<&'static str, usize>,
    /// Every batch, in arrival order.
    pub batches: Vec<Payload>,
}

/// An exporter that records what reaches it; when gated, each export waits for the gate to open.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    seen: Arc<Mutex<Captured>>,
    gate: Option<Arc<Semaphore>>,
}

impl Capture {
    /// A capture whose exports wait until [`Capture::open`].
    pub fn gated() -> Self {
        Self {
            gate: Some(Arc::new(Semaphore::new(0))),
            ..Default::default()
        }
    }

    /// Lets every waiting and future export through.
    pub fn open(&self) {
        if let Some(g) = &self.gate {
            g.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// Items of `signal` seen so far.
    pub fn items(&self, signal: Signal) -> usize {
        lock(&self.seen)
            .items
            .get(signal.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// Runs `f` over what was captured.
    pub fn with<T>(&self, f: impl FnOnce(&Captured) -> T) -> T {
        f(&lock(&self.seen))
    }

    /// Waits until `done` holds or `timeout` passes; returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&Captured) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.with(&done) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.with(done)
    }
}

impl Exporter for Capture {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        Box::pin(async move {
            if let Some(g) = &self.gate {
                g.acquire()
                    .await
                    .map_err(|e| ExportError(e.to_string()))?
                    .forget();
            }
            let mut seen = lock(&self.seen);
            *seen.items.entry(batch.signal().as_str()).or_default() += batch.item_count();
            seen.batches.push(batch);
            Ok(Exported::default())
        })
    }
}

/// llmtel's real factory, except that exporter `debug/capture` is replaced by a [`Capture`].
#[derive(Debug, Clone)]
pub struct CaptureFactory {
    inner: CollectorFactory,
    capture: Capture,
}

impl Factory for CaptureFactory {
    fn receiver(
        &self,
        id: &ComponentId,
        cfg: &ReceiverConfig,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        self.inner.receiver(id, cfg)
    }
    fn exporter(
        &self,
        id: &ComponentId,
        cfg: &ExporterConfig,
    ) -> Result<Box<dyn Exporter>, BuildError> {
        if id.as_str() == "debug/capture" {
            Ok(Box::new(self.capture.clone()))
        } else {
            self.inner.exporter(id, cfg)
        }
    }
}

/// Starts llmtel in this process from `yaml` (which should use port 0 everywhere and export to `debug/capture`).
pub async fn start_in_process(yaml: &str, capture: &Capture) -> Running {
    let cfg = llmtel_config::parse(yaml, &|_| None)
        .unwrap_or_else(|e| panic!("test config invalid: {e:?}"));
    let listeners = Listeners::default();
    let factory = CaptureFactory {
        inner: CollectorFactory::new(listeners.clone()),
        capture: capture.clone(),
    };
    llmtel_collector::start(&cfg, &factory, listeners)
        .await
        .unwrap_or_else(|e| panic!("llmtel did not start: {e}"))
}

/// llmtel's built-in config with every listener on port 0, so a test or benchmark can run it beside anything.
pub fn default_config_on_port_zero() -> String {
    let mut yaml = llmtel_config::DEFAULT_CONFIG_YAML.to_owned();
    for port in ["11435", "9464", "4317", "4318", "8888"] {
        let from = format!("127.0.0.1:{port}");
        assert!(yaml.contains(&from), "default.yaml no longer has {from}");
        yaml = yaml.replace(&from, "127.0.0.1:0");
    }
    yaml
}

/// A temporary `.yaml` file holding `text` (a config for the binary); removed when dropped.
pub fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .unwrap_or_else(|e| panic!("create a temporary file: {e}"));
    std::fs::write(f.path(), text).unwrap_or_else(|e| panic!("write {}: {e}", f.path().display()));
    f
}

/// The path of the `llmtel` binary, built first so it is never stale.
pub fn llmtel_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "llmtel-collector",
            "--bin",
            "llmtel",
        ])
        .status()
        .unwrap_or_else(|e| panic!("run cargo build: {e}"));
    assert!(status.success(), "cargo build of llmtel failed");
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test's own path: {e}"));
    let Some(dir) = exe.parent().and_then(|d| d.parent()) else {
        panic!("{} is not in target/<profile>/deps/", exe.display());
    };
    dir.join("llmtel")
}

/// A running `llmtel` child process. Dropping it kills the process.
#[derive(Debug)]
pub struct LlmtelProcess {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    /// The thread copying stderr into `lines`; it ends when the process has exited and the pipe is drained.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl LlmtelProcess {
    /// Spawns `llmtel args…` and waits (up to 30 s) until it logs that it is ready.
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(llmtel_binary())
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn llmtel: {e}"));
        let Some(stderr) = child.stderr.take() else {
            unreachable!("stderr is piped above");
        };
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("llmtel is ready") {
                    let _ = ready_tx.send(());
                }
                lock(&sink).push(line);
            }
        });
        let me = Self {
            child: Some(child),
            lines,
            reader: Some(reader),
        };
        if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!("llmtel did not become ready; its log:\n{}", me.log());
        }
        me
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Resident memory of the process now, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        lock(&self.lines).join("\n")
    }

    /// The address logged by the line containing `what` (e.g. "otlp grpc receiver listening").
    pub fn endpoint(&self, what: &str) -> SocketAddr {
        let lines = lock(&self.lines);
        let line = lines
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no log line with {what:?}"));
        let Some(addr) = line
            .split("endpoint=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        else {
            panic!("no endpoint field in {line:?}");
        };
        let addr = addr.trim_matches('"');
        addr.parse()
            .unwrap_or_else(|e| panic!("endpoint {addr:?} in {line:?}: {e}"))
    }

    /// Sends SIGTERM and waits up to 20 s for the exit status.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let Some(mut child) = self.child.take() else {
            unreachable!("only terminate and drop take the child, and both end the process handle");
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let end = Instant::now() + Duration::from_secs(20);
        let code = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        // The process has exited, so its stderr reaches end of file: once the reader thread ends, it has taken
        // every last line.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (code, self.log())
    }
}

impl Drop for LlmtelProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `done` every 20 ms until it holds, and panics naming `what` if `timeout` passes first: how a test waits
/// for something to happen, instead of sleeping for a time that is enough on a fast machine.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_until`] for a condition that needs I/O to check (a scrape, a query).
pub async fn wait_until_async<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + timeout;
    while !done().await {
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether everything `receiver` accepted has gone all the way through `pipeline` (taken from its queue, handed on
/// by its processors) and is done at each of `exporters` (sent, failed or dropped), by the counters in `stats`.
/// Then nothing of it is queued, in an export or waiting for a retry, so what a backend has received is final.
/// For pipelines whose processors keep item counts (none, or `batch`).
pub fn exports_settled(
    stats: &llmtel_pipelines::Stats,
    receiver: &str,
    pipeline: &str,
    exporters: &[&str],
) -> bool {
    use llmtel_pipelines::Stage;
    let signal = llmtel_config::ServiceConfig::pipeline_signal(pipeline).unwrap_or(Signal::Traces);
    let (Some(r), Some(p)) = (
        stats.get(Stage::Receiver, receiver, signal),
        stats.get(Stage::Pipeline, pipeline, signal),
    ) else {
        return false;
    };
    // The receiver counts a batch once it is queued, before its client hears so: compared with the pipeline's
    // counts it cannot make an unfinished pipeline look finished.
    p.accepted == r.accepted
        && p.sent == r.accepted
        && exporters.iter().all(|e| {
            stats
                .get(Stage::Exporter, e, signal)
                .is_some_and(|x| x.sent + x.failed + x.dropped == r.accepted)
        })
}

/// [`exports_settled`] read from the admin endpoint's `/metrics` at `admin` (for llmtel as a child process).
pub async fn exports_settled_at(
    admin: SocketAddr,
    receiver: &str,
    pipeline: &str,
    exporters: &[&str],
) -> bool {
    let signal = llmtel_config::ServiceConfig::pipeline_signal(pipeline).unwrap_or(Signal::Traces);
    let url = format!("http://{admin}/metrics");
    let Ok(answer) = try_http_request("GET", &url, &[], Vec::new()).await else {
        return false;
    };
    let text = String::from_utf8_lossy(&answer.body);
    let signal = format!("signal=\"{}\"", signal.as_str());
    let value = |name: &str, label: String| sample_value(&text, name, &[&label, &signal]);
    let accepted = value(
        "llmtel_receiver_accepted_items_total",
        format!("receiver=\"{receiver}\""),
    );
    let pipeline = format!("pipeline=\"{pipeline}\"");
    let taken = value("llmtel_pipeline_accepted_items_total", pipeline.clone());
    let handed_on = value("llmtel_pipeline_sent_items_total", pipeline);
    let Some(accepted) = accepted else {
        return false;
    };
    taken == Some(accepted)
        && handed_on == Some(accepted)
        && exporters.iter().all(|e| {
            let done: Option<f64> = ["sent", "failed", "dropped"]
                .iter()
                .map(|what| {
                    value(
                        &format!("llmtel_exporter_{what}_items_total"),
                        format!("exporter=\"{e}\""),
                    )
                })
                .sum();
            done == Some(accepted)
        })
}

/// The value of the first sample in a Prometheus text exposition at `url` whose line starts with `name{` and
/// contains every one of `labels` (e.g. `signal="traces"`). A series that is not there is an `Err` naming it and
/// showing what was there, so a renamed metric fails the test instead of reading as 0; a test that accepts an
/// absent series says so with [`scrape_value_or_zero`].
pub async fn scrape_value(url: &str, name: &str, labels: &[&str]) -> Result<f64, String> {
    let body = http_request("GET", url, &[], Vec::new()).await.body;
    let text = String::from_utf8_lossy(&body);
    sample_value(&text, name, labels).ok_or_else(|| {
        format!(
            "no series {name}{{{}}} at {url}; the exposition:\n{text}",
            labels.join(",")
        )
    })
}

/// [`scrape_value`] for a counter that may not be exported until it first counts: absent reads as 0.
pub async fn scrape_value_or_zero(url: &str, name: &str, labels: &[&str]) -> f64 {
    scrape_value(url, name, labels).await.unwrap_or(0.0)
}

/// The value of the first sample in exposition `text` named `name` with every one of `labels`, if any.
pub fn sample_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let prefix = format!("{name}{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix) && labels.iter().all(|lab| l.contains(lab)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// An OTLP trace export request of `n` valid spans; `batch` makes the span ids unique across requests.
pub fn trace_request(
    n: usize,
    batch: u32,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let spans = (0..n as u32)
        .map(|i| {
            let mut span_id = [0u8; 8];
            span_id[..4].copy_from_slice(&batch.to_be_bytes());
            span_id[4..].copy_from_slice(&(i + 1).to_be_bytes());
            Span {
                name: format!("op-{i}"),
                trace_id: [[0xab; 8], [batch as u8 | 1; 8]].concat(),
                span_id: span_id.to_vec(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_100_000_000,
                ..Default::default()
            }
        })
        .collect();
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Sends one HTTP/1.1 request to a loopback address.
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> HttpAnswer {
    try_http_request(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Sends one HTTP/1.1 request to a loopback address; an unreachable server is an `Err`.
pub async fn try_http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<HttpAnswer, String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

/// An HTTP client for the OpenTelemetry SDK's OTLP/HTTP exporters. The SDK's batch processors run on their own
/// threads, outside any tokio runtime; this client spawns each request onto the test's runtime instead.
#[derive(Debug, Clone)]
pub struct SdkHttpClient {
    handle: tokio::runtime::Handle,
}

impl SdkHttpClient {
    /// A client that runs its requests on the current tokio runtime.
    pub fn current() -> Self {
        Self {
            handle: tokio::runtime::Handle::current(),
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for SdkHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let task = self.handle.spawn(async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<Full<Bytes>>();
            let (parts, body) = request.into_parts();
            let resp = client
                .request(http::Request::from_parts(parts, Full::new(body)))
                .await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, opentelemetry_http::HttpError>(http::Response::from_parts(parts, body))
        });
        task.await?
    }
}

/// A hand-written HTTP server on `127.0.0.1:0` that answers every connection with `response` (raw HTTP/1.1 bytes,
/// head and body) and closes it: for upstreams that misbehave in ways no real server library allows.
pub async fn raw_upstream(response: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind a raw upstream on 127.0.0.1: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the raw upstream's address: {e}"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(response).await;
            let _ = s.shutdown().await;
        }
    });
    format!("http://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_series_is_none_not_zero() {
        let text =
            "# TYPE x_total counter\nx_total{signal=\"traces\"} 0\nx_total{signal=\"logs\"} 4\n";
        assert_eq!(
            sample_value(text, "x_total", &["signal=\"traces\""]),
            Some(0.0)
        );
        assert_eq!(
            sample_value(text, "x_total", &["signal=\"logs\""]),
            Some(4.0)
        );
        assert_eq!(sample_value(text, "x_total", &["signal=\"metrics\""]), None);
        assert_eq!(sample_value(text, "y_total", &[]), None, "a renamed metric");
    }
}
