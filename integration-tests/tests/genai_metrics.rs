//! GenAI metrics derived from spans, end to end: requests through the sidecar (emulator upstream) → spans to the
//! `genai_metrics` connector and to an OTLP sink → metrics to the Prometheus exporter → a real Prometheus with
//! exemplar storage. The TTFT quantile must land in the emulator's bucket, and the exemplars must name traces the
//! sink received. Spans another program sends over OTLP (the Python OpenTelemetry SDK) give the same metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use integration_tests::emulator::{Emulator, Script};
use integration_tests::prom::{Prometheus, first_value};
use integration_tests::sink::Sink;
use integration_tests::{Capture, http_request, start_in_process};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_spans_become_prometheus_metrics_whose_exemplars_open_the_traces() {
    // TTFT 0.3 s: the median lies in the (0.25, 0.5] bucket of the advised TTFT buckets.
    let emu = Emulator::start(Script {
        first_delay: Duration::from_millis(300),
        ..Script::default()
    })
    .await;
    let sink = Sink::start().await;
    let cfg = format!(
        r#"
receivers:
  llm_proxy: {{listen: "127.0.0.1:0", upstream: "{}"}}
connectors:
  genai_metrics: {{flush_interval: 500ms}}
exporters:
  otlp: {{endpoint: "http://{}"}}
  prometheus: {{endpoint: "127.0.0.1:0"}}
service:
  pipelines:
    traces: {{receivers: [llm_proxy], exporters: [genai_metrics, otlp]}}
    metrics: {{receivers: [genai_metrics], exporters: [prometheus]}}
  telemetry: {{admin: {{enabled: false}}}}
"#,
        emu.url(),
        sink.grpc
    );
    let llmtel = start_in_process(&cfg, &Capture::default()).await;
    let proxy = llmtel.listeners().get("llm_proxy listen").unwrap();
    let metrics_at = llmtel.listeners().get("prometheus prometheus").unwrap();
    let prometheus = Prometheus::start(metrics_at);
    prometheus.ready().await;

    // A steady trickle of chat requests while Prometheus is asked.
    let stop = Arc::new(AtomicBool::new(false));
    let stop_load = stop.clone();
    let load = tokio::spawn(async move {
        let req = serde_json::json!({"model": "qwen3:14b", "think": true, "messages": []});
        while !stop_load.load(Ordering::Relaxed) {
            let r = http_request(
                "POST",
                &format!("http://{proxy}/api/chat"),
                &[],
                req.to_string().into_bytes(),
            )
            .await;
            assert_eq!(r.status, 200);
        }
    });

    let q = prometheus
        .wait_for(
            "histogram_quantile(0.5, sum(rate(gen_ai_server_time_to_first_token_seconds_bucket[5s])) by (le))",
            Duration::from_secs(40),
            |r| first_value(r).is_some_and(f64::is_finite),
        )
        .await;
    let median = first_value(&q).unwrap_or(f64::NAN);
    assert!(median > 0.25 && median <= 0.5, "median TTFT {median}: {q}");

    let by_model = prometheus
        .query("sum by (gen_ai_request_model, gen_ai_provider_name, llmtel_think_mode) (llmtel_client_requests_total)")
        .await;
    assert_eq!(
        by_model[0]["metric"]["gen_ai_request_model"], "qwen3:14b",
        "{by_model}"
    );
    assert_eq!(
        by_model[0]["metric"]["gen_ai_provider_name"], "ollama",
        "{by_model}"
    );
    assert_eq!(
        by_model[0]["metric"]["llmtel_think_mode"], "on",
        "{by_model}"
    );
    let tokens = prometheus
        .query("max by (gen_ai_token_type) (gen_ai_client_token_usage_sum / gen_ai_client_token_usage_count)")
        .await;
    let per_type: std::collections::BTreeMap<String, f64> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["gen_ai_token_type"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    // The emulator reports 12 prompt and 34 eval tokens; 4 thinking chunks estimate the reasoning tokens.
    assert_eq!(
        per_type,
        [
            ("input".to_owned(), 12.0),
            ("output".to_owned(), 34.0),
            ("reasoning".to_owned(), 4.0)
        ]
        .into(),
        "{tokens}"
    );

    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();

    let ex = prometheus
        .query_exemplars("gen_ai_server_time_to_first_token_seconds_bucket")
        .await;
    let exemplar_traces: Vec<String> = ex
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
        .collect();
    assert!(!exemplar_traces.is_empty(), "no exemplars: {ex}");
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| {
                let seen = s.trace_ids();
                exemplar_traces.iter().all(|t| seen.contains(t))
            })
            .await,
        "exemplar traces {exemplar_traces:?} not all received by the OTLP sink"
    );
    assert!(
        ex.to_string().contains("\"le\":\"0.5\""),
        "the exemplar sits on the bucket it fell in: {ex}"
    );
    drop(prometheus);
    llmtel.stop().await;
}

