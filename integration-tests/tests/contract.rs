//! The contract between the sidecar (writer of span attributes) and the `genai_metrics` connector (their reader),
//! end to end: one thinking, streaming request through the real sidecar in front of the emulator must give every
//! metric the connector defines (`llmtel_config::semconv::GenAiMetric::ALL`), each with the value the emulator's
//! script implies. A name renamed on one side only leaves a metric empty here, even where both sides compile.

use std::time::Duration;

use integration_tests::emulator::{Emulator, Script};
use integration_tests::traces::metrics_in;
use integration_tests::{Capture, Captured, http_request, start_in_process};
use llmtel_config::semconv::{GenAiMetric, label, token_type};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};

/// The points of `m` as (attributes as `k=v` strings, sum or value).
fn points(m: &Metric) -> Vec<(Vec<String>, f64)> {
    let labels = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        attrs
            .iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Any::StringValue(s)) => s.clone(),
                    other => format!("{other:?}"),
                };
                format!("{}={v}", kv.key)
            })
            .collect::<Vec<_>>()
    };
    match &m.data {
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| (labels(&p.attributes), p.sum.unwrap_or(f64::NAN)))
            .collect(),
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| {
                let v = match p.value {
                    Some(
                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(
                            d,
                        ),
                    ) => d,
                    Some(
                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i),
                    ) => i as f64,
                    None => f64::NAN,
                };
                (labels(&p.attributes), v)
            })
            .collect(),
        other => panic!("{}: unexpected data {other:?}", m.name),
    }
}

/// The newest copy of metric `name` the capture received.
fn latest(c: &Captured, name: &str) -> Option<Metric> {
    metrics_in(c).rev().find(|m| m.name == name).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_thinking_request_through_the_sidecar_fills_every_genai_metric() {
    let script = Script {
        first_delay: Duration::from_millis(30),
        think_delay: Duration::from_millis(10),
        answer_delay: Duration::from_millis(10),
        ..Script::default()
    };
    let emu = Emulator::start(script.clone()).await;
    let cfg = format!(
        r#"
receivers:
  llm_proxy: {{listen: "127.0.0.1:0", upstream: "{}"}}
connectors:
  genai_metrics: {{flush_interval: 100ms}}
exporters:
  debug/capture: {{}}
service:
  pipelines:
    traces: {{receivers: [llm_proxy], exporters: [genai_metrics]}}
    metrics: {{receivers: [genai_metrics], exporters: [debug/capture]}}
  telemetry: {{admin: {{enabled: false}}}}
"#,
        emu.url()
    );
    let capture = Capture::default();
    let llmtel = start_in_process(&cfg, &capture).await;
    let proxy = llmtel
        .listeners()
        .get("llm_proxy listen")
        .expect("llm_proxy bound");
    let req =
        serde_json::json!({"model": "qwen3:14b", "think": true, "stream": true, "messages": []});
    let r = http_request(
        "POST",
        &format!("http://{proxy}/api/chat"),
        &[],
        req.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);

    let every = capture
        .wait_for(Duration::from_secs(10), |c| {
            GenAiMetric::ALL
                .iter()
                .all(|m| latest(c, m.name()).is_some())
        })
        .await;
    let latest = |name: &str| capture.with(|c| latest(c, name));
    let missing: Vec<&str> = GenAiMetric::ALL
        .iter()
        .map(|m| m.name())
        .filter(|n| latest(n).is_none())
        .collect();
    assert!(
        every,
        "metrics the sidecar's spans did not fill: {missing:?}"
    );

    for m in GenAiMetric::ALL {
        let metric = latest(m.name()).expect("waited for above");
        assert_eq!(metric.unit, m.def().unit, "{}", m.name());
        let pts = points(&metric);
        assert!(!pts.is_empty(), "{}: no points", m.name());
        for (labels, _) in &pts {
            assert!(
                labels.iter().any(|l| l == "gen_ai.request.model=qwen3:14b"),
                "{}: {labels:?}",
                m.name()
            );
        }
        let value = |extra: &str| {
            pts.iter()
                .find(|(l, _)| extra.is_empty() || l.iter().any(|x| x == extra))
                .map(|(_, v)| *v)
                .unwrap_or(f64::NAN)
        };
        match m {
            GenAiMetric::TokenUsage => {
                let t = |kind: &str| value(&format!("{}={kind}", label::TOKEN_TYPE));
                assert_eq!(t(token_type::INPUT), script.prompt_tokens as f64);
                assert_eq!(t(token_type::OUTPUT), script.completion_tokens as f64);
                // Ollama does not count reasoning tokens: the estimate is the reasoning chunk count.
                assert_eq!(t(token_type::REASONING), script.thinking.len() as f64);
            }
            GenAiMetric::Requests => assert_eq!(value(""), 1.0),
            // Durations and rates: present and positive, the emulator paused between every event.
            _ => assert!(value("") > 0.0, "{}: {pts:?}", m.name()),
        }
    }
    llmtel.stop().await;
}
