//! The sidecar's view of a loaded model server, end to end, against the emulator's own record of every request:
//! with three times more concurrent clients than the server has parallel slots, each request's queue-wait
//! estimate (`llmtel.server.queue_wait`, from Ollama's durations or llama.cpp's `timings`) matches the time the
//! emulator kept it waiting for a slot, the queued ones are exactly those that waited, and the metrics add up;
//! cold loads are counted exactly, one per load, however many requests waited for it.
//!
//! Tolerance: the estimate also holds what passes between the sidecar and the server (the connection, the
//! request's upload, the final chunk's way back), a few milliseconds on loopback; [`SLACK`] allows for a loaded
//! 2-core machine. The slot waits themselves are hundreds of milliseconds, so the check is not vacuous.

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::emulator::{Emulator, OpenAiTimings, Recorded, Script, Server, Timings};
use integration_tests::traces::{attr_b, attr_f, metrics_in, spans_in};
use integration_tests::{Capture, Captured, http_request, start_in_process};
use llmtel_collector::Running;
use llmtel_config::semconv::{GenAiMetric, attr};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::Span;

/// How far the estimate may be from the emulator's record.
const SLACK: Duration = Duration::from_millis(60);

/// The queue-wait threshold the sidecar runs with (its default).
const QUEUED: Duration = Duration::from_millis(50);

/// llmtel in-process: the sidecar in front of `upstream`, its spans and the genai metrics into one capture.
async fn sidecar(upstream: &str, capture: &Capture) -> (Running, String) {
    let yaml = format!(
        r#"
receivers:
  llm_proxy: {{listen: "127.0.0.1:0", upstream: "{upstream}", queued_threshold: {}ms, cold_load_threshold: 250ms}}
connectors:
  genai_metrics: {{flush_interval: 100ms}}
exporters:
  debug/capture: {{}}
service:
  pipelines:
    traces: {{receivers: [llm_proxy], exporters: [debug/capture, genai_metrics]}}
    metrics: {{receivers: [genai_metrics], exporters: [debug/capture]}}
  telemetry: {{admin: {{enabled: false}}}}
"#,
        QUEUED.as_millis()
    );
    let running = start_in_process(&yaml, capture).await;
    let Some(addr) = running.listeners().get("llm_proxy listen") else {
        panic!("the llm_proxy recorded no address");
    };
    (running, format!("http://{addr}"))
}

/// The span id the sidecar passed upstream in `traceparent`: the request span's, as hex.
fn parent_of(rec: &Recorded) -> Option<String> {
    let tp = rec.headers.get("traceparent")?.to_str().ok()?;
    Some(tp.split('-').nth(2)?.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request spans (no phase children) received so far.
fn requests(c: &Captured) -> Vec<Span> {
    spans_in(c)
        .into_iter()
        .filter(|s| s.name.starts_with("chat ") && s.parent_span_id.is_empty())
        .collect()
}

/// Sends `n` requests at once to `url` and waits for all of them.
async fn burst(url: &str, n: usize, body: &serde_json::Value) {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (url, body) = (url.to_owned(), body.to_string().into_bytes());
        tasks.push(tokio::spawn(async move {
            http_request("POST", &url, &[("content-type", "application/json")], body)
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.ok(), Some(200));
    }
}

/// The sum of counter `name` over its series, in the newest copy.
fn counter(c: &Captured, name: &str) -> Option<f64> {
    let m = metrics_in(c).rev().find(|m| m.name == name)?;
    let Some(metric::Data::Sum(s)) = &m.data else {
        return None;
    };
    Some(
        s.data_points
            .iter()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsDouble(d)) => d,
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                None => 0.0,
            })
            .sum(),
    )
}

/// Count and sum of histogram `name` over its series, in the newest copy.
fn histogram(c: &Captured, name: &str) -> Option<(u64, f64)> {
    let m = metrics_in(c).rev().find(|m| m.name == name)?;
    let Some(metric::Data::Histogram(h)) = &m.data else {
        return None;
    };
    Some((
        h.data_points.iter().map(|p| p.count).sum(),
        h.data_points.iter().filter_map(|p| p.sum).sum(),
    ))
}

