//! The sidecar end to end over raw HTTP, when something goes wrong: an upstream that is down, answers an error,
//! breaks off or sends malformed or truncated streams; a client that leaves mid-stream or while sending its
//! request; a request body over the limit. The client must get the failure in its own dialect (or the upstream's
//! bytes as they came), the upstream must be cancelled when the client leaves, and the span must say what
//! happened. The sidecar when all goes well is in `sidecar.rs`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use integration_tests::emulator::{Emulator, Script};
use integration_tests::traces::{Sidecar, attr_i, attr_s, forwarded, metric_value_in, ms, post};
use integration_tests::{raw_upstream, try_http_request};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_answer_in_the_clients_dialect_and_mark_the_span() {
    // Nothing listens on this port (bound, then closed).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sidecar = Sidecar::start(&format!("http://{dead}"), "").await;
    let resp = post(
        &format!("{}/api/chat", sidecar.url),
        &json!({"model": "m1", "messages": []}),
    )
    .await;
    assert_eq!(resp.status, 502);
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains(&dead.to_string()) && msg.contains("unreachable"),
        "{msg}"
    );
    let (span, _) = sidecar.trace("chat m1").await;
    assert_eq!(attr_s(&span, "error.type"), Some("upstream_unavailable"));
    assert_eq!(
        span.status.as_ref().map(|s| s.code),
        Some(2),
        "status Error"
    );
    let resp = post(
        &format!("{}/v1/chat/completions", sidecar.url),
        &json!({"model": "m2", "messages": []}),
    )
    .await;
    assert_eq!(resp.status, 502);
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "OpenAI error shape: {body}"
    );

    // The upstream's own error status and body pass through and are recorded.
    let emu = Emulator::start(Script {
        status: 404,
        ..Script::default()
    })
    .await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let req = json!({"model": "missing", "messages": []});
    let resp = post(&format!("{}/api/chat", sidecar.url), &req).await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.body, emu.body_for("/api/chat", &req));
    let (span, children) = sidecar.trace("chat missing").await;
    assert!(children.is_empty());
    assert_eq!(attr_s(&span, "error.type"), Some("404"));
    assert_eq!(attr_i(&span, "http.response.status_code"), Some(404));

    // A body over the limit is refused before it reaches the upstream.
    let sidecar = Sidecar::start(&emu.url(), "max_request_body_size_mib: 1").await;
    let big = json!({"model": "big", "prompt": "x".repeat(1_100_000)});
    let resp = post(&format!("{}/api/generate", sidecar.url), &big).await;
    assert_eq!(resp.status, 413);
    assert!(String::from_utf8_lossy(&resp.body).contains("max_request_body_size_mib"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_cancels_the_upstream_and_says_so() {
    let script = Script {
        think_delay: ms(200),
        thinking: (0..30).map(|i| format!("t{i} ")).collect(),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = json!({"model": "leaver", "messages": []});
    let resp = client
        .request(
            http::Request::post(format!("{}/api/chat", sidecar.url))
                .body(Full::new(Bytes::from(req.to_string())))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some_and(|d| !d.is_empty()));
    // While it streams, the request is in flight.
    let in_flight = |c: &integration_tests::Captured| {
        metric_value_in(
            c,
            "llmtel.proxy.active_requests",
            &[("gen_ai.request.model", "leaver")],
        )
    };
    assert!(
        sidecar
            .capture
            .wait_for(Duration::from_secs(5), |c| in_flight(c) == Some(1.0))
            .await,
        "in-flight gauge never showed 1: {:?}",
        sidecar.capture.with(in_flight)
    );
    drop(body);
    drop(client);
    assert!(
        emu.wait_cancelled(Duration::from_secs(5)).await,
        "the upstream kept generating"
    );
    let (span, _) = sidecar.trace("chat leaver").await;
    assert_eq!(attr_s(&span, "error.type"), Some("client_disconnected"));
    assert!(
        sidecar
            .capture
            .wait_for(Duration::from_secs(5), |c| in_flight(c) == Some(0.0))
            .await,
        "in-flight gauge stuck at {:?}",
        sidecar.capture.with(in_flight)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upstream_stream_is_forwarded_as_is_and_recorded() {
    let script = Script {
        fail_after_bytes: Some(150),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let req = json!({"model": "broken", "messages": []});
    let err = try_http_request(
        "POST",
        &format!("{}/api/chat", sidecar.url),
        &[],
        req.to_string().into_bytes(),
    )
    .await;
    assert!(
        err.is_err(),
        "the client must see the body break, not a clean end"
    );
    let (span, _) = sidecar.trace("chat broken").await;
    assert_eq!(attr_s(&span, "error.type"), Some("upstream_stream_error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_streams_reach_the_client_and_are_counted() {
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n{\"model\":\"bad\",\"message\":{\"content\":\"\",\"thinking\":\"x\"}}\nnot json at all\n{\"model\":\"bad\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n";
    let upstream = raw_upstream(RESP).await;
    let sidecar = Sidecar::start(&upstream, "").await;
    let resp = post(
        &format!("{}/api/chat", sidecar.url),
        &json!({"model": "bad", "messages": []}),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        &resp.body[..],
        &RESP[RESP.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..]
    );
    let (span, children) = sidecar.trace("chat bad").await;
    assert_eq!(attr_i(&span, "llmtel.stream.parse_errors"), Some(1));
    assert_eq!(
        attr_s(&span, "error.type"),
        Some("stream_truncated"),
        "no done:true chunk came"
    );
    assert!(
        span.events
            .iter()
            .any(|e| e.name == "llmtel.stream.parse_error")
    );
    assert_eq!(
        children.len(),
        2,
        "the parsable chunks still give think and answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_while_sending_its_request_is_recorded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let addr = sidecar.url.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    // The server answers `100 Continue` when the sidecar starts reading the body: from then on it is waiting for
    // the rest of this request, which never comes.
    let mut interim = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut interim))
        .await
        .expect("the sidecar asks for the body within 10 s")
        .unwrap();
    assert!(
        interim[..n].starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&interim[..n])
    );
    s.write_all(b"{\"model\":").await.unwrap();
    drop(s);
    let ok = sidecar
        .capture
        .wait_for(Duration::from_secs(10), |c| {
            integration_tests::traces::spans_in(c)
                .iter()
                .any(|s| attr_s(s, "error.type") == Some("client_disconnected"))
        })
        .await;
    assert!(ok, "spans: {:?}", sidecar.spans());
    assert!(forwarded(&emu).is_empty(), "nothing reached the upstream");
}
