//! Forwarding over OTLP to an existing backend: a real client sends to llmtel, llmtel's `otlp` / `otlp_http`
//! exporters forward to a counting sink that can be killed, restarted and told how to answer. Every item sent is
//! accounted for: received, refused to the client, or counted as dropped or failed.

use std::time::{Duration, Instant};

use integration_tests::sink::{Answer, Sink};
use integration_tests::{
    Capture, LlmtelProcess, scrape_value, start_in_process, trace_request, write_temp,
};
use llmtel_pipelines::{Signal, Stage};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

/// Fast retries so that tests do not wait for the 5 s default.
const FAST_RETRY: &str =
    "retry_on_failure: {initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0}";

/// A config: OTLP gRPC in on a free port, `exporters` (YAML mapping body) out, traces only.
fn config(exporters: &str, pipeline_exporters: &str, extra_pipeline: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:0"}}
exporters:
{exporters}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [{pipeline_exporters}] {extra_pipeline}}}
  telemetry:
    admin: {{endpoint: "127.0.0.1:0"}}
  shutdown_timeout: 3s
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_sends_100k_spans_through_llmtel_to_a_grpc_and_an_http_backend() {
    const SPANS: usize = 100_000;
    let sink = Sink::start().await;
    let cfg = config(
        &format!(
            "  otlp: {{endpoint: \"http://{}\", {FAST_RETRY}}}\n  otlp_http: {{endpoint: \"http://{}\", {FAST_RETRY}}}",
            sink.grpc, sink.http
        ),
        "otlp, otlp_http",
        "",
    )
    .replace("exporters: [otlp, otlp_http] }", "processors: [batch], exporters: [otlp, otlp_http]}")
    .replace("exporters:\n", "processors:\n  batch: {timeout: 100ms}\nexporters:\n");
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{grpc}"))
        .build()
        .unwrap();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(SPANS * 2)
                .with_max_export_batch_size(1024)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("load");
    for i in 0..SPANS {
        let mut span = tracer.start("chat qwen3:14b");
        span.set_attribute(KeyValue::new("i", i as i64));
        span.end();
    }
    tokio::task::spawn_blocking(move || {
        provider
            .shutdown_with_timeout(Duration::from_secs(120))
            .unwrap()
    })
    .await
    .unwrap();

    let arrived = sink
        .state
        .wait_for(Duration::from_secs(60), |s| {
            s.unique_spans("grpc") >= SPANS && s.unique_spans("http") >= SPANS
        })
        .await;
    assert!(
        arrived,
        "sent {SPANS}; the gRPC backend got {}, the HTTP one {}",
        sink.state.grpc_items(),
        sink.state.http_items()
    );
    // Retries could still add duplicates until both exporters count every batch done.
    let admin = llmtel.endpoint("admin endpoint listening");
    integration_tests::wait_until_async(
        "both exporters to finish every batch",
        Duration::from_secs(30),
        || integration_tests::exports_settled_at(admin, "otlp", "traces", &["otlp", "otlp_http"]),
    )
    .await;
    assert_eq!(
        (sink.state.grpc_items(), sink.state.http_items()),
        (SPANS, SPANS),
        "sent == received, no duplicates"
    );
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_second_backend_outage_loses_nothing_and_memory_stays_bounded() {
    let sink = Sink::start().await;
    let cfg = config(
        &format!(
            "  otlp: {{endpoint: \"http://{}\", {FAST_RETRY}, sending_queue: {{queue_size: 2048, max_size_mib: 32}}}}",
            sink.grpc
        ),
        "otlp",
        "",
    );
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", file.path().to_str().unwrap()]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let admin = llmtel.endpoint("admin endpoint listening");
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();

    // 100 spans every 50 ms for 40 s; the backend is down from 5 s to 35 s.
    let start = Instant::now();
    let baseline_rss = llmtel.rss_kib();
    let (mut sent, mut refused, mut max_rss) = (0usize, 0usize, 0u64);
    let mut sink = Some(sink);
    let mut stopped = None;
    let mut batch = 0u32;
    while start.elapsed() < Duration::from_secs(40) {
        if start.elapsed() > Duration::from_secs(5)
            && stopped.is_none()
            && let Some(s) = sink.take()
        {
            stopped = Some(s.stop().await);
        }
        if start.elapsed() > Duration::from_secs(35)
            && sink.is_none()
            && let Some(st) = stopped.take()
        {
            sink = Some(Sink::restart(st).await);
        }
        batch += 1;
        match client.export(trace_request(100, batch)).await {
            Ok(_) => sent += 100,
            Err(_) => refused += 100,
        }
        max_rss = max_rss.max(llmtel.rss_kib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sink = sink.expect("the backend is back");
    let arrived = sink
        .state
        .wait_for(Duration::from_secs(30), |s| s.unique_spans("grpc") >= sent)
        .await;
    if !arrived {
        let metrics = integration_tests::http_request(
            "GET",
            &format!("http://{admin}/metrics"),
            &[],
            Vec::new(),
        )
        .await;
        panic!(
            "sent {sent}, received {}\n{}\n{}",
            sink.state.grpc_items(),
            llmtel.log(),
            String::from_utf8_lossy(&metrics.body)
        );
    }
    // Retries could still add duplicates until the exporter counts every batch done.
    integration_tests::wait_until_async(
        "the exporter to finish every batch",
        Duration::from_secs(30),
        || integration_tests::exports_settled_at(admin, "otlp", "traces", &["otlp"]),
    )
    .await;
    assert_eq!(refused, 0, "the queue had room for the whole outage");
    assert_eq!(sink.state.unique_spans("grpc"), sent, "sent == received");
    println!(
        "duplicates from requests whose answer was lost in the outage: {}",
        sink.state.grpc_items() - sent
    );
    let failed = scrape_value(
        &format!("http://{admin}/metrics"),
        "llmtel_exporter_failed_items_total",
        &["signal=\"traces\""],
    )
    .await
    .expect("llmtel reports its exporters' failed items for traces");
    assert_eq!(failed, 0.0);
    // The outage queued about 60k spans (~6 MiB encoded); memory grows by the queue, not without bound.
    let grown_mib = max_rss.saturating_sub(baseline_rss) / 1024;
    println!(
        "llmtel RSS: {} MiB before, {} MiB at most during the outage",
        baseline_rss / 1024,
        max_rss / 1024
    );
    assert!(
        grown_mib < 64,
        "RSS grew by {grown_mib} MiB during the outage"
    );
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// One in-process llmtel forwarding traces with `exporter` (`otlp` or `otlp_http`) to `endpoint`.
/// `extra` is added to the exporter's settings, `pipeline` to the pipeline's.
async fn forwarder(
    exporter: &str,
    endpoint: std::net::SocketAddr,
    extra: &str,
    pipeline: &str,
) -> (llmtel_collector::Running, Capture) {
    let cfg = config(
        &format!("  {exporter}: {{endpoint: \"http://{endpoint}\", {FAST_RETRY} {extra}}}"),
        exporter,
        pipeline,
    );
    let capture = Capture::default();
    (start_in_process(&cfg, &capture).await, capture)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_hints_are_honoured_permanent_errors_are_not_retried_partial_success_is_counted() {
    for exporter in ["otlp", "otlp_http"] {
        let sink = Sink::start().await;
        let endpoint = if exporter == "otlp" {
            sink.grpc
        } else {
            sink.http
        };
        let (llmtel, _) = forwarder(exporter, endpoint, "", "").await;
        let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();

        // UNAVAILABLE with RetryInfo 2 s / 503 with Retry-After: 2: llmtel waits 2 s, not its 100 ms backoff.
        sink.state
            .script([Answer::Unavailable(Duration::from_secs(2))]);
        client.export(trace_request(10, 1)).await.unwrap();
        assert!(
            sink.state
                .wait_for(Duration::from_secs(10), |s| s.grpc_items() + s.http_items()
                    == 10)
                .await
        );
        let attempts = sink.state.attempts();
        assert_eq!(attempts.len(), 2, "{exporter}: {attempts:?}");
        let gap = attempts[1].0 - attempts[0].0;
        assert!(
            gap >= Duration::from_millis(1950),
            "{exporter}: retried after {gap:?}, the server asked for 2 s"
        );

        // INVALID_ARGUMENT / 400: given up at once, counted as failed, never retried.
        sink.state.script([Answer::Invalid]);
        client.export(trace_request(10, 2)).await.unwrap();
        // Once the exporter has counted the batch done, no attempt of it can follow.
        let counters = llmtel.stats().clone();
        integration_tests::wait_until(
            &format!("{exporter} to finish the batch"),
            Duration::from_secs(10),
            || integration_tests::exports_settled(&counters, "otlp", "traces", &[exporter]),
        )
        .await;
        assert_eq!(
            sink.state.attempts().len(),
            3,
            "{exporter}: a permanent error is not retried"
        );
        let stats = llmtel
            .stats()
            .get(Stage::Exporter, exporter, Signal::Traces)
            .unwrap();
        assert_eq!((stats.sent, stats.failed), (10, 10), "{exporter}");

        // Partial success: the rejected items are counted as failed, the request is not retried.
        sink.state.script([Answer::Reject(3)]);
        client.export(trace_request(10, 3)).await.unwrap();
        assert!(
            sink.state
                .wait_for(Duration::from_secs(5), |s| s.attempts().len() == 4)
                .await
        );
        integration_tests::wait_until(
            &format!("{exporter} to finish the batch"),
            Duration::from_secs(10),
            || integration_tests::exports_settled(&counters, "otlp", "traces", &[exporter]),
        )
        .await;
        assert_eq!(
            sink.state.attempts().len(),
            4,
            "{exporter}: a partial success is not retried"
        );
        let stats = llmtel
            .stats()
            .get(Stage::Exporter, exporter, Signal::Traces)
            .unwrap();
        assert_eq!((stats.sent, stats.failed), (17, 13), "{exporter}");
        assert!(llmtel.stop().await.drained);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_queue_is_too_small_for_the_outage_every_item_is_accounted_for() {
    // One exporter, a tiny queue, the backend down: the pipeline backs up and the client is refused.
    let sink = Sink::start().await;
    let stopped = sink.stop().await;
    let (llmtel, _) = forwarder(
        "otlp",
        stopped.0,
        ", sending_queue: {queue_size: 2, num_consumers: 1}",
        ", queue_size: 2",
    )
    .await;
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let (mut sent, mut refused) = (0, 0);
    for b in 0..50 {
        sent += 10;
        if client.export(trace_request(10, b)).await.is_err() {
            refused += 10;
        }
    }
    assert!(refused > 0, "a queue of 2 batches cannot hold 50");
    let sink = Sink::restart(stopped).await;
    let accepted = sent - refused;
    assert!(
        sink.state
            .wait_for(Duration::from_secs(20), |s| s.grpc_items() >= accepted)
            .await
    );
    let stats = llmtel.stats();
    let r = stats.get(Stage::Receiver, "otlp", Signal::Traces).unwrap();
    let e = stats.get(Stage::Exporter, "otlp", Signal::Traces).unwrap();
    assert_eq!(
        r.refused as usize, refused,
        "llmtel counted exactly what the client saw refused"
    );
    assert_eq!(e.dropped + e.failed, 0);
    assert_eq!(
        sent,
        sink.state.grpc_items() + refused,
        "sent = received + refused + dropped"
    );
    assert!(llmtel.stop().await.drained);

    // Beside a second exporter that keeps up, an otlp exporter told not to block on overflow has its copies
    // dropped, not the client refused: the drop counter says exactly how many. (By default it blocks, and the
    // client is refused instead: integration-tests/tests/overload.rs.)
    let stopped = sink.stop().await;
    let before = stopped.2.grpc_items();
    let cfg = config(
        &format!(
            "  otlp: {{endpoint: \"http://{}\", {FAST_RETRY}, sending_queue: {{queue_size: 2, num_consumers: 1, block_on_overflow: false}}}}\n  debug/capture: {{}}",
            stopped.0
        ),
        "otlp, debug/capture",
        "",
    );
    let capture = Capture::default();
    let llmtel = start_in_process(&cfg, &capture).await;
    let grpc = llmtel.listeners().get("otlp otlp grpc").unwrap();
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    for b in 0..50 {
        client
            .export(trace_request(10, 100 + b))
            .await
            .expect("never refused while another exporter keeps up");
    }
    assert!(
        capture
            .wait_for(Duration::from_secs(10), |c| c.items.get("traces")
                == Some(&500))
            .await
    );
    let sink = Sink::restart(stopped).await;
    let dropped = llmtel
        .stats()
        .get(Stage::Exporter, "otlp", Signal::Traces)
        .unwrap()
        .dropped as usize;
    assert!(dropped > 0);
    assert!(
        sink.state
            .wait_for(Duration::from_secs(20), |s| s.grpc_items() - before
                + dropped
                >= 500)
            .await
    );
    let stats = llmtel.stats().clone();
    integration_tests::wait_until(
        "both exporters to finish every batch",
        Duration::from_secs(20),
        || integration_tests::exports_settled(&stats, "otlp", "traces", &["otlp", "debug/capture"]),
    )
    .await;
    assert_eq!(
        sink.state.grpc_items() - before + dropped,
        500,
        "received + dropped = sent"
    );
    assert!(llmtel.stop().await.drained);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_persistent_queue_a_restart_during_an_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("queue");
    let sink = Sink::start().await;
    let stopped = sink.stop().await;
    let cfg = config(
        &format!(
            "  otlp: {{endpoint: \"http://{}\", {FAST_RETRY}, sending_queue: {{storage: \"{}\", queue_size: 100}}}}",
            stopped.0,
            storage.display()
        ),
        "otlp",
        "",
    );
    let file = write_temp(&cfg);
    let args = ["--config", file.path().to_str().unwrap()];
    let llmtel = LlmtelProcess::spawn(&args);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    for b in 0..20 {
        client
            .export(trace_request(10, b))
            .await
            .expect("accepted while the backend is down");
    }
    let files = || {
        std::fs::read_dir(&storage)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "batch"))
                    .count()
            })
            .unwrap_or(0)
    };
    let end = Instant::now() + Duration::from_secs(10);
    while files() < 20 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files(), 20, "every accepted batch is on disk");
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    drop(client);

    // A damaged file left beside them is set aside with a warning, not a crash.
    std::fs::write(
        storage.join("10000000000000000000.batch"),
        b"LLMTELQ1 garbage",
    )
    .unwrap();
    let llmtel = LlmtelProcess::spawn(&args);
    let sink = Sink::restart(stopped).await;
    assert!(
        sink.state
            .wait_for(Duration::from_secs(20), |s| s.grpc_items() >= 200)
            .await,
        "got {}",
        sink.state.grpc_items()
    );
    // A batch file is deleted only once its export is done, retries included: with none left, what the backend
    // has is final.
    integration_tests::wait_until(
        "every batch file to be sent and deleted",
        Duration::from_secs(20),
        || files() == 0,
    )
    .await;
    assert_eq!(sink.state.grpc_items(), 200, "nothing lost, nothing twice");
    assert_eq!(files(), 0, "sent batches are deleted");
    assert!(storage.join("10000000000000000000.corrupt").exists());
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("sending batches left from the last run first"),
        "{log}"
    );
    assert!(log.contains("skipping a damaged batch file"), "{log}");
}
