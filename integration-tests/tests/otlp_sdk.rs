//! A real third-party client, the OpenTelemetry Rust SDK with `opentelemetry-otlp`, sends traces, metrics and logs
//! to llmtel over gRPC and over HTTP; everything it sends must come out of the pipeline, no more and no less.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use integration_tests::{Capture, SdkHttpClient, start_in_process};
use llmtel_pipelines::{Payload, Signal};
use opentelemetry::KeyValue;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0"}
      http: {endpoint: "127.0.0.1:0"}
processors:
  batch: {send_batch_size: 1000, timeout: 50ms}
exporters:
  debug/capture: {}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug/capture]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [debug/capture]}
    logs: {receivers: [otlp], processors: [batch], exporters: [debug/capture]}
  telemetry:
    admin: {endpoint: "127.0.0.1:0"}
"#;

const SPANS: usize = 10_000;
const SERIES: usize = 50;
const LOGS: usize = 1_000;

#[derive(Clone, Copy, Debug)]
enum Transport {
    Grpc,
    Http,
}

fn resource(name: &str) -> Resource {
    Resource::builder_empty()
        .with_attribute(KeyValue::new("service.name", name.to_owned()))
        .build()
}

/// Sends SPANS spans, SERIES counter and histogram series, and LOGS log records through the SDK.
async fn send_everything(
    transport: Transport,
    grpc: std::net::SocketAddr,
    http: std::net::SocketAddr,
) {
    let spans = match transport {
        Transport::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{grpc}"))
            .build(),
        Transport::Http => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(SdkHttpClient::current())
            .with_endpoint(format!("http://{http}/v1/traces"))
            .build(),
    }
    .unwrap();
    let metrics = match transport {
        Transport::Grpc => opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{grpc}"))
            .build(),
        Transport::Http => opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(SdkHttpClient::current())
            .with_endpoint(format!("http://{http}/v1/metrics"))
            .build(),
    }
    .unwrap();
    let logs = match transport {
        Transport::Grpc => opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{grpc}"))
            .build(),
        Transport::Http => opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_http_client(SdkHttpClient::current())
            .with_endpoint(format!("http://{http}/v1/logs"))
            .build(),
    }
    .unwrap();

    // The SDK's span queue must hold every span, or the SDK itself would drop some before they reach llmtel.
    let processor = BatchSpanProcessor::builder(spans)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(SPANS * 2)
                .with_max_export_batch_size(512)
                .build(),
        )
        .build();
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource("sdk-client"))
        .build();
    let tracer = tracer_provider.tracer("e2e");
    for i in 0..SPANS {
        let mut span = tracer.start(format!("op-{}", i % 7));
        span.set_attribute(KeyValue::new("i", i as i64));
        span.end();
    }

    let reader = PeriodicReader::builder(metrics)
        .with_interval(Duration::from_secs(3600))
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource("sdk-client"))
        .build();
    let meter = meter_provider.meter("e2e");
    let counter = meter.u64_counter("requests").build();
    let histogram = meter.f64_histogram("latency").with_unit("s").build();
    for i in 0..SERIES {
        let attrs = [KeyValue::new("model", format!("m{i}"))];
        counter.add(i as u64 + 1, &attrs);
        histogram.record(0.1 * i as f64, &attrs);
    }

    let logger_provider = SdkLoggerProvider::builder()
        .with_batch_exporter(logs)
        .with_resource(resource("sdk-client"))
        .build();
    let logger = logger_provider.logger("e2e");
    for i in 0..LOGS {
        let mut record = logger.create_log_record();
        record.set_body(AnyValue::from(format!("line {i}")));
        logger.emit(record);
    }

    // The SDK providers block while they flush: keep them off the async threads.
    tokio::task::spawn_blocking(move || {
        tracer_provider
            .shutdown_with_timeout(Duration::from_secs(60))
            .unwrap();
        meter_provider
            .shutdown_with_timeout(Duration::from_secs(60))
            .unwrap();
        logger_provider
            .shutdown_with_timeout(Duration::from_secs(60))
            .unwrap();
    })
    .await
    .unwrap();
}

async fn round_trip(transport: Transport) {
    let capture = Capture::default();
    let llmtel = start_in_process(CONFIG, &capture).await;
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let http = llmtel.listeners().get("otlp otlp http").unwrap();
    send_everything(transport, grpc, http).await;

    let arrived = capture
        .wait_for(Duration::from_secs(20), |c| {
            c.items.get("traces") == Some(&SPANS)
                && c.items.get("metrics") == Some(&(2 * SERIES))
                && c.items.get("logs") == Some(&LOGS)
        })
        .await;
    assert!(
        arrived,
        "{transport:?}: sent {SPANS} spans, {} points, {LOGS} logs; received {:?}",
        2 * SERIES,
        capture.with(|c| c.items.clone())
    );

    // The data is intact, not just counted: counter values and the client's resource survive the trip.
    let (sum, service) = capture.with(|c| {
        let mut sum = 0;
        let mut service = None;
        for b in &c.batches {
            if let Payload::Metrics(rm) = b {
                for r in rm {
                    service = r
                        .resource
                        .as_ref()
                        .and_then(|res| res.attributes.iter().find(|kv| kv.key == "service.name"))
                        .cloned();
                    for m in r
                        .scope_metrics
                        .iter()
                        .flat_map(|s| &s.metrics)
                        .filter(|m| m.name == "requests")
                    {
                        if let Some(Data::Sum(s)) = &m.data {
                            for p in &s.data_points {
                                if let Some(Value::AsInt(v)) = p.value {
                                    sum += v;
                                }
                            }
                        }
                    }
                }
            }
        }
        (sum, service)
    });
    assert_eq!(sum as usize, SERIES * (SERIES + 1) / 2);
    assert!(format!("{service:?}").contains("sdk-client"), "{service:?}");

    let stats = llmtel
        .stats()
        .get(llmtel_pipelines::Stage::Receiver, "otlp", Signal::Traces)
        .unwrap();
    assert_eq!((stats.accepted as usize, stats.refused), (SPANS, 0));
    let report = llmtel.stop().await;
    assert!(report.drained, "{report:?}");
    assert_eq!(
        capture.items(Signal::Traces),
        SPANS,
        "nothing extra arrives after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_over_grpc_every_item_arrives() {
    round_trip(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_over_http_protobuf_every_item_arrives() {
    round_trip(Transport::Http).await;
}
