//! The contract between the sidecar (writer of span attributes) and the `genai_metrics` connector (their reader),
//! end to end: one thinking, streaming request through the real sidecar in front of the emulator must give every
//! metric the connector defines (`llmtel_config::semconv::GenAiMetric::ALL`) that the emulator can drive, each with
//! the value the emulator's script implies. A name renamed on one side only leaves a metric empty here, even where
//! both sides compile. The metrics it cannot drive in-process are listed in [`NOT_YET`], each with where they are
//! checked instead.
//!
//! The one request is made to look queued and cold: the script's Ollama durations (10 ms load, 5 ms prefill,
//! 5 ms decode) are far below the 200 ms the emulator waits before its first chunk, and the proxy's thresholds are
//! set below them (queued above 10 ms of estimated wait, cold above 5 ms of load). The request asks for a
//! 1040-token window (`options.num_ctx`) and the script's prompt takes 1000 of it: filled.

use std::time::Duration;

use integration_tests::emulator::{Emulator, OllamaDurations, Script};
use integration_tests::traces::{attr_b, attr_f, attr_i, attr_s, metrics_in, spans_in};
use integration_tests::{Capture, Captured, http_request, start_in_process};
use llmtel_config::semconv::{GenAiMetric, attr, label, token_type};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};

/// The metrics one request through the sidecar in front of today's emulator cannot fill, and why.
const NOT_YET: &[(GenAiMetric, &str)] = &[
    (
        GenAiMetric::EnergyPerRequest,
        "needs a GPU: tests/gpu_nvml.rs drives it through the real binary with the fake NVML library loaded at start",
    ),
    (
        GenAiMetric::EnergyPerOutputToken,
        "needs a GPU: tests/gpu_nvml.rs drives it through the real binary with the fake NVML library loaded at start",
    ),
];

/// The metrics this test checks: all but [`NOT_YET`].
fn driven() -> impl Iterator<Item = GenAiMetric> {
    GenAiMetric::ALL
        .into_iter()
        .filter(|m| NOT_YET.iter().all(|(n, _)| n != m))
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

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
        first_delay: Duration::from_millis(200),
        think_delay: Duration::from_millis(10),
        answer_delay: Duration::from_millis(10),
        prompt_tokens: 1000,
        durations: OllamaDurations {
            total: 22_000_000,
            load: 10_000_000,
            prompt_eval: 5_000_000,
            eval: 5_000_000,
        },
        ..Script::default()
    };
    let busy = 0.020;
    let num_ctx = 1040;
    let emu = Emulator::start(script.clone()).await;
    let cfg = format!(
        r#"
receivers:
  llm_proxy: {{listen: "127.0.0.1:0", upstream: "{}", queued_threshold: 10ms, cold_load_threshold: 5ms}}
connectors:
  genai_metrics: {{flush_interval: 100ms}}
exporters:
  debug/capture: {{}}
service:
  pipelines:
    traces: {{receivers: [llm_proxy], exporters: [genai_metrics, debug/capture]}}
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
    let req = serde_json::json!({"model": "qwen3:14b", "think": true, "stream": true, "messages": [],
        "options": {"num_ctx": num_ctx}});
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
            driven().all(|m| latest(c, m.name()).is_some())
        })
        .await;
    let latest = |name: &str| capture.with(|c| latest(c, name));
    let missing: Vec<&str> = driven()
        .map(|m| m.name())
        .filter(|n| latest(n).is_none())
        .collect();
    assert!(
        every,
        "metrics the sidecar's spans did not fill: {missing:?}"
    );

    for m in driven() {
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
            GenAiMetric::Requests
            | GenAiMetric::QueuedRequests
            | GenAiMetric::ColdLoads
            | GenAiMetric::ContextFilled => assert_eq!(value(""), 1.0, "{}", m.name()),
            // At least the emulator's pauses less the server's busy time; far below the test's own limit.
            GenAiMetric::QueueWait => {
                let wait = value("");
                assert!(wait >= 0.2 - busy && wait < 10.0, "queue wait {wait}");
            }
            GenAiMetric::LoadDuration => assert!(close(value(""), 0.010), "{pts:?}"),
            GenAiMetric::PrefillRate => assert!(close(value(""), 1000.0 / 0.005), "{pts:?}"),
            GenAiMetric::DecodeRate => assert!(close(value(""), 34.0 / 0.005), "{pts:?}"),
            GenAiMetric::ContextUtilization => {
                assert!(close(value(""), 1034.0 / num_ctx as f64), "{pts:?}");
            }
            // Durations and rates: present and positive, the emulator paused between every event.
            _ => assert!(value("") > 0.0, "{}: {pts:?}", m.name()),
        }
    }

    // The request span says where those came from, and the server's phases are children, laid back from the final
    // chunk: load (from the arrival, as Ollama measures it), the queue for a slot, prefill, decode, one after another.
    let spans = capture.with(spans_in);
    let request = spans
        .iter()
        .find(|s| s.name == "chat qwen3:14b")
        .expect("the request span");
    assert_eq!(attr_s(request, attr::SERVER_TIMINGS), Some("ollama"));
    assert_eq!(attr_b(request, attr::SERVER_QUEUED), Some(true));
    assert_eq!(attr_b(request, attr::MODEL_COLD_LOAD), Some(true));
    assert_eq!(attr_i(request, attr::CONTEXT_LENGTH), Some(num_ctx));
    assert_eq!(attr_b(request, attr::CONTEXT_FILLED), Some(true));
    assert_eq!(attr_i(request, attr::PROXY_CONCURRENCY), Some(1));
    assert_eq!(attr_f(request, attr::OLLAMA_LOAD_DURATION), Some(0.01));
    let children: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id == request.span_id)
        .collect();
    let mut phases: Vec<_> = children
        .iter()
        .filter(|s| attr_s(s, attr::SERVER_TIMINGS) == Some("ollama"))
        .collect();
    phases.sort_by_key(|s| s.start_time_unix_nano);
    let names: Vec<&str> = phases.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["load", "queue", "prefill", "decode"]);
    for w in phases.windows(2) {
        assert_eq!(
            w[0].end_time_unix_nano, w[1].start_time_unix_nano,
            "{names:?}"
        );
    }
    assert_eq!(phases[0].start_time_unix_nano, request.start_time_unix_nano);
    for p in &phases {
        assert_eq!(attr_s(p, attr::PHASE), Some(p.name.as_str()));
    }
    let decode = phases[3];
    assert_eq!(
        decode.end_time_unix_nano - decode.start_time_unix_nano,
        5_000_000
    );
    llmtel.stop().await;
}

