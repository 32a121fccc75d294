//! Proxy overhead: an Ollama-style upstream streams a thinking-then-answering response whose every chunk carries the
//! wall-clock time it was handed to the socket; clients read it direct, through nginx (`proxy_buffering off`) and
//! through llmtel's sidecar with full telemetry (spans, GenAI metrics, Prometheus), and measure time to first byte
//! and each chunk's delay.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::procs::{Proc, free_addr, serve_on_own_thread, wait_listening, write};

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Starts the upstream on its own thread; returns its address.
pub fn start_upstream() -> SocketAddr {
    serve_on_own_thread("upstream", |listener| async move {
        let app = axum::Router::new().route("/api/chat", axum::routing::post(chat));
        // Without TCP_NODELAY, Nagle's algorithm holds small chunks back behind delayed ACKs (tens of ms).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    })
}

/// Streams `x-bench-chunks` NDJSON chunks (first half reasoning, then answer), `x-bench-interval-us` apart.
async fn chat(headers: HeaderMap, _body: Bytes) -> axum::response::Response {
    let num = |k: &str, d: u64| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let chunks = num("x-bench-chunks", 512);
    let interval = Duration::from_micros(num("x-bench-interval-us", 0));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(8);
    tokio::spawn(async move {
        for i in 0..chunks {
            if !interval.is_zero() && i > 0 {
                tokio::time::sleep(interval).await;
            }
            let field = if i < chunks / 2 {
                "thinking"
            } else {
                "content"
            };
            let line = format!(
                "{{\"model\":\"bench\",\"created_at\":\"2026-11-30T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"\",\"{field}\":\" tok{i}\"}},\"done\":false,\"t\":{}}}\n",
                now_ns()
            );
            if tx.send(Ok(Bytes::from(line))).await.is_err() {
                return;
            }
        }
        let done = format!(
            "{{\"model\":\"bench\",\"created_at\":\"2026-11-30T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"\"}},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":20,\"eval_count\":{chunks},\"t\":{}}}\n",
            now_ns()
        );
        let _ = tx.send(Ok(Bytes::from(done))).await;
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    axum::response::Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(body)
        .unwrap_or_default()
}

/// What one run measured.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    pub ttfb_us: Vec<f64>,
    pub chunk_us: Vec<f64>,
    pub chunks: u64,
    pub seconds: f64,
}

/// `q` quantile of `v` (sorted in place), nearest rank.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// `concurrency` clients each send `per_client` requests (or keep sending until `for_time` passes) to `target`.
pub fn run_clients(
    target: SocketAddr,
    concurrency: usize,
    per_client: usize,
    for_time: Option<Duration>,
    chunks: u64,
    interval_us: u64,
    sample_latency: bool,
) -> RunStats {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async move {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build(connector);
        let total_chunks = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let client = client.clone();
            let total = total_chunks.clone();
            tasks.spawn(async move {
                let mut stats = RunStats::default();
                let mut n = 0;
                loop {
                    let more = match for_time {
                        Some(t) => start.elapsed() < t,
                        None => n < per_client,
                    };
                    if !more {
                        break;
                    }
                    n += 1;
                    one_request(
                        &client,
                        target,
                        chunks,
                        interval_us,
                        sample_latency,
                        &mut stats,
                        &total,
                    )
                    .await;
                }
                stats
            });
        }
        let mut all = RunStats::default();
        while let Some(r) = tasks.join_next().await {
            if let Ok(s) = r {
                all.ttfb_us.extend(s.ttfb_us);
                all.chunk_us.extend(s.chunk_us);
            }
        }
        all.seconds = start.elapsed().as_secs_f64();
        all.chunks = total_chunks.load(Ordering::Relaxed);
        all
    })
}

async fn one_request(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    target: SocketAddr,
    chunks: u64,
    interval_us: u64,
    sample_latency: bool,
    stats: &mut RunStats,
    total: &AtomicU64,
) {
    let body = r#"{"model":"bench","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let req = http::Request::post(format!("http://{target}/api/chat"))
        .header("content-type", "application/json")
        .header("x-bench-chunks", chunks.to_string())
        .header("x-bench-interval-us", interval_us.to_string())
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap_or_else(|e| panic!("request: {e}"));
    let sent = Instant::now();
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench request to {target} failed: {e}");
            return;
        }
    };
    if sample_latency {
        stats.ttfb_us.push(sent.elapsed().as_secs_f64() * 1e6);
    }
    let mut body = resp.into_body();
    let mut carry: Vec<u8> = Vec::new();
    let mut lines = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let arrived = now_ns();
        carry.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = carry[start..].iter().position(|b| *b == b'\n') {
            let line = &carry[start..start + nl];
            start += nl + 1;
            lines += 1;
            if sample_latency && let Some(t) = sent_at(line) {
                stats.chunk_us.push(arrived.saturating_sub(t) as f64 / 1e3);
            }
        }
        carry.drain(..start);
    }
    total.fetch_add(lines, Ordering::Relaxed);
}

