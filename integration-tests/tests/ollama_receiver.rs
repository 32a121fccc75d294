//! The `ollama` receiver: llmtel polling the emulator's `/api/ps` and `/api/version`, and polling nothing.

use std::time::Duration;

use integration_tests::emulator::{Emulator, Script};
use integration_tests::traces::metric_value_in;
use integration_tests::{Capture, LlmtelProcess, start_in_process, write_temp};

fn config(endpoint: &str) -> String {
    format!(
        "receivers:\n  ollama: {{endpoint: \"{endpoint}\", interval: 200ms, timeout: 1s}}\n\
         exporters:\n  debug/capture: {{}}\n\
         service:\n  pipelines:\n    metrics: {{receivers: [ollama], exporters: [debug/capture]}}\n  \
         telemetry: {{admin: {{enabled: false}}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_models_vram_context_expiry_and_version_are_reported() {
    let emu = Emulator::start(Script::default()).await;
    let capture = Capture::default();
    let llmtel = start_in_process(&config(&emu.url()), &capture).await;
    let model = [("gen_ai.request.model", "qwen3:14b")];
    let ok = capture
        .wait_for(Duration::from_secs(10), |c| {
            metric_value_in(c, "ollama.model.expires_at", &model).is_some()
                && metric_value_in(c, "ollama.build.info", &[("ollama.version", "0.33.0")])
                    .is_some()
        })
        .await;
    assert!(ok, "no model or version metrics arrived");
    capture.with(|c| {
        assert_eq!(
            metric_value_in(c, "ollama.up", &[("server.address", "127.0.0.1")]),
            Some(1.0)
        );
        assert_eq!(metric_value_in(c, "ollama.models.loaded", &[]), Some(1.0));
        assert_eq!(
            metric_value_in(c, "ollama.model.size", &model),
            Some(10737418240.0)
        );
        assert_eq!(
            metric_value_in(c, "ollama.model.vram.size", &model),
            Some(9663676416.0)
        );
        assert_eq!(
            metric_value_in(c, "ollama.model.context_length", &model),
            Some(4096.0)
        );
        // 2026-11-28T11:05:00.5+01:00
        assert_eq!(
            metric_value_in(c, "ollama.model.expires_at", &model),
            Some(1_795_860_300.5)
        );
    });
    llmtel.stop().await;
}

#[tokio::test]
async fn a_server_that_is_not_there_is_up_0_and_logged_once() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg =
        "receivers:\n  ollama: {endpoint: \"http://DEAD\", interval: 100ms, timeout: 500ms}\n\
         exporters:\n  prometheus: {endpoint: \"127.0.0.1:0\"}\n\
         service:\n  pipelines:\n    metrics: {receivers: [ollama], exporters: [prometheus]}\n  \
         telemetry: {admin: {enabled: false}}\n"
            .replace("DEAD", &dead.to_string());
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let prom = llmtel.endpoint("prometheus exporter listening");
    let url = format!("http://{prom}/metrics");
    let mut up_line = None;
    for _ in 0..50 {
        let text = integration_tests::http_request("GET", &url, &[], Vec::new())
            .await
            .body;
        up_line = String::from_utf8_lossy(&text)
            .lines()
            .find(|l| l.starts_with("ollama_up{"))
            .map(str::to_owned);
        if up_line.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let up_line = up_line.expect("an ollama_up series");
    assert!(up_line.ends_with(" 0"), "{up_line}");
    // Twenty polls later, still one warning.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        log.matches("ollama server not answering").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains(&dead.to_string()),
        "the warning names the server: {log}"
    );
}
