//! Forwarding to an `https://` backend whose certificate is signed by a private CA: trusted through `tls.ca_file`,
//! refused without it.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use integration_tests::sink::Sink;
use integration_tests::{Capture, start_in_process, trace_request};
use llmtel_pipelines::{Signal, Stage};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA (PEM) and a certificate for 127.0.0.1 it signed (PEM chain, PEM key).
fn private_ca() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "llmtel test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let server =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = server.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_are_reached_with_a_ca_file_and_refused_without() {
    let (ca_pem, cert_pem, key_pem) = private_ca();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let sink = Sink::start_tls(&cert_pem, &key_pem).await;

    for (exporter, port, tls, expect_delivery) in [
        (
            "otlp",
            sink.grpc.port(),
            format!("tls: {{ca_file: \"{}\"}}", ca_file.display()),
            true,
        ),
        (
            "otlp_http",
            sink.http.port(),
            format!("tls: {{ca_file: \"{}\"}}", ca_file.display()),
            true,
        ),
        ("otlp", sink.grpc.port(), "tls: {}".to_owned(), false),
        ("otlp_http", sink.http.port(), "tls: {}".to_owned(), false),
    ] {
        let cfg = format!(
            r#"
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:0"}}}}}}}}
exporters:
  {exporter}:
    endpoint: "https://127.0.0.1:{port}"
    {tls}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 1s}}
service:
  pipelines: {{traces: {{receivers: [otlp], exporters: [{exporter}]}}}}
  telemetry: {{admin: {{enabled: false}}}}
"#
        );
        let llmtel = start_in_process(&cfg, &Capture::default()).await;
        let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
        let before = sink.state.grpc_items() + sink.state.http_items();
        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        client.export(trace_request(10, 1)).await.unwrap();
        if expect_delivery {
            let ok = sink
                .state
                .wait_for(Duration::from_secs(10), |s| {
                    s.grpc_items() + s.http_items() == before + 10
                })
                .await;
            assert!(ok, "{exporter} over TLS with the CA file: nothing arrived");
        } else {
            // The exporter gives up after max_elapsed_time (1 s) and counts the batch as failed: from then on
            // nothing more of it can reach the backend.
            let stats = llmtel.stats().clone();
            integration_tests::wait_until(
                &format!("{exporter} to give up on the batch"),
                Duration::from_secs(10),
                || integration_tests::exports_settled(&stats, "otlp", "traces", &[exporter]),
            )
            .await;
            assert_eq!(
                sink.state.grpc_items() + sink.state.http_items(),
                before,
                "{exporter}: an untrusted certificate must be refused"
            );
            let failed = llmtel
                .stats()
                .get(Stage::Exporter, exporter, Signal::Traces)
                .unwrap()
                .failed;
            assert_eq!(
                failed, 10,
                "{exporter}: given up after max_elapsed_time and counted"
            );
        }
        llmtel.stop().await;
    }
}
