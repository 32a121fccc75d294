//! The real NVML path, end to end, on a machine without a GPU: the real `llmtel` loads the fake
//! `libnvidia-ml.so.1` (`fake-nvml/fake_nvml.c`, built by `build.rs`) through `LD_LIBRARY_PATH`, scripted with two
//! GPUs. Its `/metrics` must carry the scripted values (and the DCGM names of the compat recipe), leave out what a
//! GPU does not support, drop a GPU that is lost with one warning; and each sidecar request's `llmtel.gpu.energy`
//! must be its share of the fake GPU's steady power, computed from the request spans' own times, and the
//! `genai_metrics` connector's energy per request and per output token must add up to the same shares.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use integration_tests::emulator::{Emulator, Script};
use integration_tests::traces::{attr_f, attr_i, attr_s, metrics_in, spans_in};
use integration_tests::{
    Capture, Captured, LlmtelProcess, http_request, sample_value, start_in_process, write_temp,
};
use llmtel_config::semconv::GenAiMetric;
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::Span;

const FAKE_NVML_DIR: &str = env!("FAKE_NVML_DIR");

fn env_for(script: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("LD_LIBRARY_PATH", FAKE_NVML_DIR.to_owned()),
        ("FAKE_NVML_SCRIPT", script.display().to_string()),
    ]
}

