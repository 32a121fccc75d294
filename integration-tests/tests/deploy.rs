//! The shipped deployment files against the real programs: `promtool` checks and unit-tests the Prometheus config
//! and alert rules; then a real Prometheus, running the shipped config and rules, scrapes llmtel running the shipped
//! `config/examples/compat.yaml` in front of the demo's simulated model server (with a steady fake GPU in place of
//! NVML), and every Grafana panel and annotation query, every compatibility query and every metric the rules use
//! returns data; the metrics issue 16 adds are also fed in over OTLP ([`fixture`]) so their queries meet data
//! whatever the simulated server makes the connector emit. `llmtel report --prometheus` reads the same Prometheus.
//! The dashboard is checked against Grafana's published schema types ([`schema`]), and the load/unload
//! annotations' queries by `promtool` on series where a model comes and goes.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::gpu::SteadyGpuFactory;
use integration_tests::llmtel_binary;
use integration_tests::prom::{Prometheus, first_value, require};
use llmtel_collector::Listeners;
use llmtel_collector::commands::demo::{load, sim};
use tokio_util::sync::CancellationToken;

#[path = "deploy/annotations.rs"]
mod annotations;
#[path = "deploy/fixture.rs"]
mod fixture;
#[path = "deploy/queries.rs"]
mod queries;
#[path = "deploy/schema.rs"]
mod schema;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `text` with every `(from, to)` replaced; each `from` must occur (so a changed file fails loudly here).
fn replace_all(mut text: String, pairs: &[(&str, &str)], what: &str) -> String {
    for (from, to) in pairs {
        assert!(text.contains(from), "{what} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    text
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// The alert names of the shipped rule file.
fn alert_names() -> Vec<String> {
    read("deploy/prometheus/rules/llmtel.rules.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn promtool_accepts_the_config_and_rules_and_every_alert_has_a_unit_test() {
    require("promtool");
    promtool(&["check", "config", "deploy/prometheus/prometheus.yml"]);
    let rules = promtool(&["check", "rules", "deploy/prometheus/rules/llmtel.rules.yml"]);
    assert!(!rules.contains("WARNING"), "{rules}");
    promtool(&[
        "test",
        "rules",
        "deploy/prometheus/rules/llmtel.rules.test.yml",
    ]);
    let alerts = alert_names();
    for required in [
        "LLMHighRequestLatencyP95",
        "LLMHighTimeToFirstToken",
        "LLMErrorRateRising",
        "GPUMemoryAlmostFull",
        "GPUTemperatureHigh",
        "LLMUpstreamDown",
        "LLMRequestsQueueing",
        "LlmtelRefusingTelemetry",
        "LlmtelDroppingTelemetry",
        "LlmtelExporterFailing",
    ] {
        assert!(alerts.iter().any(|a| a == required), "{required} missing");
    }
    let tests = read("deploy/prometheus/rules/llmtel.rules.test.yml");
    for a in &alerts {
        assert!(
            tests.contains(&format!("alertname: {a}")),
            "alert {a} has no promtool unit test"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_compat_names_rules_and_report_work_against_a_real_prometheus() {
    require("prometheus");
    let stop = CancellationToken::new();
    let sim_addr = sim::start("127.0.0.1:0", stop.clone()).await.unwrap();
    let sim_url = format!("http://{sim_addr}");
    let yaml = replace_all(
        read("config/examples/compat.yaml"),
        &[
            ("127.0.0.1:11435", "127.0.0.1:0"),
            ("127.0.0.1:9464", "127.0.0.1:0"),
            ("127.0.0.1:9465", "127.0.0.1:0"),
            ("127.0.0.1:4317", "127.0.0.1:0"),
            ("127.0.0.1:4318", "127.0.0.1:0"),
            ("127.0.0.1:8888", "127.0.0.1:0"),
            ("http://127.0.0.1:11434", &sim_url),
            (
                "  genai_metrics:\n",
                "  genai_metrics: {flush_interval: 1s}\n",
            ),
            ("  gpu:\n", "  gpu: {interval: 1s}\n"),
            ("interval: 15s", "interval: 1s"),
            ("  ollama:\n", "  ollama:\n    interval: 1s\n"),
        ],
        "config/examples/compat.yaml",
    );
    let cfg = llmtel_config::parse(&yaml, &|_| None).expect("compat.yaml is valid");
    let listeners = Listeners::default();
    let running = llmtel_collector::start(
        &cfg,
        &SteadyGpuFactory::new(listeners.clone()),
        listeners.clone(),
    )
    .await
    .expect("llmtel starts");
    let addr = |name: &str| {
        listeners
            .get(name)
            .unwrap_or_else(|| panic!("{name} not bound"))
            .to_string()
    };
    let (main, compat, admin) = (
        addr("prometheus prometheus"),
        addr("prometheus/compat prometheus"),
        addr("admin"),
    );
    let sidecar = listeners.get("llm_proxy listen").expect("sidecar bound");

    let prom_yml = replace_all(
        read("deploy/prometheus/prometheus.yml"),
        &[
            ("scrape_interval: 15s", "scrape_interval: 1s"),
            ("evaluation_interval: 15s", "evaluation_interval: 1s"),
            ("127.0.0.1:9464", &main),
            ("127.0.0.1:8888", &admin),
            (
                "  # - job_name: llmtel-compat\n  #   static_configs:\n  #     - targets: [\"127.0.0.1:9465\"]",
                &format!(
                    "  - job_name: llmtel-compat\n    static_configs:\n      - targets: [\"{compat}\"]"
                ),
            ),
        ],
        "deploy/prometheus/prometheus.yml",
    );
    let rules_file = read("deploy/prometheus/rules/llmtel.rules.yml");
    let prom = Prometheus::start_with(&prom_yml, &[("rules/llmtel.rules.yml", &rules_file)]);
    prom.ready().await;

    let traffic = tokio::spawn(load(sidecar, Duration::from_millis(100), stop.clone()));
    let fed = tokio::spawn(fixture::feed(
        format!("http://{}/v1/metrics", addr("otlp otlp http")),
        stop.clone(),
    ));

    // Rules: all loaded, all healthy.
    let rules = prom.api("rules").await;
    let loaded: Vec<&str> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(loaded.len(), alert_names().len(), "{rules}");

    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/llmtel.json")).expect("dashboard is JSON");
    let mut queries: Vec<(String, String)> = queries::dashboard_queries(&dash);
    for q in [
        "histogram_quantile(0.95, sum(rate(ollama_generate_duration_seconds_bucket[5m])) by (le))",
        "rate(ollama_token_count{direction=\"output\"}[1m])",
        "sum(increase(ollama_generate_duration_seconds_count[1m]))",
        "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"}",
        "DCGM_FI_DEV_MEM_COPY_UTIL{gpu=\"0\"}",
        "DCGM_FI_DEV_FB_USED{gpu=\"0\"}",
        "DCGM_FI_DEV_FB_FREE{gpu=\"0\"}",
        "100 - (avg by(instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m])) * 100)",
        "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
    ] {
        queries.push(("compat".to_owned(), q.to_owned()));
    }
    for name in queries::rule_metric_names(&rules) {
        queries.push((
            "rules".to_owned(),
            format!("group({{__name__=\"{name}\"}})"),
        ));
    }

    // Every query must return data at some moment (the load annotation only in the first minute of a model's
    // series, so not all at once) within 90 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut empty: Vec<(String, String)> = queries.clone();
    loop {
        let mut still = Vec::new();
        for (title, q) in &empty {
            let answer = prom.query_answer(q).await;
            assert_eq!(answer["status"], "success", "{title}: {q}: {answer}");
            if answer["data"]["result"]
                .as_array()
                .is_none_or(|a| a.is_empty())
            {
                still.push((title.clone(), q.clone()));
            }
        }
        empty = still;
        let waiting = empty
            .iter()
            .any(|(t, _)| !queries::NO_LIVE_DATA.iter().any(|(n, _)| n == t));
        if !waiting || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    empty.retain(|(t, _)| !queries::NO_LIVE_DATA.iter().any(|(n, _)| n == t));
    assert!(
        empty.is_empty(),
        "queries without data after 90 s: {empty:#?}"
    );

    // The price of thinking on the dashboard: thinking makes qwen3's first answer later; the fixture's requests
    // cost 100 J thinking and 40 J not.
    let ratio = |title: &str, ref_id: usize| {
        let (_, q) = queries
            .iter()
            .filter(|(t, _)| t == title)
            .nth(ref_id)
            .unwrap_or_else(|| panic!("no query {ref_id} on {title}"));
        q.clone()
    };
    let first_answer = ratio("Thinking price: latency and first answer (on ÷ off)", 1);
    let result = prom.query(&first_answer).await;
    let qwen = result
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"]["gen_ai_request_model"] == "qwen3:14b")
        .unwrap_or_else(|| panic!("{first_answer}: {result}"));
    let v: f64 = qwen["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        v > 2.0,
        "first answer on ÷ off {v}: the simulator thinks 1–3.5 s first"
    );
    let energy = ratio(
        "Thinking price: output tokens/s and energy per request (on ÷ off)",
        1,
    );
    let result = prom.query(&energy).await;
    let v = result
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"]["gen_ai_request_model"] == fixture::MODEL)
        .and_then(|r| r["value"][1].as_str()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{energy}: {result}"));
    assert!(
        (v - 2.5).abs() < 1e-6,
        "energy on ÷ off {v}, want 100 J ÷ 40 J"
    );

    // The compatibility names carry the values and labels the guide's and DCGM's users expect.
    let util = prom.query("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"}").await;
    assert_eq!(first_value(&util), Some(42.0), "{util}");
    assert_eq!(util[0]["metric"]["UUID"], "GPU-test-0", "{util}");
    assert_eq!(util[0]["metric"]["modelName"], "NVIDIA H100 80GB HBM3");
    let fb = first_value(&prom.query("DCGM_FI_DEV_FB_USED").await).unwrap();
    assert!((fb - 60e9 / 1048576.0).abs() < 0.01, "{fb} MiB");
    let tokens = prom.query("sum by (direction) (ollama_token_count)").await;
    let directions: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"]["direction"].as_str().unwrap())
        .collect();
    assert!(
        directions.contains(&"input") && directions.contains(&"output") && directions.len() == 2,
        "{tokens}"
    );
    let p95 = first_value(
        &prom
            .query("histogram_quantile(0.95, sum(rate(ollama_generate_duration_seconds_bucket[5m])) by (le))")
            .await,
    )
    .unwrap();
    assert!(
        p95 > 0.1 && p95 < 30.0,
        "P95 {p95} s: the demo's requests take 0.3–6 s"
    );
    let rules_now = prom.api("rules").await;
    let unhealthy: Vec<String> = rules_now["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter(|r| r["health"] != "ok")
        .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
        .collect();
    assert!(unhealthy.is_empty(), "{unhealthy:?}");

    // The report over the same Prometheus: a row per model and think mode, thinking only where it thinks.
    let out = Command::new(llmtel_binary())
        .args([
            "report",
            "--prometheus",
            &format!("http://{}", prom.addr),
            "--window",
            "5m",
        ])
        .output()
        .expect("run llmtel report");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = |model: &str, think: &str| {
        table
            .lines()
            .find(|l| {
                let mut cells = l.split_whitespace();
                cells.next() == Some(model) && cells.next() == Some(think)
            })
            .unwrap_or_else(|| panic!("no row for {model} {think}:\n{table}"))
            .to_owned()
    };
    let thinking_share = |line: &str| -> f64 {
        line.split_whitespace()
            .last()
            .and_then(|c| c.strip_suffix('%'))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no share in {line:?}"))
    };
    assert!(thinking_share(&row("qwen3:14b", "on")) > 20.0, "{table}");
    assert_eq!(thinking_share(&row("qwen3:14b", "off")), 0.0, "{table}");
    assert_eq!(
        thinking_share(&row("llama3.2:3b", "default")),
        0.0,
        "{table}"
    );

    // The price of thinking from the same Prometheus, as JSON: qwen3 thinks before answering, and the fixture's
    // energy per request is 2.5 times higher thinking.
    let out = Command::new(llmtel_binary())
        .args([
            "report",
            "--prometheus",
            &format!("http://{}", prom.addr),
            "--window",
            "5m",
            "--format",
            "json",
        ])
        .output()
        .expect("run llmtel report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the report's JSON parses");
    let price = |model: &str| {
        doc["thinking_price"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["model"] == model && p["think"] == "on")
            .unwrap_or_else(|| panic!("no price of thinking for {model}: {doc}"))
            .clone()
    };
    let qwen = price("qwen3:14b");
    assert!(
        qwen["time_to_first_answer_token_p50_ratio"]
            .as_f64()
            .unwrap()
            > 2.0,
        "{qwen}"
    );
    let fixture_price = price(fixture::MODEL);
    let energy = fixture_price["energy_per_request_ratio"].as_f64().unwrap();
    assert!((energy - 2.5).abs() < 1e-6, "{fixture_price}");

    stop.cancel();
    let _ = traffic.await;
    fed.await.expect("the fixture's exports were all accepted");
    running.stop().await;
}

#[test]
fn the_dashboard_matches_grafanas_schema_types_and_a_broken_one_does_not() {
    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/llmtel.json")).unwrap();
    if let Err(e) = schema::check(&dash) {
        panic!("deploy/grafana/llmtel.json does not match @grafana/schema's Dashboard:\n{e}");
    }
    // The check bites: a misspelt colour mode, a property Grafana does not know, and an annotation without its
    // query each fail it.
    let mut broken = dash.clone();
    broken["panels"][1]["fieldConfig"]["defaults"]["color"]["mode"] = "palette-classik".into();
    broken["panels"][2]["gridPosition"] = serde_json::json!({"x": 0});
    let anno = broken["annotations"]["list"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a.get("builtIn").is_none())
        .unwrap();
    anno.as_object_mut().unwrap().remove("expr");
    let err = schema::check(&broken).expect_err("a broken dashboard passes the schema check");
    for what in ["palette-classik", "gridPosition", "expr"] {
        assert!(err.contains(what), "{what} not reported:\n{err}");
    }
}

#[test]
fn the_load_and_unload_annotations_mark_a_model_coming_and_going() {
    require("promtool");
    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/llmtel.json")).unwrap();
    let tests = annotations::promtool_test(&dash);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("annotations.test.yml");
    std::fs::write(&file, &tests).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "{}{}\n{tests}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dashboard_passes_its_layout_checks() {
    // Unique panel ids, no overlapping panels, units, descriptions, the data source variable on every target,
    // only the `$model` and `$__rate_interval` variables (the query test above substitutes exactly those).
    let out = Command::new("python3")
        .arg(repo("deploy/grafana/check_dashboard.py"))
        .arg(repo("deploy/grafana/llmtel.json"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/llmtel.json")).unwrap();
    let latency_exemplars = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["title"].as_str().is_some_and(|t| t.contains("latency")))
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        // Over time, that is: an instant ratio (the price of thinking) has no bucket to link from.
        .filter(|t| t["instant"] != true)
        .all(|t| t["exemplar"] == true);
    assert!(
        latency_exemplars,
        "latency panels over time show exemplars (links to traces)"
    );
    let heatmap = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "heatmap")
        .expect("a request-latency heatmap");
    let t = &heatmap["targets"][0];
    assert_eq!(t["format"], "heatmap", "buckets drawn as they are");
    assert_eq!(
        heatmap["options"]["calculate"], false,
        "Grafana must not re-bucket"
    );
    assert!(
        t["expr"]
            .as_str()
            .unwrap()
            .contains("gen_ai_client_operation_duration_seconds_bucket"),
        "{t}"
    );
}
