//! The Prometheus bridge end to end: OTLP metrics in (the OpenTelemetry SDK, and raw OTLP carrying exemplars),
//! a real Prometheus scraping llmtel, queries answered from what it scraped; promtool accepting the exposition;
//! expiry without scrapes and the overflow series past the cardinality cap.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use integration_tests::prom::{Prometheus, first_value, require};
use integration_tests::{
    Capture, LlmtelProcess, http_request, scrape_value, start_in_process, write_temp,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKv, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_sdk::Resource as SdkResource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn pkv(k: &str, v: &str) -> ProtoKv {
    ProtoKv {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![pkv("service.name", "raw-client")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// A cumulative histogram (bounds 0.1, 0.5, 1) whose 0.5 bucket carries an exemplar of `trace_id`.
fn histogram_with_exemplar(trace_id: [u8; 16], observations: u64, start: u64) -> Metric {
    Metric {
        name: "llm.exemplar_latency".into(),
        unit: "s".into(),
        description: "Latency with exemplars.".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: now_ns(),
                count: observations,
                sum: Some(0.3 * observations as f64),
                bucket_counts: vec![0, observations, 0, 0],
                explicit_bounds: vec![0.1, 0.5, 1.0],
                exemplars: vec![Exemplar {
                    trace_id: trace_id.to_vec(),
                    span_id: vec![0x42; 8],
                    time_unix_nano: now_ns(),
                    value: Some(exemplar::Value::AsDouble(0.3)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_llmtel_and_answers_rate_quantile_and_exemplar_queries() {
    require("prometheus");
    let cfg = r#"
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:0"}}}}
exporters: {prometheus: {endpoint: "127.0.0.1:0"}}
service:
  pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}
  telemetry: {admin: {endpoint: "127.0.0.1:0"}}
"#;
    let file = write_temp(cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let metrics_at = llmtel.endpoint("prometheus exporter listening");
    let prometheus = Prometheus::start(metrics_at);
    prometheus.ready().await;

    // The OTel SDK: a counter and a histogram, exported every 500 ms for 6 s.
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{grpc}"))
        .build()
        .unwrap();
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_millis(500))
        .build();
    let resource = SdkResource::builder_empty()
        .with_attribute(KeyValue::new("service.name", "chat-app"))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();
    let meter = provider.meter("e2e");
    let requests = meter
        .u64_counter("llm.requests")
        .with_description("Requests served.")
        .build();
    let ttft = meter
        .f64_histogram("llm.ttft")
        .with_unit("s")
        .with_description("Time to first token.")
        .with_boundaries(vec![0.1, 0.25, 0.5, 1.0, 2.5])
        .build();
    // Raw OTLP for exemplars (the Rust SDK records none).
    let trace_id: [u8; 16] = *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36";
    let mut raw = MetricsServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    // Keep the load running while Prometheus is queried: how soon Prometheus starts scraping depends on the machine,
    // and a rate over the last seconds is only meaningful while requests still arrive.
    let start_ns = now_ns();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_load = stop.clone();
    let load = tokio::spawn(async move {
        let mut n = 0;
        while !stop_load.load(std::sync::atomic::Ordering::Relaxed) {
            requests.add(1, &[KeyValue::new("model", "qwen3:14b")]);
            ttft.record(0.3, &[KeyValue::new("model", "qwen3:14b")]);
            n += 1;
            raw.export(request(vec![histogram_with_exemplar(
                trace_id, n, start_ns,
            )]))
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let rate = prometheus
        .wait_for(
            "rate(llm_requests_total{model=\"qwen3:14b\"}[3s])",
            Duration::from_secs(40),
            |r| first_value(r).is_some_and(|v| v > 0.0),
        )
        .await;
    let per_second = first_value(&rate).unwrap_or_default();
    assert!(
        (3.0..=15.0).contains(&per_second),
        "about 10 requests a second were counted; Prometheus says {per_second}: {rate}"
    );
    assert_eq!(
        rate[0]["metric"]["job"], "chat-app",
        "job comes from service.name: {rate}"
    );

    // All observations are 0.3 s: the median lies in the (0.25, 0.5] bucket.
    let q = prometheus
        .wait_for(
            "histogram_quantile(0.5, sum(rate(llm_ttft_seconds_bucket[3s])) by (le))",
            Duration::from_secs(40),
            |r| first_value(r).is_some_and(|v| v.is_finite()),
        )
        .await;
    let median = first_value(&q).unwrap_or(f64::NAN);
    assert!(median > 0.25 && median <= 0.5, "median {median}: {q}");

    let ex = prometheus
        .query_exemplars("llm_exemplar_latency_seconds_bucket")
        .await;
    let text = ex.to_string();
    let hex_trace: String = trace_id.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        text.contains(&hex_trace),
        "the exemplar's trace id comes back from /api/v1/query_exemplars: {text}"
    );
    assert!(
        text.contains("\"le\":\"0.5\""),
        "on the bucket it fell into: {text}"
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    drop(prometheus);
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}

const LOCAL: &str = r#"
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:0"}}}}
exporters:
  prometheus: {endpoint: "127.0.0.1:0", metric_expiration: 1s, max_series_per_metric: 2}
service:
  pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}
  telemetry: {admin: {endpoint: "127.0.0.1:0"}}
"#;

fn gauge(models: &[&str]) -> Metric {
    Metric {
        name: "llm.loaded_model.vram".into(),
        unit: "By".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: models
                .iter()
                .map(|m| NumberDataPoint {
                    attributes: vec![pkv("model", m)],
                    time_unix_nano: now_ns(),
                    value: Some(number_data_point::Value::AsInt(1 << 30)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_both_the_sdk_output_and_overflow_and_expiry_work_without_scrapes() {
    require("promtool");
    let llmtel = start_in_process(LOCAL, &Capture::default()).await;
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let metrics_url = format!(
        "http://{}/metrics",
        llmtel.listeners().get("prometheus prometheus").unwrap()
    );
    let admin = llmtel.listeners().get("admin").unwrap();

    // Every instrument kind of the SDK, once.
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{grpc}"))
        .build()
        .unwrap();
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let meter = provider.meter("kinds");
    meter
        .u64_counter("tokens")
        .with_unit("{token}")
        .build()
        .add(7, &[KeyValue::new("type", "output")]);
    meter.i64_up_down_counter("in_flight").build().add(2, &[]);
    meter
        .f64_histogram("duration")
        .with_unit("s")
        .build()
        .record(1.5, &[]);
    meter
        .f64_gauge("temperature")
        .with_unit("Cel")
        .build()
        .record(61.0, &[]);
    tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();

    // Five label sets against a cap of two.
    let mut raw = MetricsServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    raw.export(request(vec![gauge(&["a", "b", "c", "d", "e"])]))
        .await
        .unwrap();
    // Both exports were accepted; wait until the exporter has taken in (and counted) all they held.
    let stats = llmtel.stats().clone();
    integration_tests::wait_until(
        "the prometheus exporter to take every accepted data point",
        Duration::from_secs(10),
        || integration_tests::exports_settled(&stats, "otlp", "metrics", &["prometheus"]),
    )
    .await;

    let text = String::from_utf8(
        http_request("GET", &metrics_url, &[], Vec::new())
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    for expected in [
        "tokens_total{",
        "in_flight{",
        "duration_seconds_bucket{",
        "temperature_celsius{",
        "llm_loaded_model_vram_bytes{otel_metric_overflow=\"true\"}",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert_eq!(
        text.matches("llm_loaded_model_vram_bytes{").count(),
        3,
        "two series and the overflow one:\n{text}"
    );
    integration_tests::prom::promtool_check_metrics(&text);
    let overflowed = scrape_value(
        &format!("http://{admin}/metrics"),
        "llmtel_exporter_overflowed_items_total",
        &["signal=\"metrics\""],
    )
    .await
    .expect("llmtel reports its exporters' overflowed items for metrics");
    assert_eq!(overflowed, 3.0);

    // OpenMetrics when asked, ending in # EOF.
    let om = http_request(
        "GET",
        &metrics_url,
        &[("accept", "application/openmetrics-text;version=1.0.0")],
        Vec::new(),
    )
    .await;
    assert!(
        om.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(String::from_utf8_lossy(&om.body).ends_with("# EOF\n"));

    // Nobody scrapes for 2.5 s: every series is gone anyway (metric_expiration 1 s, removed on a timer).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let text = String::from_utf8(
        http_request("GET", &metrics_url, &[], Vec::new())
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    assert!(
        !text.contains("llm_loaded_model_vram_bytes") && !text.contains("tokens_total"),
        "{text}"
    );
    assert!(llmtel.stop().await.drained);
}
