//! The LLM-server emulator checked on its own: exact bytes under arbitrary splits, pacing, a client going away, a
//! deliberate mid-body failure, and the real `ollama` and `openai` Python clients reading what it sends.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use integration_tests::emulator::{Emulator, ReasoningStyle, Script, Split};
use integration_tests::py::{OLLAMA_PY, OPENAI_PY, pythons, require_python_clients};
use integration_tests::try_http_request;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A streaming POST: the response head, then its body frame by frame.
async fn post(url: &str, body: &Value) -> http::Response<hyper::body::Incoming> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    client.request(req).await.unwrap()
}

/// Every body frame with its arrival time, and the error that ended the body, if any.
async fn frames(
    resp: http::Response<hyper::body::Incoming>,
) -> (Vec<(Instant, Bytes)>, Option<String>) {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    loop {
        match body.frame().await {
            None => return (out, None),
            Some(Err(e)) => return (out, Some(e.to_string())),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    out.push((Instant::now(), data));
                }
            }
        }
    }
}

fn concat(frames: &[(Instant, Bytes)]) -> Vec<u8> {
    frames.iter().flat_map(|(_, b)| b.iter().copied()).collect()
}

fn chat_request(stream: bool) -> Value {
    json!({"model": "qwen3:14b", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
}

/// Concatenated `message.thinking` and `message.content` of an Ollama NDJSON chat stream.
fn ollama_texts(body: &[u8]) -> (String, String, Vec<Value>) {
    let text = std::str::from_utf8(body).expect("the stream is UTF-8");
    let lines: Vec<Value> = text
        .split_terminator('\n')
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    let field = |k: &str| -> String {
        lines
            .iter()
            .filter_map(|l| l["message"][k].as_str())
            .collect()
    };
    (field("thinking"), field("content"), lines)
}

#[tokio::test]
async fn ollama_chat_stream_split_every_3_bytes_is_byte_exact() {
    let script = Script {
        split: Split::Every(3),
        ..Script::default()
    };
    let emu = Emulator::start(script.clone()).await;
    let req = chat_request(true);
    let expected = emu.body_for("/api/chat", &req);
    let resp = post(&format!("{}/api/chat", emu.url()), &req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let (got, err) = frames(resp).await;
    assert_eq!(err, None);
    let got = concat(&got);
    assert_eq!(got, expected, "received bytes differ from body_for");

    let (thinking, content, lines) = ollama_texts(&got);
    assert_eq!(thinking, script.thinking.concat());
    assert_eq!(content, script.answer.concat());
    assert_eq!(lines.len(), script.thinking.len() + script.answer.len() + 1);
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["prompt_eval_count"], 12);
    assert_eq!(last["eval_count"], 34);
    assert!(last["eval_duration"].is_u64());
    // Thinking chunks carry content "" and a thinking field; answer chunks no thinking field.
    assert_eq!(lines[0]["message"]["content"], "");
    assert!(lines[0]["message"].get("thinking").is_some());
    assert!(
        lines[script.thinking.len()]["message"]
            .get("thinking")
            .is_none()
    );

    let recs = emu.requests();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].method, "POST");
    assert_eq!(recs[0].path, "/api/chat");
    assert_eq!(serde_json::from_slice::<Value>(&recs[0].body).unwrap(), req);
    assert_eq!(recs[0].sent.as_ref(), expected.as_slice());
    assert!(recs[0].completed);
}

