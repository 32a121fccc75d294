//! Prometheus remote write for real: llmtel takes known metrics over OTLP and remote-writes them to a real
//! Prometheus 2.42 (`--web.enable-remote-write-receiver`) and a real VictoriaMetrics, while a third, real Prometheus
//! scrapes llmtel's `prometheus` exporters: every series (OpenTelemetry names and the guide's compat names) and the
//! guide's queries answer the same in all three. A 30 s outage of the store loses nothing (series and sample counts
//! in the store equal what was sent); a 400 is not retried, and the one request it answered has the protocol's
//! headers, auth and a snappy-compressed, sorted `WriteRequest`.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration_tests::prom::{Prometheus, first_value, require};
use integration_tests::victoria::Victoria;
use integration_tests::{LlmtelProcess, scrape_value_or_zero, write_temp};
use llmtel_collector::exporters::remote_write::proto::WriteRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, metric, number_data_point,
};
use prost::Message as _;

#[path = "remote_write/fixture.rs"]
mod fixture;

use fixture::{COMPAT, TRACE_HEX, by_labels, kv, now_ns, request, round};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_to_prometheus_and_victoriametrics_answers_like_a_scraping_prometheus() {
    require("prometheus");
    let receiver = Prometheus::start_remote_write_receiver();
    let vm = Victoria::start();
    receiver.ready().await;
    vm.ready().await;
    let prom_url = format!("http://{}/api/v1/write", receiver.addr);
    let vm_url = vm.write_url();
    let cfg = format!(
        r#"
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:0"}}}}}}}}
processors:{COMPAT}
exporters:
  prometheus: {{endpoint: "127.0.0.1:0"}}
  prometheus/compat: {{endpoint: "127.0.0.1:0", add_metric_suffixes: false}}
  prometheusremotewrite/prom: {{endpoint: "{prom_url}"}}
  prometheusremotewrite/vm: {{endpoint: "{vm_url}"}}
  prometheusremotewrite/prom_compat: {{endpoint: "{prom_url}", add_metric_suffixes: false}}
  prometheusremotewrite/vm_compat: {{endpoint: "{vm_url}", add_metric_suffixes: false}}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus, prometheusremotewrite/prom, prometheusremotewrite/vm]
    metrics/compat:
      receivers: [otlp]
      processors: [metric_transform/compat]
      exporters: [prometheus/compat, prometheusremotewrite/prom_compat, prometheusremotewrite/vm_compat]
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#
    );
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let otel = llmtel.endpoint("exporter=prometheus endpoint");
    let compat = llmtel.endpoint("exporter=prometheus/compat");
    let scraper = Prometheus::start_with(
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: llmtel\n    honor_labels: true\n    static_configs:\n      - targets: ['{otel}', '{compat}']\n"
        ),
        &[],
    );
    scraper.ready().await;

    let mut client = MetricsServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let start = now_ns();
    // The load runs, one round a second, while the guide's queries are evaluated: a scrape samples the last value
    // for as long as llmtel serves it, remote write only when points come, so rates agree only while points come.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rounds = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let feeder = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                client.export(round(i, start)).await.unwrap();
                rounds.store(i, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    // Longer than the queries' 1 m window, so that the window is full of samples in every store (a series younger
    // than the window makes rate() depend on when its first sample came, which differs between scraping and push).
    while rounds.load(std::sync::atomic::Ordering::SeqCst) < 72 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One evaluation time for all three stores, a little in the past so that each has its samples up to it.
    let at = now_ns() / 1_000_000_000 - 3;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The guide's queries. The quantile depends only on the proportions of the increases, so it is the same
    // everywhere; rate and increase extrapolate from sample times (scrape times vs. point times), so they are
    // compared within 10 %.
    let guide = [
        (
            "histogram_quantile(0.95, sum(rate(ollama_generate_duration_seconds_bucket[5m] @ AT)) by (le))",
            0.01,
        ),
        (
            "sum(rate(ollama_token_count{direction=\"output\"}[1m] @ AT))",
            0.1,
        ),
        (
            "sum(increase(ollama_generate_duration_seconds_count[1m] @ AT))",
            0.1,
        ),
        (
            "histogram_quantile(0.5, sum(rate(gen_ai_client_operation_duration_seconds_bucket[1m] @ AT)) by (le))",
            0.01,
        ),
        ("sum(rate(llm_requests_total[1m] @ AT))", 0.1),
    ];
    for (query, tolerance) in guide {
        let query = query.replace("AT", &at.to_string());
        let query = query.as_str();
        let scraped = first_value(&scraper.query(query).await);
        let written = first_value(&receiver.query(query).await);
        let victoria = first_value(&vm.query(query).await);
        let (Some(s), Some(w), Some(v)) = (scraped, written, victoria) else {
            panic!("{query}: scraped {scraped:?}, remote write {written:?}, victoria {victoria:?}");
        };
        assert!(s > 0.0, "{query}: {s}");
        for (what, x) in [("remote write", w), ("victoria", v)] {
            assert!(
                (x - s).abs() <= tolerance * s.abs(),
                "{query}: scraped {s}, {what} {x} (tolerance {tolerance})"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    feeder.await.unwrap();

    // No exporter gave up on anything (a 400 from a store, say for a duplicate exemplar, would show here).
    let admin = format!(
        "http://{}/metrics",
        llmtel.endpoint("admin endpoint listening")
    );
    let text = integration_tests::http_request("GET", &admin, &[], Vec::new())
        .await
        .body;
    let text = String::from_utf8_lossy(&text);
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("llmtel_exporter_failed_items_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(
        failed.is_empty(),
        "failed exports: {failed:?}\n{}",
        llmtel.log()
    );

    // Every series and its last value: the same in the scraping Prometheus, the remote-written one and VictoriaMetrics.
    let everything = r#"{job="chat-app"}"#;
    let mut last = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let mut agreed = false;
    for _ in 0..60 {
        last = (
            by_labels(&scraper.query(everything).await),
            by_labels(&receiver.query(everything).await),
            by_labels(&vm.query(everything).await),
        );
        if !last.0.is_empty() && last.0 == last.1 && last.0 == last.2 {
            agreed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        agreed,
        "series differ\nscraped:      {:#?}\nremote write: {:#?}\nvictoria:     {:#?}\nllmtel log:\n{}",
        last.0,
        last.1,
        last.2,
        llmtel.log()
    );
    // The exemplar reaches the remote-written Prometheus as it reaches the scraping one.
    for (what, prometheus) in [("scraped", &scraper), ("remote write", &receiver)] {
        let ex = prometheus
            .query_exemplars("gen_ai_client_operation_duration_seconds_bucket")
            .await;
        assert!(
            ex.to_string().contains(TRACE_HEX),
            "{what}: no exemplar with trace {TRACE_HEX}: {ex}"
        );
    }
    let names: Vec<String> = last.0.keys().cloned().collect();
    for expected in [
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_token_usage_bucket",
        "llm_requests_total",
        "llm_kv_cache_usage_bytes",
        "ollama_generate_duration_seconds_bucket",
        "ollama_token_count",
        "target_info",
    ] {
        assert!(
            names.iter().any(|n| n.contains(&format!("\"{expected}\""))),
            "{expected} missing from {names:#?}"
        );
    }

    let _ = llmtel.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_second_outage_of_the_store_loses_nothing_within_queue_capacity() {
    let mut vm = Victoria::start();
    vm.ready().await;
    let cfg = format!(
        r#"
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:0"}}}}}}}}
exporters:
  prometheusremotewrite:
    endpoint: "{}"
    timeout: 2s
    retry_on_failure: {{initial_interval: 500ms, max_interval: 2s, max_elapsed_time: 0s}}
    sending_queue: {{queue_size: 1000}}
service:
  pipelines: {{metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}}}
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#,
        vm.write_url()
    );
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let admin = format!(
        "http://{}/metrics",
        llmtel.endpoint("admin endpoint listening")
    );
    let mut client = MetricsServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();

    const SERIES: usize = 20;
    const ROUNDS: usize = 45;
    let gauge = |round: usize| {
        let t = now_ns();
        request(vec![Metric {
            name: "outage.probe".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: (0..SERIES)
                    .map(|i| NumberDataPoint {
                        attributes: vec![kv("probe", &i.to_string())],
                        time_unix_nano: t,
                        value: Some(number_data_point::Value::AsDouble((round * 100 + i) as f64)),
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        }])
    };
    let outage = Duration::from_secs(30);
    let mut down_since = None;
    for round in 0..ROUNDS {
        if round == 5 {
            vm.stop();
            down_since = Some(std::time::Instant::now());
        }
        if let Some(since) = down_since
            && since.elapsed() >= outage
        {
            vm.restart();
            down_since = None;
        }
        client.export(gauge(round)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        down_since.is_none(),
        "the store came back during the rounds"
    );
    vm.ready().await;
    let retried =
        scrape_value_or_zero(&admin, "llmtel_events_total", &["event=\"export_retried\""]).await;
    assert!(retried > 0.0, "the outage was seen (retries counted)");

    let expected = (SERIES, SERIES * ROUNDS);
    let mut got = (0, 0);
    for _ in 0..120 {
        got = vm.export_counts(r#"{__name__="outage_probe"}"#).await;
        if got == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        got,
        expected,
        "(series, samples) in the store vs sent; llmtel log:\n{}",
        llmtel.log()
    );
    let failed = scrape_value_or_zero(
        &admin,
        "llmtel_exporter_failed_items_total",
        &["signal=\"metrics\""],
    )
    .await;
    assert_eq!(failed, 0.0, "nothing given up on");
    let _ = llmtel.terminate();
}

/// One request a test server took: its headers and decoded body.
#[derive(Debug, Clone)]
struct Taken {
    headers: http::HeaderMap,
    request: Option<WriteRequest>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried_and_the_request_is_remote_write_1_0() {
    let taken: Arc<Mutex<Vec<Taken>>> = Arc::default();
    let sink = taken.clone();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let request = snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .ok()
                    .and_then(|raw| WriteRequest::decode(raw.as_slice()).ok());
                sink.lock().unwrap().push(Taken { headers, request });
                (http::StatusCode::BAD_REQUEST, "out of bounds sample")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let cfg = format!(
        r#"
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:0"}}}}}}}}
exporters:
  prometheusremotewrite:
    endpoint: "http://{addr}/api/v1/write"
    headers: {{X-Scope-OrgID: tenant-7}}
    bearer_token: s3cret-token
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms}}
service:
  pipelines: {{metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}}}
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#
    );
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let admin = format!(
        "http://{}/metrics",
        llmtel.endpoint("admin endpoint listening")
    );
    let mut client = MetricsServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    client.export(round(1, now_ns())).await.unwrap();

    let mut failed = 0.0;
    for _ in 0..100 {
        failed = scrape_value_or_zero(
            &admin,
            "llmtel_exporter_failed_items_total",
            &["signal=\"metrics\""],
        )
        .await;
        if failed > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = integration_tests::http_request("GET", &admin, &[], Vec::new())
        .await
        .body;
    assert!(
        failed > 0.0,
        "the exporter gave up on the batch (counted as failed); admin metrics:\n{}\nllmtel log:\n{}",
        String::from_utf8_lossy(&metrics),
        llmtel.log()
    );
    // Retries would come 100-200 ms apart: a second is many retry intervals.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let taken = taken.lock().unwrap().clone();
    assert_eq!(taken.len(), 1, "a 400 is answered once, never retried");

    let t = &taken[0];
    let header = |name: &str| {
        t.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-encoding"), "snappy");
    assert_eq!(header("content-type"), "application/x-protobuf");
    assert_eq!(header("x-prometheus-remote-write-version"), "0.1.0");
    assert!(
        header("user-agent").starts_with("llmtel/"),
        "{}",
        header("user-agent")
    );
    assert_eq!(header("x-scope-orgid"), "tenant-7");
    assert_eq!(header("authorization"), "Bearer s3cret-token");
    let req = t
        .request
        .clone()
        .expect("a snappy block-compressed WriteRequest");
    assert!(!req.timeseries.is_empty());
    for ts in &req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "sorted, unique: {names:?}"
        );
        assert!(names.contains(&"__name__"), "{names:?}");
        assert!(
            ts.labels.iter().all(|l| !l.value.is_empty()),
            "{:?}",
            ts.labels
        );
        assert!(
            ts.samples
                .windows(2)
                .all(|w| w[0].timestamp < w[1].timestamp)
        );
    }
    let with_exemplar = req.timeseries.iter().find(|ts| !ts.exemplars.is_empty());
    let ex = &with_exemplar
        .expect("an exemplar on a bucket series")
        .exemplars[0];
    assert!(
        ex.labels
            .iter()
            .any(|l| l.name == "trace_id" && l.value == TRACE_HEX),
        "{:?}",
        ex.labels
    );
    let log = llmtel.log();
    assert!(
        !log.contains("s3cret-token"),
        "the token is never logged:\n{log}"
    );
    let _ = llmtel.terminate();
    server.abort();
}
