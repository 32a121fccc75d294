//! The soak: the real `llmtel` binary (the profile the tests are built in: debug under `cargo test`, release under
//! `cargo test --release`) for 60 s, or `LLMTEL_SOAK_SECS` seconds (600 for the 10-minute run, see
//! `docs/testing.md`), under mixed load: sidecar streams in two dialects against the emulator, OTLP traces over gRPC
//! (one long-lived channel, as an SDK keeps) and over HTTP (a new connection per request), and a real Prometheus
//! scraping the `prometheus` exporter and the admin endpoint every second. In the middle the OTLP backend (the sink)
//! goes away and comes back on the same ports, for less than the exporter's retry window, and the config is reloaded
//! once (SIGHUP). Asserted: resident memory flat after the warm-up (mean of the last quarter within 20 % of the first
//! quarter's); nothing lost that was accepted (every span llmtel accepted is at the sink, no drops, and what the
//! clients were refused is what llmtel counted as refused); every sidecar stream byte-identical; every scrape up;
//! and no warning or error in llmtel's log but the outage's own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use integration_tests::emulator::{Emulator, Script};
use integration_tests::prom::{self, Prometheus};
use integration_tests::sink::Sink;
use integration_tests::{
    LlmtelProcess, scrape_value_or_zero, trace_request, try_http_request, write_temp,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use serde_json::json;

/// Warnings and errors the outage causes (the exporter retrying, the backend refusing connections); any other
/// warning or error line fails the soak.
const OUTAGE_LINES: &[&str] = &["export failed, will retry"];

fn soak_secs() -> u64 {
    std::env::var("LLMTEL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
        .max(30)
}

fn config(sink: SocketAddr, upstream: &str, tag: Option<&str>) -> String {
    let (tag_processor, tag_list) = match tag {
        Some(v) => (
            format!(
                "  attributes/tag:\n    actions: [{{key: soak.tag, value: \"{v}\", action: upsert}}]\n"
            ),
            ", attributes/tag",
        ),
        None => (String::new(), ""),
    };
    format!(
        "receivers:\n  otlp: {{protocols: {{grpc: {{endpoint: \"127.0.0.1:0\"}}, http: {{endpoint: \"127.0.0.1:0\"}}}}}}\n\
         \x20 llm_proxy: {{listen: \"127.0.0.1:0\", upstream: \"{upstream}\"}}\n\
         processors:\n  batch: {{}}\n{tag_processor}\
         connectors:\n  genai_metrics: {{}}\n\
         exporters:\n\
         \x20 otlp: {{endpoint: \"http://{sink}\", sending_queue: {{queue_size: 1000}}, \
         retry_on_failure: {{initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 120s}}}}\n\
         \x20 prometheus: {{endpoint: \"127.0.0.1:0\"}}\n\
         service:\n  pipelines:\n\
         \x20   traces: {{receivers: [otlp, llm_proxy], processors: [batch{tag_list}], exporters: [otlp, genai_metrics]}}\n\
         \x20   metrics: {{receivers: [llm_proxy, genai_metrics], processors: [batch], exporters: [prometheus]}}\n\
         \x20 telemetry: {{admin: {{endpoint: \"127.0.0.1:0\"}}}}\n"
    )
}

/// What one client loop saw.
#[derive(Debug, Default)]
struct Seen {
    ok: usize,
    refused: usize,
    errors: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_load_with_a_backend_outage_and_a_reload() {
    prom::require("prometheus");
    let secs = soak_secs();
    let total = Duration::from_secs(secs);
    let at = |share: f64| total.mul_f64(share);
    // At most 10 s: the queue holds the backlog of the outage, and the allocator keeps those pages after it drains
    // (a 30 s outage in a 10-minute run: RSS +6.2 MiB during the outage, then flat at that level), which a bound
    // on the growth between the first and the last quarter would count as growth.
    let outage = Duration::from_secs((secs / 12).clamp(5, 10));

    let script = Script {
        thinking: (0..4).map(|i| format!("thought {i}. ")).collect(),
        answer: (0..4).map(|i| format!("word{i} ")).collect(),
        first_delay: Duration::from_millis(20),
        think_delay: Duration::from_millis(15),
        answer_delay: Duration::from_millis(10),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let mut sink = Some(Sink::start().await);
    let sink_grpc = sink.as_ref().map(|s| s.grpc).unwrap();
    let state = sink.as_ref().map(|s| s.state.clone()).unwrap();
    let file = write_temp(&config(sink_grpc, &emu.url(), None));
    let llmtel = LlmtelProcess::spawn(&["run", "--config", &file.path().display().to_string()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let http = llmtel.endpoint("otlp http receiver listening");
    let proxy = llmtel.endpoint("llm_proxy listening");
    let metrics = llmtel.endpoint("prometheus exporter listening");
    let admin = llmtel.endpoint("admin endpoint listening");
    let prometheus = Prometheus::start_with(
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n\
             \x20 - {{job_name: llmtel, static_configs: [{{targets: ['{metrics}']}}]}}\n\
             \x20 - {{job_name: admin, static_configs: [{{targets: ['{admin}']}}]}}\n"
        ),
        &[],
    );
    prometheus.ready().await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    // OTLP over gRPC: 10 spans every 50 ms on one channel.
    {
        let stop = stop.clone();
        loops.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut client = match TraceServiceClient::connect(format!("http://{grpc}")).await {
                Ok(c) => c,
                Err(e) => {
                    seen.errors.push(format!("grpc connect: {e}"));
                    return seen;
                }
            };
            let mut batch = 1_000_000u32;
            while !stop.load(Ordering::Relaxed) {
                batch += 1;
                match client.export(trace_request(10, batch)).await {
                    Ok(_) => seen.ok += 10,
                    Err(s) if s.code() == tonic::Code::Unavailable => seen.refused += 10,
                    Err(s) => seen.errors.push(format!("grpc: {s}")),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        }));
    }
    // OTLP over HTTP: 5 spans every 50 ms, a new connection each time.
    {
        let stop = stop.clone();
        loops.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut batch = 2_000_000u32;
            while !stop.load(Ordering::Relaxed) {
                batch += 1;
                let r = try_http_request(
                    "POST",
                    &format!("http://{http}/v1/traces"),
                    &[("content-type", "application/x-protobuf")],
                    trace_request(5, batch).encode_to_vec(),
                )
                .await;
                match r {
                    Ok(a) if a.status == 200 => seen.ok += 5,
                    Ok(a) if a.status == 503 => seen.refused += 5,
                    Ok(a) => seen.errors.push(format!("http: {}", a.status)),
                    Err(e) => seen.errors.push(format!("http: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        }));
    }
    // Sidecar streams, Ollama's and OpenAI's dialects in turn, two clients.
    for client in 0..2 {
        let stop = stop.clone();
        let requests: Vec<(&str, serde_json::Value)> = vec![
            (
                "/api/chat",
                json!({"model": "qwen3:14b", "messages": [{"role": "user", "content": "hi"}], "think": true}),
            ),
            (
                "/v1/chat/completions",
                json!({"model": "qwen3:14b", "messages": [{"role": "user", "content": "hi"}], "stream": true}),
            ),
        ];
        let expected: Vec<Vec<u8>> = requests.iter().map(|(p, r)| emu.body_for(p, r)).collect();
        loops.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut i = client;
            while !stop.load(Ordering::Relaxed) {
                let (path, req) = &requests[i % requests.len()];
                let r = try_http_request(
                    "POST",
                    &format!("http://{proxy}{path}"),
                    &[("content-type", "application/json")],
                    req.to_string().into_bytes(),
                )
                .await;
                match r {
                    Ok(a) if a.status == 200 && a.body == expected[i % requests.len()] => {
                        seen.ok += 1
                    }
                    Ok(a) => seen
                        .errors
                        .push(format!("sidecar {path}: {} {:?}", a.status, a.body)),
                    Err(e) => seen.errors.push(format!("sidecar {path}: {e}")),
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }

    // The timeline, with resident memory sampled every second.
    let started = Instant::now();
    let mut rss: Vec<(Duration, u64)> = Vec::new();
    let (mut outage_at, mut restored_at, mut reloaded) = (None, None, false);
    let mut stopped = None;
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = started.elapsed();
        rss.push((now, llmtel.rss_kib()));
        if outage_at.is_none() && now >= at(0.40) {
            if let Some(s) = sink.take() {
                stopped = Some(s.stop().await);
            }
            outage_at = Some(now);
        }
        if restored_at.is_none() && outage_at.is_some_and(|o| now >= o + outage) {
            if let Some(st) = stopped.take() {
                sink = Some(Sink::restart(st).await);
            }
            restored_at = Some(now);
        }
        if !reloaded && now >= at(0.60) {
            std::fs::write(file.path(), config(sink_grpc, &emu.url(), Some("reloaded"))).unwrap();
            llmtel.sighup();
            llmtel
                .wait_log("config reloaded", 1, Duration::from_secs(30))
                .await;
            reloaded = true;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for l in loops {
        seen.push(l.await.unwrap());
    }
    let log = llmtel.log();
    let errors: Vec<&String> = seen.iter().flat_map(|s| &s.errors).collect();
    assert!(
        errors.is_empty(),
        "{} client errors, e.g. {:?}\n{log}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(
        restored_at.is_some() && reloaded,
        "the soak was too short for its timeline"
    );

    // Nothing lost that was accepted: llmtel's counters, the sink and the clients agree.
    let self_metrics = format!("http://{admin}/metrics");
    let counter = |name: &'static str, labels: Vec<&'static str>| {
        let url = self_metrics.clone();
        async move { scrape_value_or_zero(&url, name, &labels).await as usize }
    };
    let otlp_accepted = counter(
        "llmtel_receiver_accepted_items_total",
        vec!["receiver=\"otlp\"", "signal=\"traces\""],
    )
    .await;
    let proxy_accepted = counter(
        "llmtel_receiver_accepted_items_total",
        vec!["receiver=\"llm_proxy\"", "signal=\"traces\""],
    )
    .await;
    let accepted = otlp_accepted + proxy_accepted;
    let delivered = state
        .wait_for(Duration::from_secs(60), |s| {
            s.unique_spans("grpc") >= accepted
        })
        .await;
    let at_sink = state.unique_spans("grpc");
    let dropped = counter(
        "llmtel_exporter_dropped_items_total",
        vec!["exporter=\"otlp\"", "signal=\"traces\""],
    )
    .await;
    let failed = counter(
        "llmtel_exporter_failed_items_total",
        vec!["exporter=\"otlp\"", "signal=\"traces\""],
    )
    .await;
    let refused = counter(
        "llmtel_receiver_refused_items_total",
        vec!["receiver=\"otlp\"", "signal=\"traces\""],
    )
    .await;
    let (client_ok, client_refused) = (seen[0].ok + seen[1].ok, seen[0].refused + seen[1].refused);
    let streams = seen[2].ok + seen[3].ok;
    let first_quarter = mean_kib(&rss, at(0.15), at(0.35));
    let last_quarter = mean_kib(&rss, at(0.78), total);
    eprintln!(
        "soak {secs}s: {streams} sidecar streams, {client_ok} OTLP spans accepted and {client_refused} refused \
         (llmtel: {otlp_accepted} accepted, {refused} refused; sidecar spans {proxy_accepted}); at the sink \
         {at_sink} of {accepted}, dropped {dropped}, failed {failed}; outage {outage:?} from {outage_at:?}; \
         RSS first quarter {first_quarter} KiB, last quarter {last_quarter} KiB, peak {} KiB",
        rss.iter().map(|(_, k)| *k).max().unwrap_or(0)
    );
    let profile: Vec<String> = (0..10)
        .filter_map(|i| rss.get(rss.len() * i / 10))
        .map(|(t, k)| format!("{}s {} KiB", t.as_secs(), k))
        .collect();
    eprintln!("RSS over the run: {}", profile.join(", "));
    assert!(
        delivered && at_sink == accepted,
        "{at_sink} spans at the sink, {accepted} accepted"
    );
    assert_eq!(
        (dropped, failed),
        (0, 0),
        "the outage was shorter than the retry window"
    );
    assert_eq!(
        otlp_accepted, client_ok,
        "llmtel accepted exactly what the clients were told it took"
    );
    assert_eq!(
        refused, client_refused,
        "llmtel counted exactly what the clients saw refused"
    );
    assert!(streams > 0 && client_ok > 0);

    // Resident memory flat after the warm-up.
    assert!(
        last_quarter as f64 <= first_quarter as f64 * 1.2,
        "RSS grew from {first_quarter} KiB to {last_quarter} KiB: {rss:?}"
    );

    // Every scrape of both targets was up.
    for job in ["llmtel", "admin"] {
        let q = format!("min_over_time(up{{job=\"{job}\"}}[{secs}s])");
        let r = prometheus.query(&q).await;
        assert_eq!(prom::first_value(&r), Some(1.0), "{q}: {r}");
        let q = format!("count_over_time(up{{job=\"{job}\"}}[{secs}s])");
        let scrapes = prom::first_value(&prometheus.query(&q).await).unwrap_or(0.0);
        assert!(
            scrapes >= (secs / 2) as f64,
            "{job}: {scrapes} scrapes in {secs}s"
        );
    }

    // No warning or error the test did not cause.
    let unexpected: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .filter(|l| !OUTAGE_LINES.iter().any(|o| l.contains(o)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected warnings or errors:\n{}",
        unexpected.join("\n")
    );
    let expected: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    eprintln!(
        "the outage's own warnings ({}):\n{}",
        expected.len(),
        expected.join("\n")
    );
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("shutdown complete: every queue drained"),
        "{log}"
    );
}

/// The mean resident memory sampled from `from` to `to`, in KiB.
fn mean_kib(samples: &[(Duration, u64)], from: Duration, to: Duration) -> u64 {
    let within: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|(_, k)| *k)
        .collect();
    within.iter().sum::<u64>() / within.len().max(1) as u64
}