/// The value of gauge `name` in its newest copy, if any.
fn gauge(c: &Captured, name: &str) -> Option<f64> {
    let m = latest(c, name)?;
    let Some(metric::Data::Gauge(g)) = &m.data else {
        return None;
    };
    g.data_points.last().and_then(|p| match p.value {
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => {
            Some(i as f64)
        }
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(d)) => {
            Some(d)
        }
        None => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_comes_from_api_ps_and_overlapping_requests_count_their_concurrency() {
    // Each request is held 1 s before its first chunk, so three sent at once overlap on any machine.
    let script = Script {
        first_delay: Duration::from_secs(1),
        ..Script::default()
    };
    let emu = Emulator::start(script.clone()).await;
    let cfg = format!(
        r#"
receivers:
  llm_proxy: {{listen: "127.0.0.1:0", upstream: "{}", metrics_interval: 100ms}}
exporters:
  debug/capture: {{}}
service:
  pipelines:
    traces: {{receivers: [llm_proxy], exporters: [debug/capture]}}
    metrics: {{receivers: [llm_proxy], exporters: [debug/capture]}}
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
    // No `num_ctx`: the window is the emulator's `/api/ps` `context_length` (4096), learned off the request path.
    let send = || async move {
        let req = serde_json::json!({"model": "qwen3:14b", "stream": true, "messages": []});
        http_request(
            "POST",
            &format!("http://{proxy}/api/chat"),
            &[],
            req.to_string().into_bytes(),
        )
        .await
        .status
    };
    let statuses = tokio::join!(send(), send(), send());
    assert_eq!(statuses, (200, 200, 200));
    let requests = |c: &Captured| -> Vec<_> {
        spans_in(c)
            .into_iter()
            .filter(|s| s.name == "chat qwen3:14b")
            .collect()
    };
    assert!(
        capture
            .wait_for(Duration::from_secs(10), |c| requests(c).len() == 3
                && gauge(c, "llmtel.proxy.concurrency.max") == Some(3.0))
            .await,
        "three request spans and a high-water mark of 3: {:?}",
        capture.with(|c| gauge(c, "llmtel.proxy.concurrency.max"))
    );
    let spans = capture.with(requests);
    let mut concurrency: Vec<i64> = spans
        .iter()
        .filter_map(|s| attr_i(s, attr::PROXY_CONCURRENCY))
        .collect();
    concurrency.sort_unstable();
    assert_eq!(
        concurrency,
        [1, 2, 3],
        "each counts those before it and itself"
    );
    // The first look at `/api/ps` starts at start-up, but the emulator paces that answer like any other (1 s), so
    // the first requests may end before it: further requests are sent until one has the window (one should).
    let mut windowed = None;
    for n in 4..=12 {
        assert_eq!(send().await, 200);
        capture
            .wait_for(Duration::from_secs(10), |c| requests(c).len() >= n)
            .await;
        windowed = capture
            .with(requests)
            .into_iter()
            .find(|s| attr_i(s, attr::CONTEXT_LENGTH).is_some());
        if windowed.is_some() {
            break;
        }
    }
    let s = windowed.expect("a request with the window from /api/ps");
    assert_eq!(attr_i(&s, attr::CONTEXT_LENGTH), Some(4096));
    let used = (script.prompt_tokens + script.completion_tokens) as f64 / 4096.0;
    assert_eq!(attr_f(&s, attr::CONTEXT_UTILIZATION), Some(used));
    assert_eq!(attr_b(&s, attr::CONTEXT_FILLED), Some(false));
    llmtel.stop().await;
}
