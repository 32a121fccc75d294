//! Shutdown that respects long generations, with the real `llmtel` binary: at SIGTERM during 20 slow streams the
//! sidecar stops accepting at once and `/readyz` answers 503; with a drain longer than the streams every stream
//! completes byte-identical to what the emulator sent and llmtel exits 0; with a 1 s drain the rest are cut, the
//! emulator sees each of them cancelled, and their spans (exported before exit) say `error.type=shutdown`.

use std::time::{Duration, Instant};

use integration_tests::emulator::{Emulator, Script};
use integration_tests::sink::Sink;
use integration_tests::traces::{attr_s, forwarded, ms};
use integration_tests::{HttpAnswer, LlmtelProcess, try_http_request, wait_until, write_temp};
use serde_json::json;

const STREAMS: usize = 20;

/// llmtel with one `llm_proxy` in front of `upstream` (drain `drain`), its traces to `sink` over OTLP/gRPC.
fn llmtel(upstream: &str, drain: &str, sink: &Sink) -> (LlmtelProcess, tempfile::NamedTempFile) {
    let cfg = format!(
        r#"
receivers:
  llm_proxy: {{listen: "127.0.0.1:0", upstream: "{upstream}", drain_timeout: {drain}, include_usage: false}}
exporters:
  otlp: {{endpoint: "http://{grpc}", retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}}}
service:
  pipelines:
    traces: {{receivers: [llm_proxy], exporters: [otlp]}}
  telemetry:
    admin: {{endpoint: "127.0.0.1:0"}}
  shutdown_timeout: 5s
"#,
        grpc = sink.grpc
    );
    let file = write_temp(&cfg);
    let path = file.path().to_string_lossy().into_owned();
    let process = LlmtelProcess::spawn(&["run", "--config", &path]);
    (process, file)
}

/// Starts `STREAMS` streaming chat requests (models `m0`…) and waits until the emulator is answering each.
async fn start_streams(
    proxy: std::net::SocketAddr,
    emu: &Emulator,
) -> Vec<tokio::task::JoinHandle<Result<HttpAnswer, String>>> {
    let clients = (0..STREAMS)
        .map(|i| {
            let url = format!("http://{proxy}/v1/chat/completions");
            let body = json!({"model": format!("m{i}"), "messages": [], "stream": true});
            tokio::spawn(async move {
                try_http_request(
                    "POST",
                    &url,
                    &[("content-type", "application/json")],
                    body.to_string().into_bytes(),
                )
                .await
            })
        })
        .collect();
    wait_until("every stream under way", Duration::from_secs(30), || {
        let f = forwarded(emu);
        f.len() == STREAMS && f.iter().all(|r| !r.sent.is_empty())
    })
    .await;
    clients
}

/// Sends SIGTERM on a blocking thread; the handle yields the exit code and the log.
fn terminate(process: LlmtelProcess) -> tokio::task::JoinHandle<(Option<i32>, String)> {
    tokio::task::spawn_blocking(move || process.terminate())
}

/// Checks, right after SIGTERM, that `/readyz` answers 503 and the proxy takes no new connection.
async fn draining_is_visible(admin: std::net::SocketAddr, proxy: std::net::SocketAddr) {
    let end = Instant::now() + Duration::from_secs(5);
    let mut unready = false;
    let mut refusing = false;
    while Instant::now() < end && !(unready && refusing) {
        if !unready {
            unready = try_http_request("GET", &format!("http://{admin}/readyz"), &[], vec![])
                .await
                .is_ok_and(|a| a.status == 503);
        }
        if !refusing {
            refusing = tokio::net::TcpStream::connect(proxy).await.is_err();
        }
        tokio::time::sleep(ms(20)).await;
    }
    assert!(unready, "/readyz turned 503 while draining");
    assert!(refusing, "the proxy stopped accepting connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_drain_lets_every_stream_finish_byte_identical_then_exits_0() {
    // Each stream takes about 3 s.
    let emu = Emulator::start(Script {
        thinking: vec![],
        answer: (0..12).map(|i| format!("t{i} ")).collect(),
        answer_delay: ms(250),
        ..Script::default()
    })
    .await;
    let sink = Sink::start().await;
    sink.state.keep_spans();
    let (process, _cfg) = llmtel(&emu.url(), "30s", &sink);
    let proxy = process.endpoint("llm_proxy listening");
    let admin = process.endpoint("admin endpoint listening");
    let clients = start_streams(proxy, &emu).await;

    let stopped = terminate(process);
    draining_is_visible(admin, proxy).await;
    let mut answers = Vec::new();
    for c in clients {
        answers.push(
            c.await
                .unwrap()
                .unwrap_or_else(|e| panic!("a stream was cut: {e}")),
        );
    }
    let (code, log) = stopped.await.unwrap();
    assert_eq!(code, Some(0), "{log}");

    let recorded = forwarded(&emu);
    for (i, answer) in answers.iter().enumerate() {
        let rec = recorded
            .iter()
            .find(|r| r.model == format!("m{i}"))
            .unwrap();
        assert!(rec.completed && !rec.cancelled, "m{i} finished upstream");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, rec.sent, "m{i}: the bytes the emulator sent");
    }
    // Every span was exported before llmtel exited, none with an error.
    let spans = sink.state.spans();
    let chats: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat m"))
        .collect();
    assert_eq!(
        chats.len(),
        STREAMS,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for s in chats {
        assert_eq!(attr_s(s, "error.type"), None, "{}", s.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_drain_cuts_the_rest_cancels_them_upstream_and_says_so_on_their_spans() {
    // Each stream would take about 12 s.
    let emu = Emulator::start(Script {
        thinking: vec![],
        answer: (0..48).map(|i| format!("t{i} ")).collect(),
        answer_delay: ms(250),
        ..Script::default()
    })
    .await;
    let sink = Sink::start().await;
    sink.state.keep_spans();
    let (process, _cfg) = llmtel(&emu.url(), "1s", &sink);
    let proxy = process.endpoint("llm_proxy listening");
    let admin = process.endpoint("admin endpoint listening");
    let clients = start_streams(proxy, &emu).await;

    let signalled = Instant::now();
    let stopped = terminate(process);
    draining_is_visible(admin, proxy).await;
    let (code, log) = stopped.await.unwrap();
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        took >= Duration::from_secs(1),
        "the streams had their drain time: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "cut at the drain time, not at the streams' end: {took:?}"
    );
    for c in clients {
        // The body breaks off: an error, or a 200 whose stream lacks its end.
        if let Ok(a) = c.await.unwrap() {
            assert!(!String::from_utf8_lossy(&a.body).contains("[DONE]"));
        }
    }
    let recorded = forwarded(&emu);
    assert_eq!(recorded.len(), STREAMS);
    for r in &recorded {
        assert!(
            r.cancelled && !r.completed,
            "{} cancelled upstream",
            r.model
        );
    }
    let spans = sink.state.spans();
    let chats: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat m"))
        .collect();
    assert_eq!(
        chats.len(),
        STREAMS,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for s in chats {
        assert_eq!(attr_s(s, "error.type"), Some("shutdown"), "{}", s.name);
    }
    assert!(
        log.contains("proxy_shutdown_cut"),
        "the cut is logged and counted:\n{log}"
    );
}
