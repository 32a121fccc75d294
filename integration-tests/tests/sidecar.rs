//! The sidecar end to end over raw HTTP, when all goes well: llmtel's `llm_proxy` in front of the LLM-server
//! emulator. What the client receives must be byte for byte what the emulator sent (every dialect, reasoning style
//! and chunking, compressed streams, HTTP/2 clients, unknown paths); the trace must have the request span with
//! `think` and `answer` children timed like the emulator's pacing; counts must match. What goes wrong (upstream
//! errors, broken streams, clients that leave, limits) is in `sidecar_failures.rs`.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use integration_tests::emulator::{Emulator, ReasoningStyle, Script, Split};
use integration_tests::traces::{
    Sidecar, attr, attr_b, attr_f, attr_i, attr_s, child, forwarded, hex, ms, post, secs,
};
use integration_tests::{http_request, raw_upstream};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_stream_reaches_the_client_unchanged_and_its_phases_match_the_pacing() {
    // 4 reasoning events 80 ms apart, then 3 answer events 50 ms apart.
    let script = Script {
        first_delay: ms(100),
        think_delay: ms(80),
        answer_delay: ms(50),
        answer: vec!["The".into(), " answer".into(), " é🎉".into()],
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let req = json!({"model": "qwen3:14b", "messages": [{"role": "user", "content": "hi"}], "think": true});
    let t0 = Instant::now();
    let resp = http_request(
        "POST",
        &format!("{}/api/chat", sidecar.url),
        &[
            ("content-type", "application/json"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("authorization", "Bearer sk-secret-123"),
        ],
        req.to_string().into_bytes(),
    )
    .await;
    let wall = t0.elapsed().as_secs_f64();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["content-type"], "application/x-ndjson");
    assert_eq!(
        resp.body,
        emu.body_for("/api/chat", &req),
        "the client got other bytes than the server sent"
    );

    let (span, children) = sidecar.trace("chat qwen3:14b").await;
    // The caller's trace continues; the upstream got the sidecar's span as its parent.
    assert_eq!(hex(&span.trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(hex(&span.parent_span_id), "b7ad6b7169203331");
    let upstream_tp = forwarded(&emu)[0].headers["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        upstream_tp,
        format!(
            "00-0af7651916cd43dd8448eb211c80319c-{}-01",
            hex(&span.span_id)
        )
    );
    assert_eq!(span.kind, 3, "CLIENT");
    assert_eq!(attr_s(&span, "gen_ai.operation.name"), Some("chat"));
    assert_eq!(attr_s(&span, "gen_ai.provider.name"), Some("ollama"));
    assert_eq!(attr_s(&span, "gen_ai.request.model"), Some("qwen3:14b"));
    assert_eq!(attr_s(&span, "gen_ai.response.model"), Some("qwen3:14b"));
    assert_eq!(attr_b(&span, "gen_ai.request.stream"), Some(true));
    assert_eq!(attr_s(&span, "llmtel.think.mode"), Some("on"));
    assert_eq!(attr_i(&span, "gen_ai.usage.input_tokens"), Some(12));
    assert_eq!(attr_i(&span, "gen_ai.usage.output_tokens"), Some(34));
    assert_eq!(
        attr_i(&span, "gen_ai.usage.reasoning.output_tokens"),
        None,
        "Ollama counts no thinking tokens"
    );
    assert_eq!(attr_i(&span, "llmtel.reasoning.chunks"), Some(4));
    assert_eq!(attr_i(&span, "llmtel.answer.chunks"), Some(3));
    assert_eq!(
        attr_i(&span, "server.port"),
        Some(i64::from(emu.addr().port()))
    );
    assert_eq!(attr_f(&span, "ollama.eval_duration"), Some(1.023456789));
    assert!(attr(&span, "error.type").is_none());
    assert!(
        span.attributes
            .iter()
            .all(|a| !format!("{a:?}").contains("sk-secret")),
        "the Authorization header leaked into the span"
    );

    // Pacing: TTFT ≈ 100 ms; think = 3 × 80 + 50 = 290 ms; answer = 2 × 50 = 100 ms. The machine is shared: only
    // generous upper bounds; lower bounds are exact (a chunk cannot come before it is sent).
    let ttft = attr_f(&span, "llmtel.time_to_first_token").unwrap();
    let ttfa = attr_f(&span, "llmtel.time_to_first_answer_token").unwrap();
    assert!((0.1..0.3).contains(&ttft), "time to first token {ttft}");
    assert!(
        (0.39..0.6).contains(&ttfa),
        "time to first answer token {ttfa}"
    );
    let think = child(&children, "think");
    let answer = child(&children, "answer");
    assert!(
        (0.29..0.45).contains(&secs(think)),
        "think took {}",
        secs(think)
    );
    assert!(
        (0.1..0.25).contains(&secs(answer)),
        "answer took {}",
        secs(answer)
    );
    assert_eq!(
        think.end_time_unix_nano, answer.start_time_unix_nano,
        "answer starts where think ends"
    );
    assert!(
        secs(&span) <= wall + 0.01 && secs(&span) >= 0.49,
        "request span {} vs wall {wall}",
        secs(&span)
    );
    assert_eq!(attr_i(think, "llmtel.chunks"), Some(4));
    assert_eq!(attr_i(think, "gen_ai.usage.output_tokens"), Some(4));
    assert_eq!(attr_b(think, "llmtel.usage.estimated"), Some(true));
    assert_eq!(
        attr_i(answer, "gen_ai.usage.output_tokens"),
        Some(30),
        "eval_count 34 − 4 think chunks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_three_spans_reach_the_pipeline_as_one_batch() {
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let req = json!({"model": "qwen3:14b", "messages": [], "think": true});
    let resp = post(&format!("{}/api/chat", sidecar.url), &req).await;
    assert_eq!(resp.status, 200);
    let (span, children) = sidecar.trace("chat qwen3:14b").await;
    // think and answer, and the server's prefill and decode from Ollama's timings (a warm load, no queue).
    assert_eq!(children.len(), 4, "think, answer, prefill, decode");
    let batches: Vec<_> = sidecar.capture.with(|c| {
        c.batches
            .iter()
            .filter_map(|b| match b {
                llmtel_pipelines::Payload::Traces(rs) => Some(rs.clone()),
                _ => None,
            })
            .collect()
    });
    assert_eq!(batches.len(), 1, "one batch per request");
    let [rs] = &batches[0][..] else {
        panic!("one resource: {:?}", batches[0]);
    };
    let resource = rs.resource.as_ref().expect("the sidecar's resource");
    assert!(
        resource.attributes.iter().any(|a| a.key == "service.name"),
        "{resource:?}"
    );
    let [scope] = &rs.scope_spans[..] else {
        panic!("one scope: {:?}", rs.scope_spans);
    };
    assert_eq!(
        scope.scope.as_ref().map(|s| s.name.as_str()),
        Some("llmtel")
    );
    let names: Vec<&str> = scope.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["prefill", "decode", "think", "answer", "chat qwen3:14b"]
    );
    assert!(scope.spans.iter().all(|s| s.trace_id == span.trace_id));
    assert_eq!(
        (span.kind, children[0].kind, children[1].kind),
        (3, 1, 1),
        "CLIENT, INTERNAL, INTERNAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dialect_and_reasoning_style_split_anywhere_gives_the_same_bytes_and_counts() {
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let cases = [
        (
            "/api/chat",
            ReasoningStyle::Field,
            json!({"model": "m", "messages": []}),
        ),
        (
            "/api/generate",
            ReasoningStyle::InlineTags,
            json!({"model": "m", "prompt": "x"}),
        ),
        (
            "/api/chat",
            ReasoningStyle::InlineClosingOnly,
            json!({"model": "m", "messages": []}),
        ),
        (
            "/api/generate",
            ReasoningStyle::None,
            json!({"model": "m", "prompt": "x"}),
        ),
        (
            "/v1/chat/completions",
            ReasoningStyle::Field,
            json!({"model": "m", "stream": true, "messages": []}),
        ),
        (
            "/v1/chat/completions",
            ReasoningStyle::FieldContent,
            json!({"model": "m", "stream": true, "messages": []}),
        ),
        (
            "/v1/completions",
            ReasoningStyle::InlineTags,
            json!({"model": "m", "stream": true, "prompt": "x"}),
        ),
        (
            "/v1/chat/completions",
            ReasoningStyle::InlineClosingOnly,
            json!({"model": "m", "stream": true, "messages": []}),
        ),
    ];
    for (i, (path, style, req)) in cases.into_iter().enumerate() {
        // Cut every 5 bytes: inside tags, inside multi-byte characters, across events.
        let script = Script {
            reasoning: style,
            split: Split::Every(5),
            model: format!("model-{i}"),
            ..Script::default()
        };
        emu.set_script(script.clone());
        let mut req = req;
        req["model"] = json!(format!("model-{i}"));
        let resp = post(&format!("{}{path}", sidecar.url), &req).await;
        assert_eq!(resp.status, 200, "{path} {style:?}");
        assert_eq!(
            resp.body,
            emu.body_for(path, &req),
            "{path} {style:?}: bytes differ"
        );
        let op = if path.contains("chat") {
            "chat"
        } else {
            "text_completion"
        };
        let (span, children) = sidecar.trace(&format!("{op} model-{i}")).await;
        let thinks = style != ReasoningStyle::None;
        assert_eq!(
            attr_b(&span, "llmtel.reasoning.present"),
            Some(thinks),
            "{path} {style:?}"
        );
        assert_eq!(
            attr_i(&span, "llmtel.reasoning.chunks"),
            Some(if thinks {
                script.thinking.len() as i64
            } else {
                0
            }),
            "{path} {style:?}"
        );
        assert_eq!(
            attr_i(&span, "llmtel.answer.chunks"),
            Some(script.answer.len() as i64),
            "{path} {style:?}"
        );
        assert_eq!(
            children.iter().any(|c| c.name == "think"),
            thinks,
            "{path} {style:?}"
        );
        assert!(
            children.iter().any(|c| c.name == "answer"),
            "{path} {style:?}"
        );
        assert_eq!(
            attr_i(&span, "gen_ai.usage.output_tokens"),
            Some(34),
            "{path} {style:?}"
        );
        assert!(
            attr(&span, "error.type").is_none(),
            "{path} {style:?}: {:?}",
            attr(&span, "error.type")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_added_for_exact_counts_is_removed_before_the_client_sees_it() {
    let script = Script {
        reasoning: ReasoningStyle::Field,
        usage_reasoning_tokens: Some(20),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let req = json!({"model": "qwen3:14b", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let resp = post(&format!("{}/v1/chat/completions", sidecar.url), &req).await;
    // The upstream was asked for usage, by one inserted member: every other byte is the client's, in its order.
    let sent = String::from_utf8(forwarded(&emu)[0].body.to_vec()).unwrap();
    assert_eq!(
        sent,
        format!(
            "{{\"stream_options\":{{\"include_usage\":true}},{}",
            &req.to_string()[1..]
        )
    );
    // …but the client got exactly what the server sends without it.
    assert_eq!(resp.body, emu.body_for("/v1/chat/completions", &req));
    assert!(!String::from_utf8_lossy(&resp.body).contains("\"usage\""));
    let (span, children) = sidecar.trace("chat qwen3:14b").await;
    assert_eq!(attr_i(&span, "gen_ai.usage.input_tokens"), Some(12));
    assert_eq!(attr_i(&span, "gen_ai.usage.output_tokens"), Some(34));
    assert_eq!(
        attr_i(&span, "gen_ai.usage.reasoning.output_tokens"),
        Some(20)
    );
    let think = child(&children, "think");
    assert_eq!(attr_i(think, "gen_ai.usage.output_tokens"), Some(20));
    assert_eq!(attr_b(think, "llmtel.usage.estimated"), Some(false));
    assert_eq!(
        attr_i(child(&children, "answer"), "gen_ai.usage.output_tokens"),
        Some(14)
    );

    // A client that asked for usage gets it, once; with include_usage off the request goes up unchanged.
    let asked = json!({"model": "asked", "stream": true, "stream_options": {"include_usage": true}, "messages": []});
    let resp = post(&format!("{}/v1/chat/completions", sidecar.url), &asked).await;
    assert_eq!(resp.body, emu.body_for("/v1/chat/completions", &asked));
    assert_eq!(
        String::from_utf8_lossy(&resp.body)
            .matches("\"usage\"")
            .count(),
        1
    );
    let plain = Sidecar::start(&emu.url(), "include_usage: false").await;
    let req2 = json!({"model": "plain", "stream": true, "messages": []});
    let resp = post(&format!("{}/v1/chat/completions", plain.url), &req2).await;
    assert_eq!(resp.body, emu.body_for("/v1/chat/completions", &req2));
    let last: serde_json::Value =
        serde_json::from_slice(&forwarded(&emu).last().unwrap().body).unwrap();
    assert_eq!(
        last, req2,
        "include_usage: false forwards the request unchanged"
    );
    let (span, _) = plain.trace("chat plain").await;
    assert_eq!(
        attr_i(&span, "gen_ai.usage.output_tokens"),
        None,
        "no usage without asking"
    );

    // A server that refuses the added member gets the request again exactly as the client wrote it.
    emu.set_script(Script {
        status: 400,
        ..Script::default()
    });
    let before = forwarded(&emu).len();
    let req3 = json!({"model": "strict", "stream": true, "messages": []});
    let resp = post(&format!("{}/v1/chat/completions", sidecar.url), &req3).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.body, emu.body_for("/v1/chat/completions", &req3));
    let seen = forwarded(&emu);
    assert_eq!(
        seen.len(),
        before + 2,
        "one try with stream_options, one as sent"
    );
    assert_eq!(seen[before + 1].body, req3.to_string().into_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_and_embedding_requests_record_counts_and_invent_no_phases() {
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let req = json!({"model": "qwen3:14b", "stream": false, "think": false, "messages": []});
    let resp = post(&format!("{}/api/chat", sidecar.url), &req).await;
    assert_eq!(resp.body, emu.body_for("/api/chat", &req));
    let (span, children) = sidecar.trace("chat qwen3:14b").await;
    // The server's own timings still give its phases; what the client saw cannot be split without a stream.
    let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["prefill", "decode"],
        "no think/answer spans without a stream: {children:?}"
    );
    assert_eq!(attr_b(&span, "llmtel.reasoning.present"), Some(true));
    assert_eq!(attr_s(&span, "llmtel.think.mode"), Some("off"));
    assert_eq!(attr_i(&span, "gen_ai.usage.output_tokens"), Some(34));
    assert_eq!(attr_b(&span, "gen_ai.request.stream"), Some(false));
    assert_eq!(attr(&span, "llmtel.time_to_first_answer_token"), None);
    assert_eq!(
        attr(&span, "error.type"),
        None,
        "a whole body read to its end is no error"
    );

    let req = json!({"model": "oai", "messages": []});
    let resp = post(&format!("{}/v1/chat/completions", sidecar.url), &req).await;
    assert_eq!(resp.body, emu.body_for("/v1/chat/completions", &req));
    let (span, children) = sidecar.trace("chat oai").await;
    assert!(children.is_empty());
    assert_eq!(attr_i(&span, "gen_ai.usage.input_tokens"), Some(12));

    for (path, name) in [
        ("/api/embed", "embeddings emb"),
        ("/v1/embeddings", "embeddings emb2"),
    ] {
        let model = name.split(' ').nth(1).unwrap();
        let req = json!({"model": model, "input": "hello"});
        let resp = post(&format!("{}{path}", sidecar.url), &req).await;
        assert_eq!(resp.body, emu.body_for(path, &req), "{path}");
        let (span, children) = sidecar.trace(name).await;
        assert!(children.is_empty());
        assert_eq!(attr_s(&span, "gen_ai.operation.name"), Some("embeddings"));
        assert_eq!(
            attr_i(&span, "gen_ai.usage.input_tokens"),
            Some(12),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_pass_through_untouched_with_a_plain_http_span() {
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let resp = http_request(
        "GET",
        &format!("{}/api/version?x=1", sidecar.url),
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        )],
        Vec::new(),
    )
    .await;
    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &br#"{"version":"0.33.0"}"#[..])
    );
    let (span, children) = sidecar.trace("GET").await;
    assert!(children.is_empty());
    assert_eq!(attr_s(&span, "url.path"), Some("/api/version"));
    assert_eq!(attr_i(&span, "http.response.status_code"), Some(200));
    assert_eq!(forwarded(&emu)[0].path, "/api/version");
    let tp = forwarded(&emu)[0].headers["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && tp.ends_with("-00"),
        "the caller sampled out; the upstream is told so: {tp}"
    );

    // Arbitrary bytes, streamed both ways.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let resp = http_request(
        "POST",
        &format!("{}/echo/blob", sidecar.url),
        &[("content-type", "application/octet-stream")],
        payload.clone(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, payload);
    assert_eq!(resp.headers["content-type"], "application/octet-stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_client_is_served_too() {
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let req = json!({"model": "h2", "messages": []});
    let resp = client
        .request(
            http::Request::post(format!("{}/api/chat", sidecar.url))
                .body(Full::new(Bytes::from(req.to_string())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, emu.body_for("/api/chat", &req));
    sidecar.trace("chat h2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_of_unknown_length_streams_upstream_whole() {
    // An HTTP/2 client streaming a body it did not measure: no content-length reaches the sidecar, which sends it
    // upstream chunked; the emulator echoes what it received.
    let emu = Emulator::start(Script::default()).await;
    let sidecar = Sidecar::start(&emu.url(), "").await;
    let parts: Vec<Bytes> = (0..20u8)
        .map(|i| Bytes::from(vec![i; 1000 + usize::from(i) * 37]))
        .collect();
    let expected: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let frames = parts
        .into_iter()
        .map(|p| Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(p)));
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let resp = client
        .request(
            http::Request::post(format!("{}/echo/stream", sidecar.url))
                .header("content-type", "application/octet-stream")
                .body(body)
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the echo differs from what was sent");
    let sent = &forwarded(&emu)[0];
    assert!(
        sent.headers.get("content-length").is_none()
            && sent.headers.get("transfer-encoding").map(|v| v.as_bytes()) == Some(&b"chunked"[..]),
        "went upstream chunked: {:?}",
        sent.headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_recorded_only_when_opted_in() {
    let emu = Emulator::start(Script::default()).await;
    let req = json!({"model": "c", "stream": true, "messages": [{"role": "user", "content": "secret prompt"}]});
    let off = Sidecar::start(&emu.url(), "").await;
    post(&format!("{}/api/chat", off.url), &req).await;
    let (span, _) = off.trace("chat c").await;
    assert!(attr(&span, "gen_ai.input.messages").is_none());
    assert!(format!("{:?}", off.spans()).find("secret prompt").is_none());
    assert!(format!("{:?}", off.spans()).find("voilà").is_none());

    let on = Sidecar::start(&emu.url(), "capture_content: true").await;
    post(&format!("{}/api/chat", on.url), &req).await;
    let (span, _) = on.trace("chat c").await;
    let input: serde_json::Value =
        serde_json::from_str(attr_s(&span, "gen_ai.input.messages").unwrap()).unwrap();
    assert_eq!(input[0]["parts"][0]["content"], "secret prompt");
    let output: serde_json::Value =
        serde_json::from_str(attr_s(&span, "gen_ai.output.messages").unwrap()).unwrap();
    let script = Script::default();
    assert_eq!(output[0]["parts"][0]["type"], "reasoning");
    assert_eq!(output[0]["parts"][0]["content"], script.thinking.concat());
    assert_eq!(output[0]["parts"][1]["content"], script.answer.concat());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_stream_passes_unchanged_and_is_not_parsed() {
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03binary-gzip-bytes\n\n\x00\xff";
    let upstream = raw_upstream(RESP).await;
    let sidecar = Sidecar::start(&upstream, "").await;
    let req = json!({"model": "gz", "stream": true, "messages": []});
    let resp = post(&format!("{}/v1/chat/completions", sidecar.url), &req).await;
    assert_eq!(resp.headers["content-encoding"], "gzip");
    let head_end = RESP.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&resp.body[..], &RESP[head_end..]);
    let (span, _) = sidecar.trace("chat gz").await;
    assert_eq!(
        attr_s(&span, "llmtel.response.content_encoding"),
        Some("gzip")
    );
    assert_eq!(attr_i(&span, "llmtel.stream.parse_errors"), None);
    assert_eq!(
        attr_s(&span, "error.type"),
        None,
        "not parsed is not broken"
    );
}
