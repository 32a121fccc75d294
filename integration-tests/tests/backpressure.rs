//! When the pipeline cannot keep up, llmtel refuses with a retryable answer instead of blocking or dropping:
//! gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After. Everything it accepted still arrives.

use std::time::Duration;

use integration_tests::{Capture, http_request, start_in_process};
use llmtel_pipelines::{Signal, Stage};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tonic_types::StatusExt;

/// A tiny pipeline queue and exporter queue in front of an exporter that is held shut.
const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0"}
      http: {endpoint: "127.0.0.1:0"}
exporters:
  debug/capture: {sending_queue: {queue_size: 1}}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug/capture], queue_size: 2}
  telemetry:
    admin: {endpoint: "127.0.0.1:0"}
"#;

fn request(spans: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        name: format!("s{i}"),
                        trace_id: vec![7; 16],
                        span_id: vec![1; 8],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pipeline_refuses_with_retry_hints_and_loses_nothing_it_accepted() {
    let capture = Capture::gated();
    let llmtel = start_in_process(CONFIG, &capture).await;
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let http = llmtel.listeners().get("otlp otlp http").unwrap();
    let admin = llmtel.listeners().get("admin").unwrap();

    // gRPC until refused.
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let mut accepted = 0;
    let status = loop {
        match client.export(request(10)).await {
            Ok(_) => accepted += 10,
            Err(status) => break status,
        }
        assert!(accepted < 10_000, "never refused");
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("pipeline traces is full"),
        "{}",
        status.message()
    );
    let retry = status.get_details_retry_info().expect("RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));

    // HTTP is refused too, with Retry-After, and a google.rpc.Status body in the request's format.
    let body = request(10).encode_to_vec();
    let resp = http_request(
        "POST",
        &format!("http://{http}/v1/traces"),
        &[("content-type", "application/x-protobuf")],
        body,
    )
    .await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.headers.get("retry-after").unwrap(), "1");
    let st = tonic_types::Status::decode(resp.body.as_ref()).unwrap();
    assert_eq!(st.code, tonic::Code::Unavailable as i32);
    assert!(st.message.contains("full"), "{}", st.message);

    let stats = llmtel
        .stats()
        .get(Stage::Receiver, "otlp", Signal::Traces)
        .unwrap();
    assert_eq!(stats.accepted as usize, accepted);
    assert_eq!(
        stats.refused, 20,
        "one gRPC and one HTTP request of 10 spans were refused"
    );
    let metrics = http_request("GET", &format!("http://{admin}/metrics"), &[], Vec::new()).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.lines()
            .any(|l| l.starts_with("llmtel_receiver_refused_items_total{")
                && l.contains("signal=\"traces\"")
                && l.ends_with(" 20")),
        "{text}"
    );

    // The backend recovers: every item accepted before the refusal arrives, none twice.
    capture.open();
    assert!(
        capture
            .wait_for(Duration::from_secs(10), |c| c.items.get("traces")
                == Some(&accepted))
            .await
    );
    // And llmtel takes data again.
    client
        .export(request(10))
        .await
        .expect("accepted after the backend recovered");
    assert!(
        capture
            .wait_for(Duration::from_secs(10), |c| c.items.get("traces")
                == Some(&(accepted + 10)))
            .await
    );
    assert!(llmtel.stop().await.drained);
}
