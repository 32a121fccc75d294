//! llmtel's own metrics on the admin endpoint, after real traffic through two sidecars (one in front of the
//! emulator, one in front of a server that sends garbage): request and parse-error counters, export latency and
//! batch-size histograms, a clean `promtool check metrics`, and counters that add up.

use std::time::Duration;

use integration_tests::emulator::{Emulator, Script};
use integration_tests::prom::promtool_check_metrics;
use integration_tests::{Capture, http_request, start_in_process};
use llmtel_pipelines::Signal;
use llmtel_pipelines::stats::Stage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_metrics_count_requests_parse_errors_and_exports_and_they_add_up() {
    let emu = Emulator::start(Script::default()).await;
    // A server that answers with a 200 NDJSON stream holding one line that is not JSON.
    let bad = integration_tests::raw_upstream(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\nnot json\n{\"done\":true}\n",
    )
    .await;
    let cfg = format!(
        r#"
receivers:
  llm_proxy/good: {{listen: "127.0.0.1:0", upstream: "{}"}}
  llm_proxy/bad: {{listen: "127.0.0.1:0", upstream: "{bad}"}}
processors: {{batch: {{timeout: 50ms}}}}
exporters:
  debug/capture: {{}}
service:
  pipelines:
    traces: {{receivers: [llm_proxy/good, llm_proxy/bad], processors: [batch], exporters: [debug/capture]}}
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#,
        emu.url()
    );
    let capture = Capture::default();
    let llmtel = start_in_process(&cfg, &capture).await;
    let good = llmtel.listeners().get("llm_proxy/good listen").unwrap();
    let bad = llmtel.listeners().get("llm_proxy/bad listen").unwrap();
    let req = serde_json::json!({"model": "m", "messages": []}).to_string();
    for _ in 0..5 {
        http_request(
            "POST",
            &format!("http://{good}/api/chat"),
            &[],
            req.clone().into_bytes(),
        )
        .await;
    }
    http_request("GET", &format!("http://{good}/api/tags"), &[], Vec::new()).await;
    http_request(
        "POST",
        &format!("http://{bad}/api/chat"),
        &[],
        req.clone().into_bytes(),
    )
    .await;
    // 5 chats × 5 spans (chat, think, answer, and the prefill and decode of the emulator's Ollama timings) and the
    // GET's one span on the good side; 1 span on the bad.
    let expected = 5 * 5 + 1 + 1;
    assert!(
        capture
            .wait_for(Duration::from_secs(10), |c| c.items.get("traces")
                == Some(&expected))
            .await,
        "spans: {:?}",
        capture.with(|c| c.items.clone())
    );

    // The capture sees a batch before the exporter's runner counts it: wait for the count too.
    let stats = llmtel.stats().clone();
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while stats
        .get(Stage::Exporter, "debug/capture", Signal::Traces)
        .is_none_or(|e| e.sent < expected as u64)
        && std::time::Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let admin = llmtel.listeners().get("admin").unwrap();
    let text = String::from_utf8(
        http_request("GET", &format!("http://{admin}/metrics"), &[], Vec::new())
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    let line = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        line("llmtel_receiver_proxy_requests_total{receiver=\"llm_proxy/good\""),
        6.0
    );
    assert_eq!(
        line("llmtel_receiver_proxy_requests_total{receiver=\"llm_proxy/bad\""),
        1.0
    );
    assert_eq!(
        line("llmtel_receiver_stream_parse_errors_total{receiver=\"llm_proxy/bad\""),
        1.0
    );
    assert!(
        !text.contains("llmtel_receiver_stream_parse_errors_total{receiver=\"llm_proxy/good\"")
    );
    assert!(
        line("llmtel_exporter_send_duration_seconds_count{exporter=\"debug/capture\"") >= 1.0,
        "{text}"
    );
    assert_eq!(
        line("llmtel_exporter_batch_size_sum{exporter=\"debug/capture\""),
        expected as f64
    );
    promtool_check_metrics(&text);

    // Every span a receiver accepted was exported, dropped or is still queued: here all were exported.
    let accepted: u64 = ["llm_proxy/good", "llm_proxy/bad"]
        .iter()
        .map(|r| {
            stats
                .get(Stage::Receiver, r, Signal::Traces)
                .unwrap()
                .accepted
        })
        .sum();
    let e = stats
        .get(Stage::Exporter, "debug/capture", Signal::Traces)
        .unwrap();
    let queued: u64 = stats.queues().iter().map(|q| q.items()).sum();
    assert_eq!(accepted, e.sent + e.dropped + queued, "{e:?}");
    assert_eq!(accepted, expected as u64);
    let ready = http_request("GET", &format!("http://{admin}/readyz"), &[], Vec::new()).await;
    assert_eq!(ready.status, 200);
    llmtel.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_that_has_to_retry_is_counted_as_an_event_on_the_admin_endpoint() {
    // A backend address nothing listens on: every export attempt is refused and retried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = closed.local_addr().unwrap();
    drop(closed);
    let cfg = format!(
        r#"
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:0"}}, grpc: {{endpoint: "127.0.0.1:0"}}}}}}
exporters:
  otlp_http/down: {{endpoint: "http://{backend}", retry_on_failure: {{initial_interval: 10ms, max_interval: 20ms, max_elapsed_time: 30s}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_http/down]}}
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#
    );
    let llmtel = start_in_process(&cfg, &Capture::default()).await;
    let http = llmtel.listeners().get("otlp otlp http").unwrap();
    let admin = llmtel.listeners().get("admin").unwrap();
    let span = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"hello"}]}]}]}"#;
    let r = http_request(
        "POST",
        &format!("http://{http}/v1/traces"),
        &[("content-type", "application/json")],
        span.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    let series = r#"llmtel_events_total{component="otlp_http/down",event="export_retried""#;
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while std::time::Instant::now() < end {
        let r = http_request("GET", &format!("http://{admin}/metrics"), &[], Vec::new()).await;
        text = String::from_utf8(r.body.to_vec()).unwrap();
        let retries = text
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok());
        if retries.is_some_and(|n| n >= 2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        text.lines().filter(|l| l.starts_with(series)).any(|l| l
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            >= Some(2.0)),
        "no count of at least 2 retries in:\n{text}"
    );
    promtool_check_metrics(&text);
}
