//! The sidecar learns which server it fronts: the emulator (which answers Ollama's `/api/version`) is Ollama; a
//! small fake `llama-server` (`Server: llama.cpp` on every answer, `/props`, `/health`, `/v1/chat/completions`)
//! is llama.cpp. Spans and metrics carry that provider; `llmtel_upstream_up` follows the server's health; and the
//! real binary with the built-in config logs no `ollama` warning in front of llama.cpp.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use integration_tests::emulator::{Emulator, Script};
use integration_tests::traces::{Sidecar, attr_s, post as post_json};
use integration_tests::{
    LlmtelProcess, default_config_on_port_zero, http_request, sample_value, write_temp,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A fake llama.cpp `llama-server` on `127.0.0.1:0`: its URL, and the token that stops it.
/// A JSON answer with `status`.
fn json_answer(status: u16, v: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(axum::body::Body::from(v.to_string()))
        .unwrap()
}

async fn fake_llama_server() -> (String, CancellationToken, tokio::task::JoinHandle<()>) {
    async fn props() -> Response {
        json_answer(
            200,
            json!({
                "default_generation_settings": {"n_ctx": 4096, "params": {"temperature": 0.8}},
                "total_slots": 1,
                "model_path": "/models/SmolLM2-135M-Instruct-Q8_0.gguf",
                "chat_template": "{{ messages }}",
                "build_info": "b6000-0123abcd"
            }),
        )
    }
    async fn health() -> Response {
        json_answer(200, json!({"status": "ok"}))
    }
    async fn chat() -> Response {
        json_answer(
            200,
            json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1_795_860_300,
                "model": "smollm2",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Hello."}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
            }),
        )
    }
    async fn not_found() -> Response {
        json_answer(
            404,
            json!({"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}),
        )
    }
    // llama-server names itself on every answer, 404s included.
    async fn server_header(mut r: Response) -> Response {
        r.headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("llama.cpp"));
        r
    }
    let app = Router::new()
        .route("/props", get(props))
        .route("/health", get(health))
        .route("/v1/chat/completions", post(chat))
        .fallback(not_found)
        .layer(axum::middleware::map_response(server_header));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let served = stop.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(served.cancelled_owned())
            .await;
    });
    (url, stop, task)
}