#[tokio::test]
async fn splits_inside_tags_and_utf8_are_byte_exact_in_every_dialect() {
    let emu = Emulator::start(Script::default()).await;
    let cases = [
        ("/api/chat", chat_request(true)),
        ("/api/chat", chat_request(false)),
        ("/api/generate", json!({"model": "m", "prompt": "hi"})),
        (
            "/api/generate",
            json!({"model": "m", "prompt": "hi", "stream": false}),
        ),
        ("/api/embed", json!({"model": "m", "input": ["a", "b"]})),
        ("/api/embeddings", json!({"model": "m", "prompt": "a"})),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": [], "stream": true}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": [], "stream": true, "stream_options": {"include_usage": true}}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": []}),
        ),
        (
            "/v1/completions",
            json!({"model": "m", "prompt": "hi", "stream": true}),
        ),
        ("/v1/embeddings", json!({"model": "m", "input": "a"})),
    ];
    for style in [
        ReasoningStyle::Field,
        ReasoningStyle::FieldContent,
        ReasoningStyle::InlineTags,
        ReasoningStyle::InlineClosingOnly,
        ReasoningStyle::None,
    ] {
        // Cut one byte into the body, inside the first `<think>`, and inside every multi-byte character.
        let probe = Script {
            reasoning: style,
            ..Script::default()
        };
        emu.set_script(probe.clone());
        for (path, req) in &cases {
            let expected = emu.body_for(path, req);
            let text = String::from_utf8(expected.clone()).unwrap();
            let mut cuts = vec![1];
            if let Some(i) = text.find("<think>") {
                cuts.push(i + 3);
            }
            cuts.extend(
                text.char_indices()
                    .filter(|(_, c)| c.len_utf8() > 1)
                    .map(|(i, _)| i + 1),
            );
            emu.set_script(Script {
                split: Split::At(cuts),
                ..probe.clone()
            });
            let resp = post(&format!("{}{path}", emu.url()), req).await;
            assert_eq!(resp.status(), 200, "{path}");
            let (got, err) = frames(resp).await;
            assert_eq!(err, None, "{path} {style:?}");
            assert_eq!(concat(&got), expected, "{path} {style:?}");
        }
    }
    // Inline tags: the reasoning travels in the content, glued to the first and last reasoning piece.
    let script = Script {
        reasoning: ReasoningStyle::InlineTags,
        ..Script::default()
    };
    emu.set_script(script.clone());
    let (thinking, content, lines) = ollama_texts(&emu.body_for("/api/chat", &chat_request(true)));
    assert_eq!(thinking, "");
    assert_eq!(
        content,
        format!(
            "<think>{}</think>{}",
            script.thinking.concat(),
            script.answer.concat()
        )
    );
    assert_eq!(
        lines[0]["message"]["content"],
        format!("<think>{}", script.thinking[0])
    );
    emu.set_script(Script {
        reasoning: ReasoningStyle::InlineClosingOnly,
        ..Script::default()
    });
    let (_, content, _) = ollama_texts(&emu.body_for("/api/chat", &chat_request(true)));
    assert_eq!(
        content,
        format!(
            "{}</think>{}",
            script.thinking.concat(),
            script.answer.concat()
        )
    );
    // OpenAI stream layout: finish chunk, usage chunk (when asked), [DONE].
    emu.set_script(Script {
        usage_reasoning_tokens: Some(7),
        ..Script::default()
    });
    let body = emu.body_for(
        "/v1/chat/completions",
        &json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let events: Vec<&str> = std::str::from_utf8(&body)
        .unwrap()
        .split_terminator("\n\n")
        .map(|e| e.strip_prefix("data: ").unwrap())
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let usage: Value = serde_json::from_str(events[events.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46,
               "completion_tokens_details": {"reasoning_tokens": 7}})
    );
    let finish: Value = serde_json::from_str(events[events.len() - 3]).unwrap();
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let first: Value = serde_json::from_str(events[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["reasoning"], "Let");

    // OpenAI embeddings in base64 (what the `openai` Python client asks for by default): little-endian f32s.
    let body = emu.body_for(
        "/v1/embeddings",
        &json!({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}),
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"][1]["embedding"], "zczMPc3MTL6amZk+zczMPg==");
    assert_eq!(v["data"][1]["index"], 1);
    let v: Value =
        serde_json::from_slice(&emu.body_for("/v1/embeddings", &json!({"input": "a"}))).unwrap();
    assert_eq!(v["data"][0]["embedding"].as_array().map(Vec::len), Some(4));

    // Errors, the odd endpoints, echo and 404.
    emu.set_script(Script {
        status: 503,
        ..Script::default()
    });
    let a = try_http_request(
        "POST",
        &format!("{}/api/chat", emu.url()),
        &[],
        b"{}".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 503);
    assert!(serde_json::from_slice::<Value>(&a.body).unwrap()["error"].is_string());
    let a = try_http_request(
        "POST",
        &format!("{}/v1/chat/completions", emu.url()),
        &[],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(a.status, 503);
    assert!(serde_json::from_slice::<Value>(&a.body).unwrap()["error"]["message"].is_string());
    let a = try_http_request("GET", &format!("{}/api/version", emu.url()), &[], vec![])
        .await
        .unwrap();
    assert_eq!(
        (a.status, a.body.as_ref()),
        (200, br#"{"version":"0.33.0"}"#.as_ref())
    );
    let a = try_http_request("GET", &format!("{}/api/tags", emu.url()), &[], vec![])
        .await
        .unwrap();
    assert_eq!(
        (a.status, a.body.as_ref()),
        (200, br#"{"models":[]}"#.as_ref())
    );
    let a = try_http_request(
        "POST",
        &format!("{}/echo/x?y=1", emu.url()),
        &[("content-type", "application/x-thing")],
        b"\x00\xffpayload".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "application/x-thing");
    assert_eq!(a.body.as_ref(), b"\x00\xffpayload");
    let a = try_http_request("GET", &format!("{}/nope", emu.url()), &[], vec![])
        .await
        .unwrap();
    assert_eq!(
        (a.status, a.body.as_ref()),
        (404, br#"{"error":"not found"}"#.as_ref())
    );
}

#[tokio::test]
async fn h2c_prior_knowledge_streams_the_same_bytes() {
    let emu = Emulator::start(Script {
        split: Split::Every(5),
        ..Script::default()
    })
    .await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    for (path, req) in [
        ("/api/chat", chat_request(true)),
        (
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
        ),
    ] {
        let resp = client
            .request(
                http::Request::post(format!("{}{path}", emu.url()))
                    .body(Full::new(Bytes::from(req.to_string())))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let (got, err) = frames(resp).await;
        assert_eq!(err, None);
        assert_eq!(concat(&got), emu.body_for(path, &req), "{path}");
    }
}

#[tokio::test]
async fn pacing_delays_the_first_answer_byte() {
    let script = Script {
        thinking: ["a", "b", "c", "d"].map(String::from).to_vec(),
        answer: ["x", "y", "z"].map(String::from).to_vec(),
        first_delay: Duration::from_millis(50),
        think_delay: Duration::from_millis(50),
        answer_delay: Duration::from_millis(20),
        ..Script::default()
    };
    for split in [Split::PerEvent, Split::Every(7)] {
        let emu = Emulator::start(Script {
            split: split.clone(),
            ..script.clone()
        })
        .await;
        let req = chat_request(true);
        let expected = emu.body_for("/api/chat", &req);
        // The byte offset where the first answer line begins.
        let text = String::from_utf8(expected.clone()).unwrap();
        let answer_at = text.find(r#""content":"x""#).unwrap();
        let answer_at = text[..answer_at].rfind('\n').unwrap() + 1;

        let sent = Instant::now();
        let resp = post(&format!("{}/api/chat", emu.url()), &req).await;
        let (got, err) = frames(resp).await;
        assert_eq!(err, None);
        assert_eq!(concat(&got), expected);
        let mut seen = 0;
        let mut first_answer = None;
        for (at, b) in &got {
            seen += b.len();
            if seen > answer_at {
                first_answer = Some(*at);
                break;
            }
        }
        let first_byte = got[0].0 - sent;
        let first_answer = first_answer.unwrap() - sent;
        let end = got.last().unwrap().0 - sent;
        // 50 ms, then 3 × 50 ms of thinking, then 20 ms: the answer starts at ~220 ms, ends at ~260 ms.
        assert!(
            first_byte >= Duration::from_millis(45),
            "{split:?}: first byte at {first_byte:?}"
        );
        assert!(
            first_answer >= Duration::from_millis(200),
            "{split:?}: first answer byte at {first_answer:?}"
        );
        assert!(
            first_answer < Duration::from_secs(3),
            "{split:?}: {first_answer:?}"
        );
        assert!(
            end >= Duration::from_millis(240),
            "{split:?}: end at {end:?}"
        );
        let rec = &emu.requests()[0];
        assert!(rec.started >= sent && rec.started - sent < first_byte);
    }
}

#[tokio::test]
async fn client_going_away_mid_stream_is_noticed() {
    let script = Script {
        answer: (0..200).map(|i| format!(" w{i}")).collect(),
        answer_delay: Duration::from_millis(10),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let mut tcp = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let body = chat_request(true).to_string();
    let head = format!(
        "POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(n > 0);
    assert!(!emu.wait_cancelled(Duration::from_millis(50)).await);
    integration_tests::wait_until(
        "the emulator to record what it streams while the client is there",
        Duration::from_secs(5),
        || emu.requests().first().is_some_and(|r| !r.sent.is_empty()),
    )
    .await;
    drop(tcp);
    assert!(
        emu.wait_cancelled(Duration::from_secs(5)).await,
        "no cancellation seen"
    );
    let rec = &emu.requests()[0];
    assert!(!rec.completed);
    let sent = rec.sent.len();
    // Time passes on purpose: a stream that had not stopped would send more within it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(emu.requests()[0].sent.len(), sent, "it stopped sending");
}

#[tokio::test]
async fn fail_after_bytes_breaks_the_body() {
    for (path, req) in [
        ("/api/chat", chat_request(true)),
        (
            "/v1/chat/completions",
            json!({"model": "m", "stream": false}),
        ),
    ] {
        let emu = Emulator::start(Script {
            fail_after_bytes: Some(40),
            split: Split::Every(16),
            ..Script::default()
        })
        .await;
        let expected = emu.body_for(path, &req);
        let resp = post(&format!("{}{path}", emu.url()), &req).await;
        assert_eq!(resp.status(), 200);
        let (got, err) = frames(resp).await;
        assert!(err.is_some(), "{path}: the client should see a body error");
        let got = concat(&got);
        assert!(
            got.len() <= 40 && expected.starts_with(&got),
            "{path}: got {} bytes",
            got.len()
        );
        let rec = &emu.requests()[0];
        assert_eq!(rec.sent.as_ref(), &expected[..40]);
        assert!(!rec.completed);
        assert!(
            !emu.wait_cancelled(Duration::from_millis(50)).await,
            "a deliberate failure is no cancellation"
        );
        // The helper sees the error too.
        assert!(
            try_http_request(
                "POST",
                &format!("{}{path}", emu.url()),
                &[],
                req.to_string().into_bytes()
            )
            .await
            .is_err()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_python_clients_read_the_emulator() {
    require_python_clients();
    let script = Script::default();
    let thinking = script.thinking.concat();
    let answer = script.answer.concat();
    let field = Emulator::start(script.clone()).await;
    let field_content = Emulator::start(Script {
        reasoning: ReasoningStyle::FieldContent,
        ..script.clone()
    })
    .await;
    let inline = Emulator::start(Script {
        reasoning: ReasoningStyle::InlineTags,
        split: Split::Every(5),
        ..script.clone()
    })
    .await;
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let (f, fc, il) = (field.url(), field_content.url(), inline.url());
    let runs = vec![
        (OLLAMA_PY, s(&[&f, "qwen3:14b", "chat-stream", "true"])),
        (OLLAMA_PY, s(&[&f, "qwen3:14b", "chat", "high"])),
        (OLLAMA_PY, s(&[&f, "qwen3:14b", "generate-stream", "none"])),
        (OLLAMA_PY, s(&[&f, "qwen3:14b", "generate", "false"])),
        (OLLAMA_PY, s(&[&f, "qwen3:14b", "embed", "none"])),
        (OLLAMA_PY, s(&[&il, "qwen3:14b", "chat-stream", "none"])),
        (OPENAI_PY, s(&[&f, "qwen3:14b", "chat-stream"])),
        (OPENAI_PY, s(&[&f, "qwen3:14b", "chat-stream-usage"])),
        (OPENAI_PY, s(&[&f, "qwen3:14b", "chat"])),
        (OPENAI_PY, s(&[&f, "qwen3:14b", "completions-stream"])),
        (OPENAI_PY, s(&[&f, "qwen3:14b", "embed"])),
        (OPENAI_PY, s(&[&fc, "qwen3:14b", "chat-stream-usage"])),
        (OPENAI_PY, s(&[&fc, "qwen3:14b", "chat"])),
        (OPENAI_PY, s(&[&il, "qwen3:14b", "chat-stream"])),
    ];
    let r = pythons(runs).await;
    let n_events = (script.thinking.len() + script.answer.len()) as u64;
    let inline_content = format!("<think>{thinking}</think>{answer}");

    // Ollama client.
    for (i, chunks) in [(0, n_events + 1), (1, 1), (2, n_events + 1), (3, 1)] {
        assert_eq!(r[i]["content"], answer, "ollama run {i}: {}", r[i]);
        assert_eq!(r[i]["thinking"], thinking, "ollama run {i}: {}", r[i]);
        assert_eq!(r[i]["chunks"], chunks, "ollama run {i}: {}", r[i]);
        assert_eq!(r[i]["prompt_eval_count"], 12, "ollama run {i}");
        assert_eq!(r[i]["eval_count"], 34, "ollama run {i}");
        assert_eq!(r[i]["done_reason"], "stop", "ollama run {i}");
    }
    assert_eq!(r[4], json!({"embeddings": 1}));
    assert_eq!(r[5]["content"], inline_content, "{}", r[5]);
    assert_eq!(r[5]["thinking"], "");

    // OpenAI client.
    for i in [6, 7, 8, 12] {
        assert_eq!(r[i]["content"], answer, "openai run {i}: {}", r[i]);
        assert_eq!(r[i]["reasoning"], thinking, "openai run {i}: {}", r[i]);
    }
    assert_eq!(r[6]["chunks"], n_events + 1);
    assert_eq!(r[6]["usage"], Value::Null);
    assert_eq!(r[6]["usage_chunks"], 0);
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46});
    for i in [7, 11] {
        assert_eq!(r[i]["usage"], usage, "openai run {i}: {}", r[i]);
        assert_eq!(r[i]["usage_chunks"], 1, "openai run {i}");
        assert_eq!(r[i]["chunks"], n_events + 2, "openai run {i}");
    }
    assert_eq!(r[8]["usage"], usage);
    assert_eq!(r[9]["content"], answer);
    assert_eq!(r[10], json!({"embeddings": 1}));
    assert_eq!(r[11]["content"], answer, "{}", r[11]);
    assert_eq!(r[11]["reasoning"], thinking, "{}", r[11]);
    assert_eq!(r[13]["content"], inline_content, "{}", r[13]);
    assert_eq!(r[13]["reasoning"], "");

    // What the clients sent.
    let reqs = field.requests();
    let find = |path: &str, pred: &dyn Fn(&Value) -> bool| {
        reqs.iter()
            .filter(|r| r.path == path)
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .find(|b| pred(b))
            .unwrap_or_else(|| panic!("no matching request to {path}"))
    };
    let b = find("/api/chat", &|b| b["stream"] == true);
    assert_eq!(b["think"], true);
    assert_eq!(
        find("/api/chat", &|b| b["stream"] == false)["think"],
        "high"
    );
    let b = find("/v1/chat/completions", &|b| {
        b.get("stream_options").is_some()
    });
    assert_eq!(b["stream_options"]["include_usage"], true);
    assert_eq!(b["stream"], true);
    // The openai client asks for base64 embeddings unless told otherwise (and decodes them itself).
    assert_eq!(
        find("/v1/embeddings", &|_| true)["encoding_format"],
        "base64"
    );
    assert!(
        reqs.iter().all(|r| r.completed),
        "every answer was sent whole"
    );
}
