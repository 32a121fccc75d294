//! `llmtel demo` and `llmtel report` as a new user runs them: the binary, the built-in config (on free ports), no
//! GPU and no Ollama. Traces must show in the log and metrics on `/metrics` within 10 s of start, and the report
//! must read them back as a table.

use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{
    LlmtelProcess, default_config_on_port_zero, http_request, llmtel_binary, write_temp,
};

#[tokio::test]
async fn the_demo_shows_traces_and_metrics_within_ten_seconds_and_the_report_reads_them() {
    let file = write_temp(&default_config_on_port_zero());
    let llmtel = LlmtelProcess::spawn(&["demo", "--config", file.path().to_str().unwrap()]);
    let started = Instant::now();
    let metrics = format!(
        "http://{}/metrics",
        llmtel.endpoint("prometheus exporter listening")
    );
    let mut seen_metrics = false;
    let mut seen_traces = false;
    while started.elapsed() < Duration::from_secs(10) && !(seen_metrics && seen_traces) {
        let body = http_request("GET", &metrics, &[], Vec::new()).await.body;
        let text = String::from_utf8_lossy(&body);
        seen_metrics = text.contains("llmtel_client_requests_total{")
            && text.contains("gen_ai_client_operation_duration_seconds_bucket{");
        seen_traces = llmtel
            .log()
            .lines()
            .any(|l| l.contains("debug exporter received a batch") && l.contains("traces"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = llmtel.log();
    assert!(seen_traces, "no trace summary within 10 s:\n{log}");
    assert!(seen_metrics, "no request metrics within 10 s:\n{log}");
    assert!(log.contains("demo request done"), "{log}");

    // A few more requests, until the models and modes asked about below each have a row.
    let bin = llmtel_binary();
    let report = || {
        Command::new(&bin)
            .args(["report", "--url", &metrics])
            .output()
            .unwrap()
    };
    let has_rows = |table: &str| {
        table.contains("llama3.2:3b")
            && table.lines().any(|l| {
                l.starts_with("qwen3:14b")
                    && l.split_whitespace().nth(1) == Some("on")
                    && !l.ends_with(" 0%")
            })
    };
    let end = Instant::now() + Duration::from_secs(30);
    let mut out = report();
    while !has_rows(&String::from_utf8_lossy(&out.stdout)) && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        out = report();
    }
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    let header = table.lines().nth(1).unwrap_or_default();
    assert!(
        header.starts_with("MODEL") && header.contains("TTFT P50") && header.ends_with("THINKING"),
        "{table}"
    );
    let qwen_on = table
        .lines()
        .find(|l| l.starts_with("qwen3:14b") && l.split_whitespace().nth(1) == Some("on"))
        .unwrap_or_else(|| panic!("no qwen3 think=on row:\n{table}"));
    assert!(
        !qwen_on.ends_with(" 0%") && qwen_on.ends_with('%'),
        "{table}"
    );
    assert!(table.contains("llama3.2:3b"), "{table}");

    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn the_report_names_the_endpoint_it_cannot_read_and_a_bad_window() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let out = Command::new(llmtel_binary())
        .args(["report", "--url", &url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&url) && err.contains("is llmtel running"),
        "{err}"
    );

    let out = Command::new(llmtel_binary())
        .args([
            "report",
            "--prometheus",
            "http://127.0.0.1:9",
            "--window",
            "an hour",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("--window") && err.contains("an hour"), "{err}");

    let out = Command::new(llmtel_binary())
        .args(["demo", "--upstream", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("--upstream") && err.contains("simulated"),
        "{err}"
    );
}
