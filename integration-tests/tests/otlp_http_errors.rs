//! OTLP/HTTP input that is not what it should be gets a specific answer, and costs nothing already accepted.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Duration;

use integration_tests::{Capture, http_request, start_in_process};
use llmtel_pipelines::Signal;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 1}
      http: {endpoint: "127.0.0.1:0", max_request_body_size_mib: 1}
exporters:
  debug/capture: {}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug/capture]}
  telemetry:
    admin: {enabled: false}
"#;

const JSON_TRACE: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"curl"}}]},
 "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a","kind":2,
 "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000"},
 {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"b"}]}]}]}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn json_gzip_and_every_kind_of_bad_request() {
    let capture = Capture::default();
    let llmtel = start_in_process(CONFIG, &capture).await;
    let http = llmtel.listeners().get("otlp otlp http").unwrap();
    let url = format!("http://{http}/v1/traces");
    let json = [("content-type", "application/json")];

    // OTLP JSON, plain and gzip: accepted, answered in JSON, ids decoded from hex.
    let ok = http_request("POST", &url, &json, JSON_TRACE.as_bytes().to_vec()).await;
    assert_eq!((ok.status, ok.body.as_ref()), (200, b"{}".as_ref()));
    assert_eq!(ok.headers.get("content-type").unwrap(), "application/json");
    let ok = http_request(
        "POST",
        &url,
        &[json[0], ("content-encoding", "gzip")],
        gzip(JSON_TRACE.as_bytes()),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(
        capture
            .wait_for(Duration::from_secs(5), |c| c.items.get("traces")
                == Some(&4))
            .await
    );
    capture.with(|c| {
        let llmtel_pipelines::Payload::Traces(rs) = &c.batches[0] else {
            panic!()
        };
        let span = &rs[0].scope_spans[0].spans[0];
        assert_eq!(hex_of(&span.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            1_000_000_000
        );
    });

    // Spans with invalid ids are rejected as a partial success; the valid ones go on.
    let mixed = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","name":"ok"},
        {"name":"no ids"},
        {"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b177","name":"zero trace id"}]}]}]}"#;
    let r = http_request("POST", &url, &json, mixed.as_bytes().to_vec()).await;
    assert_eq!(r.status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "2", "{answer}");
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("trace_id must be 16 bytes")
    );
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "no ids".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let partial = client
        .export(req)
        .await
        .unwrap()
        .into_inner()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        capture
            .wait_for(Duration::from_secs(5), |c| c.items.get("traces")
                == Some(&5))
            .await
    );
    let stats = llmtel
        .stats()
        .get(llmtel_pipelines::Stage::Receiver, "otlp", Signal::Traces)
        .unwrap();
    assert_eq!(
        (stats.accepted, stats.failed),
        (5, 3),
        "rejected spans are counted, not silently dropped"
    );

    // An empty request succeeds (OTLP spec) and adds nothing.
    let empty = http_request(
        "POST",
        &url,
        &[("content-type", "application/x-protobuf")],
        Vec::new(),
    )
    .await;
    assert_eq!(empty.status, 200);

    // (what, headers, body, expected status, expected message)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            json.to_vec(),
            b"{\"resourceSpans\": [".to_vec(),
            400,
            "not a valid OTLP JSON ExportTraceServiceRequest",
        ),
        (
            "malformed protobuf",
            vec![("content-type", "application/x-protobuf")],
            vec![0xff, 0xff, 0xff],
            400,
            "not a valid protobuf",
        ),
        (
            "wrong content type",
            vec![("content-type", "text/plain")],
            b"hi".to_vec(),
            415,
            "unsupported Content-Type \"text/plain\"",
        ),
        (
            "bad gzip",
            vec![json[0], ("content-encoding", "gzip")],
            b"not gzip".to_vec(),
            400,
            "not valid gzip",
        ),
        (
            "unknown encoding",
            vec![json[0], ("content-encoding", "br")],
            b"x".to_vec(),
            415,
            "unsupported Content-Encoding \"br\"",
        ),
        (
            "too large",
            vec![("content-type", "application/x-protobuf")],
            vec![0u8; 2 << 20],
            413,
            "larger than the limit of 1 MiB",
        ),
        (
            "too large once unzipped",
            vec![
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "gzip"),
            ],
            gzip(&vec![0u8; 2 << 20]),
            413,
            "larger than the limit",
        ),
    ];
    for (what, headers, body, status, message) in cases {
        let r = http_request("POST", &url, &headers, body).await;
        // JSON requests get a JSON google.rpc.Status, others protobuf or plain text: read the message from it.
        let text = match serde_json::from_slice::<serde_json::Value>(&r.body) {
            Ok(v) => v["message"].as_str().unwrap_or_default().to_owned(),
            Err(_) => String::from_utf8_lossy(&r.body).into_owned(),
        };
        assert_eq!(r.status, status, "{what}: {text}");
        assert!(text.contains(message), "{what}: {text}");
    }

    // A signal no pipeline takes from this receiver: 404 naming what to change.
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let r = http_request(
        "POST",
        &format!("http://{http}/v1/logs"),
        &[("content-type", "application/x-protobuf")],
        logs.encode_to_vec(),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("feeds no logs pipeline"));

    // gRPC beyond the size limit gets a clear error; llmtel keeps serving.
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let big = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "x".repeat(2 << 20),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let err = client.export(big).await.unwrap_err();
    // RESOURCE_EXHAUSTED without RetryInfo: OTLP clients do not retry it (they would retry OUT_OF_RANGE forever).
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(
        err.message(),
        "request is larger than the limit of 1 MiB (max_recv_msg_size_mib)"
    );
    client
        .export(ExportTraceServiceRequest::default())
        .await
        .expect("empty request succeeds");

    assert_eq!(
        capture.items(Signal::Traces),
        5,
        "nothing bad reached the pipeline, nothing good was lost"
    );
    assert!(llmtel.stop().await.drained);
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
