//! The `host` receiver beside the real Node Exporter on this machine, both scraped by one real Prometheus: llmtel
//! runs `config/examples/compat.yaml` (the built-in config plus the compatibility names) with its host receivers
//! at 250 ms, and the guide's two host queries, run unchanged, give the same answer for both instances.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::node_exporter::NodeExporter;
use integration_tests::prom::Prometheus;
use integration_tests::{LlmtelProcess, write_temp};

const CPU_QUERY: &str =
    r#"100 - (avg by(instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100)"#;
const MEMORY_QUERY: &str =
    "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)";

/// The compatibility example with every listener on port 0 and the host receivers at 250 ms.
fn compat_config() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/examples/compat.yaml"
    );
    let mut yaml = std::fs::read_to_string(path).unwrap();
    for port in ["11435", "9464", "9465", "4317", "4318", "8888"] {
        let from = format!("127.0.0.1:{port}");
        assert!(yaml.contains(&from), "compat.yaml no longer has {from}");
        yaml = yaml.replace(&from, "127.0.0.1:0");
    }
    assert_eq!(
        yaml.matches("interval: 15s").count(),
        2,
        "two host receivers"
    );
    yaml.replace("interval: 15s", "interval: 250ms")
}

/// `instance` → value of an instant vector.
fn by_instance(result: &serde_json::Value) -> Vec<(String, f64)> {
    result
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["instance"].as_str().unwrap().to_owned(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// The two instances' values of `query`, evaluated at one moment: (llmtel, node exporter).
async fn pair(prom: &Prometheus, query: &str, llmtel: &str, node: &str) -> (f64, f64) {
    let r = by_instance(&prom.query(query).await);
    let get = |i: &str| {
        r.iter()
            .find(|(inst, _)| inst == i)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{query}: no value for {i} in {r:?}"))
    };
    (get(llmtel), get(node))
}

/// The label sets of `metric` from one job, without `job` and `instance` and without the labels every llmtel
/// series has (`exported_job` from its `service.name`, `otel_scope_name`).
async fn label_sets(prom: &Prometheus, metric: &str, job: &str) -> BTreeSet<String> {
    let r = prom.query(&format!("{metric}{{job=\"{job}\"}}")).await;
    r.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut m = s["metric"].as_object().unwrap().clone();
            m.retain(|k, _| {
                ![
                    "job",
                    "instance",
                    "__name__",
                    "exported_job",
                    "exported_instance",
                ]
                .contains(&k.as_str())
                    && !k.starts_with("otel_scope_")
            });
            serde_json::to_string(&m).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_queries_agree_with_the_real_node_exporter() {
    let node = NodeExporter::start().await;
    let cfg = write_temp(&compat_config());
    let llmtel = LlmtelProcess::spawn(&["--config", cfg.path().to_str().unwrap()]);
    let compat = llmtel.endpoint("exporter=prometheus/compat");
    let prom = Prometheus::start_with(
        &format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 500ms\n  evaluation_interval: 1s\n\
             scrape_configs:\n  \
             - job_name: llmtel-compat\n    static_configs: [{{targets: ['{compat}']}}]\n  \
             - job_name: node\n    static_configs: [{{targets: ['{}']}}]\n",
            node.addr
        ),
        &[],
    );
    prom.ready().await;
    let (ours, theirs) = (compat.to_string(), node.addr.to_string());

    // Enough history for a 15s rate over both: 36 scrapes of each, 18 s. Prometheus scrapes the two targets at
    // different moments within its interval, and llmtel's values are up to one host interval old: both short, so
    // the two rates cover nearly the same stretch of time.
    let enough = prom
        .wait_for(
            r#"count_over_time(node_cpu_seconds_total{cpu="0",mode="idle"}[1m]) >= 36"#,
            Duration::from_secs(45),
            |r| r.as_array().is_some_and(|a| a.len() == 2),
        )
        .await;
    assert_eq!(
        enough.as_array().map(Vec::len),
        Some(2),
        "both llmtel and node exporter scraped 36 times: {enough}\nllmtel log:\n{}",
        llmtel.log()
    );

    // The same series, label for label.
    for metric in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
        "node_disk_io_time_seconds_total",
        "node_network_receive_bytes_total",
        "node_network_transmit_errs_total",
    ] {
        let (a, b) = (
            label_sets(&prom, metric, "llmtel-compat").await,
            label_sets(&prom, metric, "node").await,
        );
        assert!(!b.is_empty(), "node exporter has no {metric}");
        assert_eq!(
            a, b,
            "{metric}: llmtel's label sets against node exporter's"
        );
    }
    // Every meminfo key node exporter reports, llmtel reports too (node exporter has no others).
    let names = |job: &'static str| {
        let prom = &prom;
        async move {
            prom.query(&format!("{{__name__=~\"node_memory_.+\",job=\"{job}\"}}"))
                .await
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["metric"]["__name__"].as_str().unwrap().to_owned())
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(names("llmtel-compat").await, names("node").await);

    // Types as node exporter's: counters and gauges.
    let meta = prom.api("metadata?metric=node_cpu_seconds_total").await;
    let types: BTreeSet<&str> = meta["node_cpu_seconds_total"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, BTreeSet::from(["counter"]), "{meta}");

    let (total_ours, total_theirs) =
        pair(&prom, "node_memory_MemTotal_bytes", &ours, &theirs).await;
    assert_eq!(total_ours, total_theirs, "node_memory_MemTotal_bytes");

    // The guide's queries, unchanged, answer for both. Over the few seconds of history a test has, a 5m rate
    // divides a few seconds' increase by 300 s, so the values are compared over a 15s window: at three moments a
    // second apart, each evaluation seeing both instances at once.
    let (guide_ours, guide_theirs) = pair(&prom, CPU_QUERY, &ours, &theirs).await;
    assert!(
        (guide_ours - guide_theirs).abs() <= 2.0,
        "{CPU_QUERY}: llmtel {guide_ours:.2}, node exporter {guide_theirs:.2}"
    );
    let cpu_query = CPU_QUERY.replace("[5m]", "[15s]");
    for _ in 0..3 {
        let (cpu_ours, cpu_theirs) = pair(&prom, &cpu_query, &ours, &theirs).await;
        assert!(
            (0.0..=100.0).contains(&cpu_ours) && (cpu_ours - cpu_theirs).abs() <= 2.0,
            "host CPU %: llmtel {cpu_ours:.2}, node exporter {cpu_theirs:.2}"
        );
        // On a busy box idle stands still: user time and all modes together must agree as well.
        let user = r#"100 * avg by(instance) (rate(node_cpu_seconds_total{mode="user"}[15s]))"#;
        let (user_ours, user_theirs) = pair(&prom, user, &ours, &theirs).await;
        assert!(
            (user_ours - user_theirs).abs() <= 2.0,
            "user CPU %: llmtel {user_ours:.2}, node exporter {user_theirs:.2}"
        );
        let all = "sum by(instance) (rate(node_cpu_seconds_total[15s])) / count by(instance) \
                   (node_cpu_seconds_total{mode=\"idle\"})";
        let (all_ours, all_theirs) = pair(&prom, all, &ours, &theirs).await;
        assert!(
            (all_ours - 1.0).abs() < 0.05 && (all_ours - all_theirs).abs() < 0.02,
            "CPU seconds per second per CPU: llmtel {all_ours:.3}, node exporter {all_theirs:.3}"
        );
        let (mem_ours, mem_theirs) = pair(&prom, MEMORY_QUERY, &ours, &theirs).await;
        assert!(
            mem_ours > 0.0 && mem_ours < 100.0 && (mem_ours - mem_theirs).abs() <= 2.0,
            "host memory %: llmtel {mem_ours:.2}, node exporter {mem_theirs:.2}"
        );
        eprintln!(
            "cpu {cpu_ours:.2} / {cpu_theirs:.2}  user {user_ours:.2} / {user_theirs:.2}  \
             memory {mem_ours:.2} / {mem_theirs:.2}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The OpenTelemetry names stay on the main endpoint.
    let main = llmtel.endpoint("exporter=prometheus endpoint");
    let text =
        integration_tests::http_request("GET", &format!("http://{main}/metrics"), &[], Vec::new())
            .await
            .body;
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("system_cpu_time_seconds_total{"), "{text}");
    assert!(
        !text.contains("node_cpu_seconds_total"),
        "node names only on the compat endpoint"
    );
    drop(prom);
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}
