//! The `gpu` receiver on a machine without an NVIDIA driver (this one, and CI): llmtel starts, says once that GPU
//! metrics are off and why, and serves everything else. The NVML path itself is checked on a GPU machine with
//! `scripts/gpu-check.sh`.

use std::time::Duration;

use integration_tests::{LlmtelProcess, http_request, write_temp};

#[tokio::test]
async fn without_nvml_llmtel_warns_once_and_serves_everything_else() {
    let cfg = r#"
receivers:
  gpu: {interval: 100ms}
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
exporters:
  prometheus: {endpoint: "127.0.0.1:0"}
service:
  pipelines: {metrics: {receivers: [gpu, otlp], exporters: [prometheus]}}
  telemetry: {admin: {endpoint: "127.0.0.1:0"}}
"#;
    let file = write_temp(cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let admin = llmtel.endpoint("admin endpoint listening");
    let http = llmtel.endpoint("otlp http receiver listening");
    let ready = http_request("GET", &format!("http://{admin}/readyz"), &[], Vec::new()).await;
    assert_eq!(ready.status, 200);
    let body = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"up.probe","gauge":{"dataPoints":[{"asInt":"1"}]}}]}]}]}"#;
    let r = http_request(
        "POST",
        &format!("http://{http}/v1/metrics"),
        &[("content-type", "application/json")],
        body.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    // Time passes on purpose: ten sampling intervals, after which the warning must still have been given once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(log.matches("NVML not available").count(), 1, "{log}");
    assert!(log.contains("GPU metrics disabled"), "{log}");
}