/// The `"t":<ns>` the upstream wrote into a chunk.
fn sent_at(line: &[u8]) -> Option<u64> {
    let pos = line.windows(4).rposition(|w| w == b"\"t\":")?;
    let digits: Vec<u8> = line[pos + 4..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// nginx as a streaming reverse proxy in front of `upstream`, two workers (one per core).
pub fn start_nginx(nginx: &Path, dir: &Path, upstream: SocketAddr) -> (Proc, SocketAddr) {
    let listen = free_addr();
    let d = dir.display();
    let conf = format!(
        "worker_processes 2;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           upstream llm {{ server {upstream}; keepalive 256; }}\n\
           server {{\n    listen {listen};\n    location / {{\n      proxy_pass http://llm;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n\
               proxy_request_buffering off;\n    }}\n  }}\n}}\n"
    );
    let path = write(dir, "nginx.conf", &conf);
    let p = Proc::spawn("nginx", nginx, &["-c", &path, "-p", &d.to_string()], &[]);
    wait_listening(listen, "nginx");
    (p, listen)
}

/// llmtel with the sidecar in front of `upstream` and full telemetry: spans, GenAI metrics, Prometheus, debug log.
/// Starts llmtel's sidecar with full telemetry in front of `upstream`; with `page`, also the request explorer (the
/// admin endpoint, its live list of requests in flight, an `explorer` exporter), as the built-in config has it.
pub fn start_llmtel_sidecar(
    llmtel: &Path,
    dir: &Path,
    upstream: SocketAddr,
    page: bool,
) -> (Proc, SocketAddr) {
    let listen = free_addr();
    let (explorer, exporters, admin) = if page {
        (
            "  explorer:\n",
            "debug, genai_metrics, explorer",
            "endpoint: \"127.0.0.1:0\"",
        )
    } else {
        ("", "debug, genai_metrics", "enabled: false")
    };
    let cfg = format!(
        "receivers:\n  llm_proxy: {{listen: \"{listen}\", upstream: \"http://{upstream}\"}}\n\
         processors:\n  batch:\nconnectors:\n  genai_metrics:\n\
         exporters:\n  debug:\n{explorer}  prometheus: {{endpoint: \"127.0.0.1:0\"}}\n\
         service:\n  pipelines:\n    traces: {{receivers: [llm_proxy], processors: [batch], exporters: [{exporters}]}}\n\
         \x20   metrics: {{receivers: [llm_proxy, genai_metrics], processors: [batch], exporters: [prometheus]}}\n\
         \x20 telemetry: {{admin: {{{admin}}}}}\n"
    );
    let name = if page {
        "llmtel-proxy.yaml"
    } else {
        "llmtel-proxy-nopage.yaml"
    };
    let path = write(dir, name, &cfg);
    let p = Proc::spawn("llmtel", llmtel, &["--config", &path], &[]);
    wait_listening(listen, "llmtel sidecar");
    (p, listen)
}