fn spawn(
    cfg: &str,
    script: &str,
) -> (
    LlmtelProcess,
    tempfile::NamedTempFile,
    tempfile::NamedTempFile,
) {
    let cfg = write_temp(cfg);
    let script = write_temp(script);
    let env = env_for(script.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = LlmtelProcess::spawn_with_env(&["--config", cfg.path().to_str().unwrap()], &env);
    (p, cfg, script)
}

async fn scrape(url: &str) -> String {
    String::from_utf8_lossy(&http_request("GET", url, &[], Vec::new()).await.body).into_owned()
}

/// Polls `url` (up to 20 s) until `done` holds for its text; returns the last text.
async fn scrape_until(url: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(url).await;
        if done(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    sample_value(text, name, labels)
        .unwrap_or_else(|| panic!("no {name}{{{}}} in:\n{text}", labels.join(",")))
}

const GPU0: &str = "GPU-0a0a0a0a-1111-2222-3333-444455556666";
const GPU1: &str = "GPU-1b1b1b1b-7777-8888-9999-aaaabbbbcccc";

#[tokio::test]
async fn the_gpu_receiver_reads_real_nvml_calls_into_the_scripted_metrics() {
    let pid = std::process::id();
    let script = format!(
        "driver 550.54.15
gpu 0 uuid {GPU0}
gpu 0 name NVIDIA H100 80GB HBM3
gpu 0 memory 85899345920 21474836480
gpu 0 utilization 42 17
gpu 0 temperature 61
gpu 0 clocks 1980 2619
gpu 0 power_limit 700000
gpu 0 pcie 1024 2048
gpu 0 throttle 0x4
gpu 0 process {pid} 1073741824
gpu 0 unsupported fan
gpu 0 power 0 300000
gpu 0 energy_base 5000000
gpu 1 uuid {GPU1}
gpu 1 name NVIDIA L4
gpu 1 memory 24000000000 6000000000
gpu 1 utilization 7 3
gpu 1 temperature 44
gpu 1 clocks 1500 6250
gpu 1 power_limit 72000
gpu 1 fan 35
gpu 1 pcie 10 20
gpu 1 power 0 30000
gpu 1 lost_at 4
"
    );
    let cfg = r#"
receivers:
  gpu: {interval: 200ms}
processors:
  metric_transform/compat:
    transforms:
      - include: hw.gpu.utilization
        new_name: DCGM_FI_DEV_GPU_UTIL
        unit: "%"
        scale: 100
        rename_labels: {gpu.index: gpu, hw.id: UUID, hw.name: modelName}
        keep_labels: [gpu, UUID, modelName]
      - include: hw.gpu.memory.usage
        new_name: DCGM_FI_DEV_FB_USED
        unit: MiBy
        scale: 0.00000095367431640625
        rename_labels: {gpu.index: gpu, hw.id: UUID, hw.name: modelName}
        keep_labels: [gpu, UUID, modelName]
    keep: ["DCGM_FI_DEV_*"]
exporters:
  prometheus: {endpoint: "127.0.0.1:0", metric_expiration: 1s}
  prometheus/compat: {endpoint: "127.0.0.1:0", add_metric_suffixes: false, metric_expiration: 1s}
service:
  pipelines:
    metrics: {receivers: [gpu], exporters: [prometheus]}
    metrics/compat: {receivers: [gpu], processors: [metric_transform/compat], exporters: [prometheus/compat]}
  telemetry: {admin: {enabled: false}}
"#;
    // Built before the clock starts: the fake GPU's time runs from NVML's init, inside the spawn.
    integration_tests::llmtel_binary();
    let started = Instant::now();
    let (llmtel, _cfg, _script) = spawn(cfg, &script);
    let main = format!(
        "http://{}/metrics",
        llmtel.endpoint("exporter=prometheus endpoint")
    );
    let compat = format!(
        "http://{}/metrics",
        llmtel.endpoint("exporter=prometheus/compat")
    );
    let g0 = r#"gpu_index="0""#;
    let g1 = r#"gpu_index="1""#;
    let text = scrape_until(&main, |t| {
        sample_value(t, "hw_gpu_utilization_ratio", &[g0]).is_some()
            && sample_value(t, "hw_gpu_utilization_ratio", &[g1]).is_some()
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        elapsed < 4.0,
        "too slow to see GPU 1 before its scripted loss ({elapsed}s); log:\n{}",
        llmtel.log()
    );
    let h0 = format!(r#"hw_id="{GPU0}""#);
    for (name, labels, want) in [
        (
            "hw_gpu_utilization_ratio",
            vec![g0, r#"hw_gpu_task="general""#],
            0.42,
        ),
        ("hw_gpu_memory_controller_utilization_ratio", vec![g0], 0.17),
        ("hw_gpu_memory_usage_bytes", vec![g0], 21474836480.0),
        ("hw_gpu_memory_free_bytes", vec![g0], 64424509440.0),
        ("hw_gpu_memory_limit_bytes", vec![g0], 85899345920.0),
        ("hw_gpu_memory_utilization_ratio", vec![g0], 0.25),
        ("hw_gpu_temperature_celsius", vec![g0], 61.0),
        ("hw_gpu_power_draw_watts", vec![g0], 300.0),
        ("hw_gpu_power_limit_watts", vec![g0], 700.0),
        ("hw_gpu_clock_sm_hertz", vec![g0], 1.98e9),
        ("hw_gpu_clock_memory_hertz", vec![g0], 2.619e9),
        (
            "hw_gpu_pcie_throughput_bytes_per_second",
            vec![g0, r#"network_io_direction="transmit""#],
            1024.0 * 1024.0,
        ),
        (
            "hw_gpu_pcie_throughput_bytes_per_second",
            vec![g0, r#"network_io_direction="receive""#],
            2048.0 * 1024.0,
        ),
        (
            "hw_gpu_throttle_ratio",
            vec![g0, r#"hw_gpu_throttle_reason="sw_power_cap""#],
            1.0,
        ),
        (
            "hw_gpu_throttle_ratio",
            vec![g0, r#"hw_gpu_throttle_reason="gpu_idle""#],
            0.0,
        ),
        ("hw_gpu_utilization_ratio", vec![g1], 0.07),
        ("hw_gpu_memory_usage_bytes", vec![g1], 6e9),
        ("hw_gpu_memory_free_bytes", vec![g1], 18e9),
        ("hw_gpu_temperature_celsius", vec![g1], 44.0),
        ("hw_gpu_power_draw_watts", vec![g1], 30.0),
        ("hw_gpu_power_limit_watts", vec![g1], 72.0),
        ("hw_gpu_clock_memory_hertz", vec![g1], 6.25e9),
        ("hw_gpu_fan_speed_ratio", vec![g1], 0.35),
    ] {
        let got = value(&text, name, &labels);
        assert!(
            (got - want).abs() <= want.abs() * 1e-9,
            "{name}{labels:?}: {got}, scripted {want}"
        );
    }
    assert!(
        text.contains(&h0) && text.contains(r#"hw_name="NVIDIA H100 80GB HBM3""#),
        "{text}"
    );
    // The energy counter: 5000 J at init, then 300 W; init happened after `started`.
    let e = value(&text, "hw_gpu_energy_consumed_joules_total", &[g0]);
    let bound = 5000.0 + 300.0 * started.elapsed().as_secs_f64();
    assert!(
        (5000.0..=bound).contains(&e),
        "energy {e} J, expected 5000..{bound}"
    );
    // Per-process memory, with this test's pid as the scripted process.
    let p = format!(r#"process_pid="{pid}""#);
    assert_eq!(
        value(&text, "hw_gpu_process_memory_usage_bytes", &[g0, &p]),
        1073741824.0
    );
    // GPU 0 has no fan (NOT_SUPPORTED): no series for it.
    assert_eq!(
        sample_value(&text, "hw_gpu_fan_speed_ratio", &[g0]),
        None,
        "{text}"
    );
    // The DCGM names of the compat recipe.
    let dcgm = scrape_until(&compat, |t| {
        sample_value(t, "DCGM_FI_DEV_GPU_UTIL", &[r#"gpu="0""#]).is_some()
    })
    .await;
    assert_eq!(
        value(
            &dcgm,
            "DCGM_FI_DEV_GPU_UTIL",
            &[r#"gpu="0""#, &format!(r#"UUID="{GPU0}""#)]
        ),
        42.0
    );
    assert_eq!(
        value(
            &dcgm,
            "DCGM_FI_DEV_FB_USED",
            &[r#"gpu="0""#, r#"modelName="NVIDIA H100 80GB HBM3""#]
        ),
        20480.0
    );
    // GPU 1 is lost 4 s after init: its series go (expiry 1 s), GPU 0's stay, one warning.
    let after = scrape_until(&main, |t| {
        sample_value(t, "hw_gpu_utilization_ratio", &[g1]).is_none()
    })
    .await;
    assert_eq!(
        sample_value(&after, "hw_gpu_utilization_ratio", &[g1]),
        None,
        "{after}"
    );
    assert_eq!(value(&after, "hw_gpu_utilization_ratio", &[g0]), 0.42);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(log.matches("GPU vanished").count(), 1, "{log}");
    assert!(!log.contains("NVML not available"), "{log}");
}

/// Each request's expected energy: `watts` shared equally among the spans in flight at each moment.
fn expected_joules(spans: &[Span], watts: f64) -> Vec<f64> {
    let mut cuts: Vec<u64> = spans
        .iter()
        .flat_map(|s| [s.start_time_unix_nano, s.end_time_unix_nano])
        .collect();
    cuts.sort_unstable();
    let mut out = vec![0.0; spans.len()];
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let live: Vec<usize> = (0..spans.len())
            .filter(|&i| spans[i].start_time_unix_nano <= a && spans[i].end_time_unix_nano >= b)
            .collect();
        for &i in &live {
            out[i] += watts * (b - a) as f64 / 1e9 / live.len() as f64;
        }
    }
    out
}

#[tokio::test]
async fn each_request_gets_its_share_of_the_gpus_steady_power() {
    let capture = Capture::default();
    let sink = start_in_process(
        "receivers:\n  otlp: {protocols: {http: {endpoint: \"127.0.0.1:0\"}}}\n\
         exporters:\n  debug/capture: {}\n\
         service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug/capture]}\n    metrics: {receivers: [otlp], exporters: [debug/capture]}\n  telemetry: {admin: {enabled: false}}\n",
        &capture,
    )
    .await;
    let Some(otlp) = sink.listeners().get("otlp otlp http") else {
        panic!("the capture's otlp receiver recorded no address");
    };
    let emu = Emulator::start(Script {
        answer: (0..12).map(|i| format!(" w{i}")).collect(),
        thinking: Vec::new(),
        first_delay: Duration::from_millis(100),
        answer_delay: Duration::from_millis(100),
        ..Script::default()
    })
    .await;
    let script =
        format!("gpu 0 uuid {GPU0}\ngpu 0 name NVIDIA H100 80GB HBM3\ngpu 0 power 0 400000\n");
    let cfg = format!(
        "receivers:\n  gpu: {{interval: 200ms}}\n  llm_proxy: {{listen: 127.0.0.1:0, upstream: \"{}\", gpus: [\"0\"]}}\n\
         processors:\n  batch: {{timeout: 50ms}}\n\
         connectors:\n  genai_metrics: {{flush_interval: 200ms}}\n\
         exporters:\n  otlp_http: {{endpoint: \"http://{otlp}\"}}\n\
         service:\n  pipelines:\n    traces: {{receivers: [llm_proxy], processors: [batch], exporters: [otlp_http, genai_metrics]}}\n    \
         metrics: {{receivers: [gpu, genai_metrics], exporters: [otlp_http]}}\n  telemetry: {{admin: {{enabled: false}}}}\n",
        emu.url()
    );
    let (llmtel, _cfg, _script) = spawn(&cfg, &script);
    let proxy = llmtel.endpoint("llm_proxy listening");
    // The ledger needs two samples of the GPU before it knows its power.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let url = format!("http://{proxy}/api/chat");
    let body = |m: &str| {
        serde_json::json!({"model": m, "messages": [{"role": "user", "content": "hi"}], "stream": true})
            .to_string()
            .into_bytes()
    };
    // A alone, then A and B, then B, C and D together, then D alone.
    let send = |m: &'static str, after: u64| {
        let url = url.clone();
        let b = body(m);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            http_request("POST", &url, &[("content-type", "application/json")], b)
                .await
                .status
        })
    };
    let requests = [
        send("a", 0),
        send("b", 600),
        send("c", 1000),
        send("d", 1100),
    ];
    for r in requests {
        assert_eq!(r.await.unwrap(), 200);
    }
    let ok = capture
        .wait_for(Duration::from_secs(10), |c| {
            spans_in(c)
                .iter()
                .filter(|s| s.name.starts_with("chat "))
                .count()
                == 4
        })
        .await;
    let spans: Vec<Span> = capture
        .with(spans_in)
        .into_iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    assert!(
        ok,
        "four chat spans expected, got {:?}; log:\n{}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>(),
        llmtel.log()
    );
    let want = expected_joules(&spans, 400.0);
    // What the genai_metrics connector must make of them: the request histogram sums the joules, the per-token one
    // each request's joules over its output tokens.
    let want_total: f64 = want.iter().sum();
    let want_per_token: f64 = spans
        .iter()
        .zip(&want)
        .map(|(s, j)| {
            let tokens = attr_i(s, llmtel_config::semconv::attr::USAGE_OUTPUT_TOKENS)
                .unwrap_or_else(|| panic!("{} has no output tokens", s.name));
            j / tokens as f64
        })
        .sum();
    for (span, want) in spans.iter().zip(want) {
        let Some(got) = attr_f(span, llmtel_config::semconv::attr::GPU_ENERGY) else {
            panic!(
                "{} has no llmtel.gpu.energy: {:?}",
                span.name, span.attributes
            );
        };
        assert!(
            (got - want).abs() <= want * 0.05,
            "{}: {got} J, expected {want} J within 5 %",
            span.name
        );
        assert_eq!(
            attr_s(span, llmtel_config::semconv::attr::GPU_ENERGY_METHOD),
            Some("counter")
        );
    }
    for (metric, want) in [
        (GenAiMetric::EnergyPerRequest, want_total),
        (GenAiMetric::EnergyPerOutputToken, want_per_token),
    ] {
        let name = metric.name();
        let summed = |c: &Captured| {
            let m = metrics_in(c).rev().find(|m| m.name == name)?;
            let Some(metric::Data::Histogram(h)) = &m.data else {
                return None;
            };
            let count: u64 = h.data_points.iter().map(|p| p.count).sum();
            let sum: f64 = h.data_points.iter().filter_map(|p| p.sum).sum();
            (count == 4).then_some(sum)
        };
        capture
            .wait_for(Duration::from_secs(10), |c| summed(c).is_some())
            .await;
        let Some(got) = capture.with(summed) else {
            panic!("{name}: no histogram of the four requests");
        };
        assert!(
            (got - want).abs() <= want * 0.05,
            "{name}: sum {got}, expected {want} within 5 %"
        );
    }
    // Off this runtime's thread: the in-process sink on it must keep answering while llmtel drains to it.
    let (code, log) = tokio::task::spawn_blocking(move || llmtel.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{log}");
    drop(sink);
}
