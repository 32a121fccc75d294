//! `llmtel demo`: llmtel as configured (the built-in config by default), with its sidecar pointed at a simulated
//! model server and a gentle stream of requests going through it, so a new user sees traces and metrics within
//! seconds, with no GPU and no Ollama.

pub mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use llmtel_config::{ExporterConfig, ReceiverConfig, ValidConfig};
use tokio_util::sync::CancellationToken;

use crate::{CollectorFactory, ShutdownReport};

/// Settings of `llmtel demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Time between two requests the demo sends.
    pub interval: Duration,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Starts the simulated model server, llmtel in front of it and the request load; runs until SIGINT or SIGTERM.
pub async fn run(cfg: ValidConfig, opts: DemoOptions) -> anyhow::Result<ShutdownReport> {
    let proxy_id = cfg
        .receivers
        .iter()
        .find(|(_, r)| matches!(r, ReceiverConfig::LlmProxy(_)))
        .map(|(id, _)| id.as_str().to_owned())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the config has no llm_proxy receiver for the demo to send requests through"
            )
        })?;
    let stop = CancellationToken::new();
    let sim_addr = sim::start("127.0.0.1:0", stop.clone())
        .await
        .map_err(|e| anyhow::anyhow!("start the simulated model server on 127.0.0.1: {e}"))?;
    let cfg = with_request_lines(cfg)?
        .override_llm_proxy(None, Some(&format!("http://{sim_addr}")))
        .map_err(anyhow::Error::msg)?;
    let factory = CollectorFactory::for_config(&cfg);
    let hub = factory.explorer().clone();
    let running =
        match crate::start_with_explorer(&cfg, &factory, factory.listeners.clone(), hub).await {
            Ok(r) => r,
            Err(e) => {
                stop.cancel();
                return Err(e.into());
            }
        };
    let listeners = running.listeners().clone();
    let Some(sidecar) = listeners.get(&format!("{proxy_id} listen")) else {
        stop.cancel();
        running.stop().await;
        anyhow::bail!("the sidecar {proxy_id} did not report its address");
    };
    let metrics: Vec<String> = cfg
        .exporters
        .iter()
        .filter(|(_, e)| matches!(e, ExporterConfig::Prometheus(_)))
        .filter_map(|(id, _)| listeners.get(&format!("{id} prometheus")))
        .map(|a| format!("http://{a}/metrics"))
        .collect();
    println!(
        "llmtel demo: a simulated Ollama (models {}) is on {sim_addr};",
        model_names()
    );
    println!(
        "  requests go through the sidecar on http://{sidecar} every {:?}.",
        opts.interval
    );
    if !metrics.is_empty() {
        println!("  Metrics: {}", metrics.join(", "));
    }
    if let Some(admin) = listeners.get("admin") {
        println!(
            "  Request explorer (in flight, latency buckets, timelines, pipeline): http://{admin}/"
        );
        println!("  llmtel's own health: http://{admin}/metrics");
    }
    println!(
        "  Each request's line below: duration, time to first token, think and answer time and tokens."
    );
    println!(
        "  Try it yourself: curl http://{sidecar}/api/chat -d '{{\"model\": \"qwen3:14b\", \"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}]}}'"
    );
    println!("  After a minute: llmtel report. Ctrl-C stops the demo.");
    let load = tokio::spawn(load(sidecar, opts.interval, stop.clone()));
    crate::wait_for_signal().await;
    stop.cancel();
    let _ = load.await;
    Ok(running.stop().await)
}

/// The config with each `debug` exporter at `basic` raised to `normal`: one line per request, with its
/// think/answer split, instead of one per batch.
fn with_request_lines(cfg: ValidConfig) -> anyhow::Result<ValidConfig> {
    use llmtel_config::Verbosity;
    let mut raw = cfg.into_inner();
    for e in raw.exporters.values_mut() {
        if let ExporterConfig::Debug(d) = e
            && d.verbosity == Verbosity::Basic
        {
            d.verbosity = Verbosity::Normal;
        }
    }
    llmtel_config::validate(raw).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the demo's config: {}", list.join("; "))
    })
}

fn model_names() -> String {
    sim::MODELS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

const PROMPTS: &[&str] = &[
    "Why is the sky blue?",
    "Write a haiku about GPUs.",
    "How many r's are in strawberry?",
    "Explain time to first token in one paragraph.",
    "What is 17 * 23?",
];

/// One request of the demo's mix: path, body, and a short description for the log.
fn request_for(i: u64, prompt: &str) -> (&'static str, serde_json::Value, &'static str) {
    use serde_json::json;
    let chat = |model: &str, think: Option<bool>| {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": prompt}]});
        if let Some(t) = think {
            body["think"] = json!(t);
        }
        body
    };
    match i % 25 {
        // Now and then a request the small model refuses (it cannot think): the error panels have something.
        24 => (
            "/api/chat",
            chat("llama3.2:3b", Some(true)),
            "llama3.2:3b think=on (refused)",
        ),
        n => match n % 10 {
            0 | 3 | 6 => (
                "/api/chat",
                chat("qwen3:14b", Some(true)),
                "qwen3:14b think=on",
            ),
            1 | 7 => (
                "/api/chat",
                chat("qwen3:14b", Some(false)),
                "qwen3:14b think=off",
            ),
            4 => (
                "/v1/chat/completions",
                json!({"model": "qwen3:14b", "stream": true,
                    "messages": [{"role": "user", "content": prompt}]}),
                "qwen3:14b (OpenAI API)",
            ),
            9 => (
                "/api/generate",
                json!({"model": "qwen3:14b", "prompt": prompt, "think": true}),
                "qwen3:14b generate think=on",
            ),
            _ => ("/api/chat", chat("llama3.2:3b", None), "llama3.2:3b"),
        },
    }
}

/// Sends the demo's mix of requests to the sidecar at `sidecar`, one every `interval`, until `stop`.
pub async fn load(sidecar: SocketAddr, interval: Duration, stop: CancellationToken) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut tick = tokio::time::interval(interval);
    let mut rng = sim::Rng::from_clock();
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0u64.. {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let prompt = PROMPTS[(rng.next_u64() % PROMPTS.len() as u64) as usize];
        let (path, body, what) = request_for(i, prompt);
        in_flight.spawn(send(
            client.clone(),
            format!("http://{sidecar}{path}"),
            body,
            what,
        ));
        while in_flight.try_join_next().is_some() {}
    }
    // Requests still running are cut; their spans end as the client left.
    in_flight.abort_all();
}

async fn send(client: HttpClient, url: String, body: serde_json::Value, what: &'static str) {
    let started = Instant::now();
    let req = match http::Request::post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(url, error = %e, "demo request could not be built");
            return;
        }
    };
    match client.request(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map(|b| b.to_bytes().len());
            match bytes {
                Ok(n) => tracing::info!(
                    request = what,
                    status,
                    bytes = n,
                    seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
                    "demo request done"
                ),
                Err(e) => tracing::warn!(request = what, error = %e, "demo response broke off"),
            }
        }
        Err(e) => tracing::warn!(request = what, url, error = %e, "demo request failed"),
    }
}