/// Scrapes `url` until `done` holds for its text (up to 20 s), and returns that text.
async fn scrape_until(url: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = http_request("GET", url, &[], Vec::new()).await.body;
        let text = String::from_utf8_lossy(&body).into_owned();
        if done(&text) {
            return text;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}; the last scrape:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn chat_request() -> serde_json::Value {
    json!({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_is_detected_as_ollama() {
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "health_check_interval: 200ms").await;
    let answer = post_json(
        &format!("{}/api/chat", sidecar.url),
        &json!({"model": "qwen3:14b", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let (span, _) = sidecar.trace("chat qwen3:14b").await;
    assert_eq!(attr_s(&span, "gen_ai.provider.name"), Some("ollama"));
    let ok = sidecar
        .capture
        .wait_for(Duration::from_secs(10), |c| {
            integration_tests::traces::metric_value_in(
                c,
                "llmtel.upstream.up",
                &[("gen_ai.provider.name", "ollama")],
            ) == Some(1.0)
        })
        .await;
    assert!(ok, "no llmtel.upstream.up 1 for ollama");
    sidecar.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_llama_cpp_server_is_detected_and_its_health_followed() {
    let (url, stop, task) = fake_llama_server().await;
    let sidecar = Sidecar::start(&url, "health_check_interval: 200ms").await;
    let answer = post_json(
        &format!("{}/v1/chat/completions", sidecar.url),
        &chat_request(),
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let (span, _) = sidecar.trace("chat smollm2").await;
    assert_eq!(attr_s(&span, "gen_ai.provider.name"), Some("llama.cpp"));
    let port = url.rsplit(':').next().unwrap().to_owned();
    let up = |v: f64| {
        let capture = sidecar.capture.clone();
        async move {
            capture
                .wait_for(Duration::from_secs(10), |c| {
                    integration_tests::traces::metric_value_in(
                        c,
                        "llmtel.upstream.up",
                        &[
                            ("gen_ai.provider.name", "llama.cpp"),
                            ("server.address", "127.0.0.1"),
                        ],
                    ) == Some(v)
                })
                .await
        }
    };
    assert!(up(1.0).await, "no llmtel.upstream.up 1 (port {port})");
    stop.cancel();
    task.await.unwrap();
    assert!(up(0.0).await, "llmtel.upstream.up did not fall to 0");
    sidecar.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_config_in_front_of_llama_cpp_logs_no_ollama_warning() {
    let (url, stop, task) = fake_llama_server().await;
    // The built-in config as it ships, checking health more often so the test need not wait 10 s.
    let yaml = default_config_on_port_zero().replace(
        "    provider: auto\n",
        "    provider: auto\n    health_check_interval: 300ms\n",
    );
    assert!(
        yaml.contains("health_check_interval"),
        "default.yaml changed"
    );
    let file = write_temp(&yaml);
    let llmtel = LlmtelProcess::spawn(&[
        "--config",
        file.path().to_str().unwrap(),
        "--upstream",
        &url,
    ]);
    let sidecar = llmtel.endpoint("llm_proxy listening");
    let metrics = format!(
        "http://{}/metrics",
        llmtel.endpoint("prometheus exporter listening")
    );
    let answer = post_json(
        &format!("http://{sidecar}/v1/chat/completions"),
        &chat_request(),
    )
    .await;
    assert_eq!(answer.status, 200);

    let labels = [
        r#"gen_ai_provider_name="llama.cpp""#,
        r#"server_address="127.0.0.1""#,
    ];
    let text = scrape_until(
        &metrics,
        "llmtel_upstream_up 1 and the request counted as llama.cpp",
        |t| {
            sample_value(t, "llmtel_upstream_up", &labels) == Some(1.0)
                && sample_value(t, "llmtel_client_requests_total", &labels[..1]) == Some(1.0)
        },
    )
    .await;
    assert!(
        !text.contains(r#"gen_ai_provider_name="ollama""#),
        "nothing says ollama: {text}"
    );
    assert!(
        !text.contains("ollama_up"),
        "the ollama receiver is quiet: {text}"
    );

    stop.cancel();
    task.await.unwrap();
    scrape_until(&metrics, "llmtel_upstream_up 0", |t| {
        sample_value(t, "llmtel_upstream_up", &labels) == Some(0.0)
    })
    .await;

    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("upstream detected") && log.contains("llama.cpp"),
        "the detection is logged: {log}"
    );
    assert_eq!(
        log.matches("the server is not Ollama").count(),
        1,
        "one info line from the ollama receiver: {log}"
    );
    let ollama_warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.to_ascii_lowercase().contains("ollama"))
        .collect();
    assert!(ollama_warnings.is_empty(), "{ollama_warnings:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ollama_receiver_configured_in_front_of_llama_cpp_warns_once() {
    let (url, _stop, _task) = fake_llama_server().await;
    let cfg = format!(
        "receivers:\n  ollama: {{endpoint: \"{url}\", interval: 100ms, timeout: 1s}}\n\
         exporters:\n  prometheus: {{endpoint: \"127.0.0.1:0\"}}\n\
         service:\n  pipelines:\n    metrics: {{receivers: [ollama], exporters: [prometheus]}}\n  \
         telemetry: {{admin: {{enabled: false}}}}\n"
    );
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let metrics = format!(
        "http://{}/metrics",
        llmtel.endpoint("prometheus exporter listening")
    );
    scrape_until(&metrics, "ollama_up 0", |t| {
        sample_value(t, "ollama_up", &[]) == Some(0.0)
    })
    .await;
    // Twenty polls later, still one warning.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(log.matches("is not an Ollama server").count(), 1, "{log}");
    assert!(
        log.contains("llama.cpp"),
        "the warning names the server: {log}"
    );
    assert!(!log.contains("ollama server not answering"), "{log}");
}