/// Six clients at once in front of a server with two slots: each span's estimate against the emulator's record.
async fn six_clients_two_slots(server: Server, path: &str, body: serde_json::Value) {
    let script = Script {
        server,
        slots: Some(2),
        timings: Timings::Measured,
        openai_timings: OpenAiTimings::LlamaCpp,
        first_delay: Duration::from_millis(60),
        think_delay: Duration::from_millis(25),
        answer_delay: Duration::from_millis(25),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let capture = Capture::default();
    let (running, url) = sidecar(&emu.url(), &capture).await;
    burst(&format!("{url}{path}"), 6, &body).await;
    let all = capture
        .wait_for(Duration::from_secs(10), |c| requests(c).len() == 6)
        .await;
    assert!(all, "six request spans expected");
    let spans = capture.with(requests);
    let records: HashMap<String, Recorded> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .filter_map(|r| Some((parent_of(&r)?, r)))
        .collect();
    assert_eq!(
        records.len(),
        6,
        "every upstream request carries traceparent"
    );

    let mut waited = 0;
    let mut recorded_sum = 0.0;
    let mut worst: f64 = 0.0;
    for span in &spans {
        let Some(rec) = records.get(&hex(&span.span_id)) else {
            panic!("{}: no upstream request with its span id", span.name);
        };
        let truth = rec.phases.slot_wait;
        let Some(estimate) = attr_f(span, attr::SERVER_QUEUE_WAIT) else {
            panic!("{path}: no queue wait on {:?}", span.attributes);
        };
        let gap = (estimate - truth.as_secs_f64()).abs();
        worst = worst.max(gap);
        assert!(
            gap <= SLACK.as_secs_f64(),
            "{path}: estimate {estimate:.3} s, the emulator kept it waiting {truth:?}"
        );
        let queued = truth > QUEUED;
        assert_eq!(
            attr_b(span, attr::SERVER_QUEUED),
            Some(queued),
            "{path}: waited {truth:?}, estimate {estimate:.3} s"
        );
        waited += usize::from(queued);
        recorded_sum += truth.as_secs_f64();
    }
    eprintln!(
        "{path}: worst gap between estimate and record {:.1} ms over {recorded_sum:.3} s of waiting",
        worst * 1e3
    );
    // Two run at once, four wait: one or two generations each.
    assert_eq!(waited, 4, "{path}: four of six must have waited for a slot");
    assert!(
        recorded_sum > 1.0,
        "{path}: the waits are real ({recorded_sum:.3} s)"
    );

    let queue_wait = GenAiMetric::QueueWait.name();
    let queued = GenAiMetric::QueuedRequests.name();
    let done = capture
        .wait_for(Duration::from_secs(10), |c| {
            histogram(c, queue_wait).is_some_and(|(n, _)| n == 6) && counter(c, queued) == Some(4.0)
        })
        .await;
    let (h, q) = capture.with(|c| (histogram(c, queue_wait), counter(c, queued)));
    assert!(done, "{path}: {queue_wait} {h:?}, {queued} {q:?}");
    if let Some((_, sum)) = h {
        assert!(
            (sum - recorded_sum).abs() <= 6.0 * SLACK.as_secs_f64(),
            "{path}: the histogram sums {sum:.3} s of waiting, the emulator recorded {recorded_sum:.3} s"
        );
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_queue_waits_match_the_servers_own_record_with_three_clients_per_slot() {
    let body = serde_json::json!({"model": "qwen3:14b", "think": true, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    six_clients_two_slots(Server::Ollama, "/api/chat", body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_queue_waits_match_the_servers_own_record_with_three_clients_per_slot() {
    let body = serde_json::json!({"model": "smollm2", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    six_clients_two_slots(Server::LlamaCpp, "/v1/chat/completions", body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_loads_are_counted_once_per_load_however_many_requests_waited_for_it() {
    let model = "qwen3:14b";
    let script = Script {
        slots: Some(4),
        timings: Timings::Measured,
        starts_loaded: false,
        load_delay: Duration::from_millis(600),
        warm_load: Duration::from_millis(3),
        first_delay: Duration::from_millis(20),
        answer_delay: Duration::from_millis(10),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let capture = Capture::default();
    let (running, url) = sidecar(&emu.url(), &capture).await;
    let url = format!("{url}/api/chat");
    let body = serde_json::json!({"model": model, "stream": true, "messages": []});
    // Three at once find the model cold: one load. Then two warm ones, one after the other. Unloaded, two at once:
    // the second load. Then one warm again.
    burst(&url, 3, &body).await;
    burst(&url, 1, &body).await;
    burst(&url, 1, &body).await;
    assert!(emu.unload(model));
    burst(&url, 2, &body).await;
    burst(&url, 1, &body).await;
    assert_eq!(emu.loads(model), 2, "the emulator's own count");

    let cold_loads = GenAiMetric::ColdLoads.name();
    let load_time = GenAiMetric::LoadDuration.name();
    let done = capture
        .wait_for(Duration::from_secs(10), |c| {
            requests(c).len() == 8 && counter(c, cold_loads) == Some(2.0)
        })
        .await;
    let spans = capture.with(requests);
    let cold: Vec<&Span> = spans
        .iter()
        .filter(|s| attr_b(s, attr::MODEL_COLD_LOAD) == Some(true))
        .collect();
    assert!(
        done,
        "{} spans, {} marked cold, {cold_loads} {:?}",
        spans.len(),
        cold.len(),
        capture.with(|c| counter(c, cold_loads))
    );
    assert_eq!(
        cold.len(),
        2,
        "one span per load says it made the server load"
    );
    for s in &cold {
        let load = attr_f(s, attr::SERVER_LOAD_DURATION).unwrap_or_default();
        assert!(load >= 0.5, "{}: load {load} s", s.name);
    }
    // The warm ones say so.
    let warm = spans
        .iter()
        .filter(|s| attr_b(s, attr::MODEL_COLD_LOAD) == Some(false))
        .count();
    assert_eq!(warm, 6);
    // Every request that waited for a load shows it as a phase of its trace, before its prefill.
    let all = capture.with(spans_in);
    let loads = all.iter().filter(|s| s.name == "load").count();
    assert_eq!(loads, 5, "3 + 2 requests waited through a load");
    let lt = capture.with(|c| histogram(c, load_time));
    assert_eq!(
        lt.map(|(n, _)| n),
        Some(2),
        "{load_time}: one value per load"
    );
    running.stop().await;
}
