//! The `llmtel` binary as a user runs it: `validate`, `print-config`, and `run` with a config file, fed by a gRPC
//! and an HTTP client, stopped with SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{LlmtelProcess, http_request, llmtel_binary, write_temp};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// The same file the config crate's unit test checks: five different mistakes.
const FIVE_MISTAKES: &str = include_str!("../../config/tests/fixtures/five-mistakes.yaml");

#[test]
fn validate_reports_all_five_mistakes_and_exits_64() {
    let file = write_temp(FIVE_MISTAKES);
    let out = Command::new(llmtel_binary())
        .args(["validate", "--config"])
        .arg(file.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("5 errors"), "{stderr}");
    for path in [
        "receivers.otlp.protocols.grpc.endpont:",
        "processors.batch.send_batch_size:",
        "processors.batch.timeout:",
        "exporters.debug.verbosity:",
        "service.pipelines.traces.receivers[0]:",
    ] {
        assert!(stderr.contains(path), "{path} missing from:\n{stderr}");
    }
    let missing = Command::new(llmtel_binary())
        .args(["validate", "--config", "/nonexistent/llmtel.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("read config /nonexistent/llmtel.yaml")
    );
}

#[test]
fn print_config_output_is_a_valid_config() {
    let out = Command::new(llmtel_binary())
        .arg("print-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("endpoint: 127.0.0.1:4317"), "{yaml}");
    let file = write_temp(&yaml);
    let check = Command::new(llmtel_binary())
        .args(["validate", "--config"])
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let version = Command::new(llmtel_binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("llmtel "));
}

const RUN_CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0"}
      http: {endpoint: "127.0.0.1:0"}
processors:
  batch: {timeout: 100ms}
  attributes/redact:
    actions:
      - {key: user.email, action: hash}
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [attributes/redact, batch], exporters: [debug]}
  telemetry:
    admin: {endpoint: "127.0.0.1:0"}
"#;

/// Items the debug exporter logged, summed over its "received a batch" lines.
fn logged_items(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("debug exporter received a batch"))
        .filter_map(|l| {
            l.split("items=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

#[tokio::test]
async fn run_serves_grpc_and_http_then_drains_on_sigterm() {
    let file = write_temp(RUN_CONFIG);
    let llmtel = LlmtelProcess::spawn(&["run", "--config", file.path().to_str().unwrap()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let http = llmtel.endpoint("otlp http receiver listening");
    let admin = llmtel.endpoint("admin endpoint listening");

    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    for _ in 0..2 {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: (0..5u8)
                        .map(|i| Span {
                            name: format!("g{i}"),
                            trace_id: vec![9; 16],
                            span_id: vec![i + 1; 8],
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        client.export(req).await.unwrap();
    }
    let span = |name: &str, id: &str| {
        format!(
            r#"{{"name":"{name}","traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"{id}"}}"#
        )
    };
    let json = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{},{},{},{}]}}]}}]}}"#,
        span("a", "b7ad6b7169203331"),
        span("b", "b7ad6b7169203332"),
        span("c", "b7ad6b7169203333"),
        span("d", "b7ad6b7169203334")
    );
    for _ in 0..3 {
        let r = http_request(
            "POST",
            &format!("http://{http}/v1/traces"),
            &[("content-type", "application/json")],
            json.clone().into_bytes(),
        )
        .await;
        assert_eq!(r.status, 200);
    }

    let ready = http_request("GET", &format!("http://{admin}/readyz"), &[], Vec::new()).await;
    assert_eq!(ready.status, 200);
    let end = Instant::now() + Duration::from_secs(10);
    while logged_items(&llmtel.log()) < 22 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logged_items(&llmtel.log()), 22, "{}", llmtel.log());
    let metrics = http_request("GET", &format!("http://{admin}/metrics"), &[], Vec::new()).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.lines()
            .any(|l| l.starts_with("llmtel_exporter_sent_items_total{")
                && l.contains("signal=\"traces\"")
                && l.ends_with(" 22")),
        "{text}"
    );

    // The gRPC client is still connected, as an SDK's channel stays open between exports: it must not hold up
    // the shutdown.
    let stopping = Instant::now();
    let (code, log) = llmtel.terminate();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    drop(client);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("received SIGTERM"), "{log}");
    assert!(
        log.contains("shutdown complete: every queue drained"),
        "{log}"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: \"127.0.0.1:{port}\"}}}}}}}}\n\
         exporters: {{debug: {{}}}}\n\
         service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}, telemetry: {{admin: {{enabled: false}}}}}}\n"
    );
    let file = write_temp(&cfg);
    let out = Command::new(llmtel_binary())
        .args(["run", "--config"])
        .arg(file.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("otlp: otlp grpc: bind 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
}

const SIDECAR_CONFIG: &str = "receivers:\n  llm_proxy: {}\nexporters:\n  debug: {}\n\
service:\n  pipelines:\n    traces: {receivers: [llm_proxy], exporters: [debug]}\n  telemetry: {admin: {enabled: false}}\n";

#[tokio::test]
async fn upstream_and_listen_flags_point_the_sidecar_without_editing_the_config() {
    use integration_tests::emulator::{Emulator, Script};
    let emu = Emulator::start(Script::default()).await;
    let file = write_temp(SIDECAR_CONFIG);
    let upstream = emu.url();
    let llmtel = LlmtelProcess::spawn(&[
        "--config",
        file.path().to_str().unwrap(),
        "--upstream",
        &upstream,
        "--listen",
        "127.0.0.1:0",
    ]);
    let proxy = llmtel.endpoint("llm_proxy listening");
    let req = serde_json::json!({"model": "qwen3:14b", "messages": []});
    let resp = http_request(
        "POST",
        &format!("http://{proxy}/api/chat"),
        &[],
        req.to_string().into_bytes(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, emu.body_for("/api/chat", &req));
    // chat, think and answer, and the prefill and decode the emulator's Ollama timings imply, reach the debug
    // exporter.
    let end = Instant::now() + Duration::from_secs(10);
    while logged_items(&llmtel.log()) < 5 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logged_items(&llmtel.log()), 5, "{}", llmtel.log());
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn a_bad_upstream_flag_is_a_config_error_naming_the_flag() {
    let file = write_temp(SIDECAR_CONFIG);
    let out = Command::new(llmtel_binary())
        .args(["validate", "--config"])
        .arg(file.path())
        .env("LLMTEL_UPSTREAM", "ftp://gpu-box:8000")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("--upstream \"ftp://gpu-box:8000\": scheme \"ftp\" not supported"),
        "{stderr}"
    );

    let out = Command::new(llmtel_binary())
        .args([
            "print-config",
            "--upstream",
            "http://gpu-box:8000/",
            "--listen",
            "0.0.0.0:11435",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        printed.contains("upstream: http://gpu-box:8000\n"),
        "{printed}"
    );
    assert!(printed.contains("listen: 0.0.0.0:11435"), "{printed}");
}
