//! The sidecar's limits end to end: `max_concurrent_requests` (the real `openai` client is refused with a 503 and
//! `Retry-After`, waits, retries and gets through; the refusals are counted, their spans say
//! `concurrency_limit`, and the upstream never saw them) and `write_timeout` (a raw TCP client that stops reading
//! has its response abandoned, the upstream request cancelled and the span says `client_stalled`; a client that
//! waits for a slow model is not cut). Shutdown's drain is in `drain.rs`.

use std::time::{Duration, Instant};

use integration_tests::emulator::{Emulator, Script};
use integration_tests::py::{self, OPENAI_RETRY_PY};
use integration_tests::traces::{Sidecar, attr_s, forwarded, ms, post};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The value of `llmtel_events_total{component="llm_proxy", event=EVENT}` in the sidecar's own metrics (0 when
/// absent).
fn event_total(sidecar: &Sidecar, event: &str) -> f64 {
    let text = sidecar
        .running
        .render_self_metrics()
        .unwrap_or_else(|e| panic!("render llmtel's own metrics: {e}"));
    let wanted = format!("event=\"{event}\"");
    text.lines()
        .filter(|l| l.starts_with("llmtel_events_total{") && l.contains(&wanted))
        .filter(|l| l.contains("component=\"llm_proxy\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits up to `limit` for `done`.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        tokio::time::sleep(ms(20)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_limit_the_openai_client_is_refused_waits_and_gets_through() {
    py::require_python_clients();
    // The first answer takes 30 s (it is let go once the client has been refused); the next ones are quick.
    let emu = Emulator::start(Script {
        answer: (0..60).map(|i| format!("h{i} ")).collect(),
        answer_delay: ms(500),
        ..Script::default()
    })
    .await;
    let sidecar = Sidecar::start(&emu.url(), "max_concurrent_requests: 1").await;

    // One request holds the only place.
    let url = sidecar.url.clone();
    let holder = tokio::spawn(async move {
        post(
            &format!("{url}/v1/chat/completions"),
            &json!({"model": "holder", "messages": [], "stream": true}),
        )
        .await
    });
    assert!(
        wait_until(Duration::from_secs(10), || forwarded(&emu).len() == 1).await,
        "the first request reached the upstream"
    );
    emu.set_script(Script {
        answer: (0..8).map(|i| format!("w{i} ")).collect(),
        answer_delay: ms(10),
        ..Script::default()
    });

    // Meanwhile an Anthropic client is told it is overloaded, in its own terms.
    let refused = post(
        &format!("{}/v1/messages", sidecar.url),
        &json!({"model": "claude", "max_tokens": 10, "messages": []}),
    )
    .await;
    assert_eq!(refused.status, 529, "Anthropic's overloaded status");
    assert_eq!(refused.headers["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");

    // The real openai client, with retries on, while the holder still runs; once it has been refused, the
    // holder's client leaves and frees the place.
    let base = sidecar.url.clone();
    let client = tokio::task::spawn_blocking(move || {
        py::python(OPENAI_RETRY_PY, &[base, "retrying".into(), "10".into()])
    });
    assert!(
        wait_until(Duration::from_secs(60), || {
            event_total(&sidecar, "proxy_concurrency_limit") >= 2.0
        })
        .await,
        "the openai client was refused"
    );
    holder.abort();
    let out = client.await.unwrap();

    let answers = out["answers"].as_array().unwrap();
    let statuses: Vec<u64> = answers
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert!(
        statuses.len() >= 2 && statuses[..statuses.len() - 1].iter().all(|s| *s == 503),
        "refused with 503 until the place was free, then served: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert_eq!(out["content"], "w0 w1 w2 w3 w4 w5 w6 w7 ");
    for pair in answers.windows(2) {
        assert_eq!(pair[0]["retry_after"], "1");
        let waited = pair[1]["at"].as_f64().unwrap() - pair[0]["at"].as_f64().unwrap();
        assert!(
            waited >= 0.9,
            "the client waited for Retry-After before retrying: {waited}s"
        );
    }

    // The upstream saw the holder and the one request that got through, nothing refused.
    let models: Vec<String> = forwarded(&emu).iter().map(|r| r.model.clone()).collect();
    assert_eq!(models, ["holder", "retrying"]);

    // Every refusal is counted and has its span.
    let refusals = statuses.len() - 1 + 1; // the openai client's 503s and the Anthropic 529
    assert!(
        wait_until(Duration::from_secs(5), || {
            event_total(&sidecar, "proxy_concurrency_limit") == refusals as f64
        })
        .await,
        "counted {} refusals, expected {refusals}",
        event_total(&sidecar, "proxy_concurrency_limit")
    );
    let found = sidecar
        .capture
        .wait_for(Duration::from_secs(10), |c| {
            integration_tests::traces::spans_in(c)
                .iter()
                .filter(|s| attr_s(s, "error.type") == Some("concurrency_limit"))
                .count()
                == refusals
        })
        .await;
    let spans = sidecar.spans();
    assert!(found, "one concurrency_limit span per refusal");
    let served = spans
        .iter()
        .filter(|s| s.name == "chat retrying" && attr_s(s, "error.type").is_none())
        .count();
    assert_eq!(served, 1, "the retry that got through is a normal span");
}

/// Sends a streaming chat request on a raw socket with a small receive buffer, reads the response head, and
/// then stops reading; returns the socket (kept open: the client is alive, only not reading).
async fn stalled_client(addr: &str) -> tokio::net::TcpStream {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("stalled client: {what}: {e}") };
    let sock = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| fail("socket", &e));
    sock.set_recv_buffer_size(4096)
        .unwrap_or_else(|e| fail("SO_RCVBUF", &e));
    let addr = addr.parse().unwrap_or_else(|e| fail(addr, &e));
    let mut s = sock
        .connect(addr)
        .await
        .unwrap_or_else(|e| fail("connect", &e));
    let body = json!({"model": "stall", "messages": [], "stream": true}).to_string();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .unwrap_or_else(|e| fail("send the request", &e));
    let mut head = [0u8; 512];
    let n = s
        .read(&mut head)
        .await
        .unwrap_or_else(|e| fail("read the response head", &e));
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_the_upstream_cancelled() {
    // 32 MiB of answer: more than every buffer between the emulator and the client together.
    let emu = Emulator::start(Script {
        answer: (0..4096).map(|_| "x".repeat(8 << 10)).collect(),
        answer_delay: ms(2),
        ..Script::default()
    })
    .await;
    let sidecar = Sidecar::start(&emu.url(), "write_timeout: 1s, include_usage: false").await;
    let addr = sidecar.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let _client = stalled_client(&addr).await;

    // Polled slowly: each look copies what the emulator sent so far.
    let mut cancelled = false;
    while !cancelled && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(ms(250)).await;
        cancelled = forwarded(&emu).first().is_some_and(|r| r.cancelled);
    }
    assert!(cancelled, "the upstream request was cancelled");
    let cut_after = started.elapsed();
    let rec = &forwarded(&emu)[0];
    assert!(!rec.completed, "the model did not finish the answer");
    assert!(
        rec.sent.len() < 32 << 20,
        "cut before the end: {} bytes sent",
        rec.sent.len()
    );
    assert!(
        cut_after >= Duration::from_secs(1),
        "not before write_timeout"
    );
    let (span, _) = sidecar.trace("chat stall").await;
    assert_eq!(attr_s(&span, "error.type"), Some("client_stalled"));
    assert_eq!(event_total(&sidecar, "proxy_client_stalled"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_waiting_for_a_slow_model_is_not_cut_by_the_write_timeout() {
    // Gaps of 1.5 s between tokens, over a 500 ms write timeout: the proxy waits for the upstream, not the client.
    let emu = Emulator::start(Script {
        answer: vec!["slow ".into(), "but ".into(), "sure".into()],
        answer_delay: ms(1500),
        ..Script::default()
    })
    .await;
    let sidecar = Sidecar::start(&emu.url(), "write_timeout: 500ms, include_usage: false").await;
    let req = json!({"model": "patient", "messages": [], "stream": true});
    let resp = post(&format!("{}/v1/chat/completions", sidecar.url), &req).await;
    assert_eq!(resp.status, 200);
    let rec = &forwarded(&emu)[0];
    assert!(rec.completed && !rec.cancelled);
    assert_eq!(resp.body, rec.sent, "every byte the emulator sent");
    let (span, _) = sidecar.trace("chat patient").await;
    assert_eq!(attr_s(&span, "error.type"), None);
}