const PY_APP: &str = r#"
import sys, time
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

provider = TracerProvider(resource=Resource.create({"service.name": "chat-app"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1], insecure=True)))
tracer = provider.get_tracer("openllmetry-like")
start = time.time_ns()
for i in range(3):
    # The shape OpenLLMetry and older instrumentations emit: gen_ai.system and prompt/completion token names.
    span = tracer.start_span("openai.chat", kind=trace.SpanKind.CLIENT, start_time=start, attributes={
        "gen_ai.system": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.prompt_tokens": 20,
        "gen_ai.usage.completion_tokens": 50,
        "gen_ai.response.finish_reasons": ["stop"],
    })
    span.end(end_time=start + 1_500_000_000)
provider.shutdown()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_spans_from_another_programs_sdk_give_the_same_metrics() {
    let check = std::process::Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc",
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the OpenTelemetry Python SDK is missing: run `pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc` (scripts/test.sh does)"
    );
    let cfg = r#"
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:0"}}}
connectors:
  genai_metrics: {flush_interval: 200ms}
exporters:
  prometheus: {endpoint: "127.0.0.1:0"}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [genai_metrics]}
    metrics: {receivers: [genai_metrics], exporters: [prometheus]}
  telemetry: {admin: {enabled: false}}
"#;
    let llmtel = start_in_process(cfg, &Capture::default()).await;
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let url = format!(
        "http://{}/metrics",
        llmtel.listeners().get("prometheus prometheus").unwrap()
    );
    let script = integration_tests::write_temp(PY_APP);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script.path())
            .arg(format!("http://{grpc}"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let labels = [
        r#"gen_ai_operation_name="chat""#,
        r#"gen_ai_provider_name="openai""#,
        r#"gen_ai_request_model="gpt-4o-mini""#,
        r#"gen_ai_response_model="gpt-4o-mini-2024-07-18""#,
    ];
    let mut text = String::new();
    for _ in 0..50 {
        text = String::from_utf8_lossy(&http_request("GET", &url, &[], Vec::new()).await.body)
            .into_owned();
        // The three spans may reach the connector in different flushes: wait for all of them.
        if text.lines().any(|l| {
            l.starts_with("gen_ai_client_operation_duration_seconds_count{") && l.ends_with(" 3")
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The value of the series `name` carrying every one of `labels` and `extra`.
    let value = |name: &str, extra: &[&str]| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!("{name}{{"))
                    && labels.iter().chain(extra).all(|lab| l.contains(lab))
            })
            .unwrap_or_else(|| panic!("no {name} series with {labels:?} {extra:?}:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(
        value("gen_ai_client_operation_duration_seconds_count", &[]),
        3.0
    );
    assert_eq!(
        value("gen_ai_client_operation_duration_seconds_sum", &[]),
        4.5
    );
    assert_eq!(
        value(
            "gen_ai_client_token_usage_sum",
            &[r#"gen_ai_token_type="input""#]
        ),
        60.0
    );
    assert_eq!(
        value(
            "gen_ai_client_token_usage_sum",
            &[r#"gen_ai_token_type="output""#]
        ),
        150.0
    );
    assert_eq!(
        value(
            "llmtel_client_requests_total",
            &[r#"gen_ai_response_finish_reason="stop""#]
        ),
        3.0
    );
    llmtel.stop().await;
}
