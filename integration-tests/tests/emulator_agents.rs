//! The emulator's agent-era formats checked on their own: `/v1/responses` and `/v1/messages` (streamed and whole),
//! tool calls and cache counts in every dialect, Ollama's chat-stream layouts. The bytes must be exactly what
//! `body_for` predicts under hostile splits (inside event names, between `event:` and `data:` lines, inside JSON,
//! inside UTF-8 characters, and at pseudo-random offsets) and reassemble to valid events; the pacing must hold for
//! streams that open with framing events; and the real `openai` and `anthropic` Python clients must read them.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use integration_tests::emulator::{
    ChatChunks, Emulator, ReasoningStyle, ResponsesReasoning, Script, Split, ToolCall,
};
use integration_tests::py::{ANTHROPIC_PY, RESPONSES_PY, pythons, require_python_clients};
use integration_tests::try_http_request;
use serde_json::{Value, json};

/// A script with reasoning, answer, one tool call (arguments in three pieces) and both cache counts.
fn agent_script() -> Script {
    Script {
        tool_calls: vec![ToolCall::new(
            "call_1",
            "get_weather",
            &[r#"{"city":"#, r#""Par"#, r#"is 🗼"}"#],
        )],
        prompt_tokens: 40,
        cached_tokens: Some(24),
        cache_creation_tokens: Some(6),
        usage_reasoning_tokens: Some(4),
        ..Script::default()
    }
}

/// The events of an SSE body with `event:` lines: (event name, data JSON); every event has both lines and the
/// data's `type` equals the event name.
fn sse_events(body: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(body).expect("the stream is UTF-8");
    assert!(text.ends_with("\n\n"), "the stream ends with a blank line");
    text.split_terminator("\n\n")
        .map(|e| {
            let (event, data) = e
                .split_once('\n')
                .unwrap_or_else(|| panic!("no data line: {e:?}"));
            let name = event.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap())
                .unwrap_or_else(|err| panic!("bad data {data:?}: {err}"));
            assert_eq!(data["type"], name.as_str(), "{e}");
            (name, data)
        })
        .collect()
}

/// Every stream request of the new dialects (and their whole bodies).
fn agent_cases() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/v1/responses",
            json!({"model": "m", "input": "hi", "stream": true}),
        ),
        ("/v1/responses", json!({"model": "m", "input": "hi"})),
        (
            "/v1/messages",
            json!({"model": "m", "max_tokens": 9, "messages": [], "stream": true}),
        ),
        (
            "/v1/messages",
            json!({"model": "m", "max_tokens": 9, "messages": []}),
        ),
    ]
}

/// Cut offsets of `body` that hurt: inside every event name, right after every `event:` line, in the middle of
/// every `data:` line, inside every multi-byte character.
fn hostile_cuts(body: &[u8]) -> Vec<usize> {
    let text = std::str::from_utf8(body).unwrap();
    let mut cuts = vec![1];
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("event: ") {
            cuts.push(at + "event: ".len() + 3);
            cuts.push(at + line.len());
        } else if line.starts_with("data: ") {
            cuts.push(at + line.len() / 2);
        }
        at += line.len();
    }
    cuts.extend(
        text.char_indices()
            .filter(|(_, c)| c.len_utf8() > 1)
            .map(|(i, _)| i + 1),
    );
    cuts
}

/// Posts `req` to `path` and returns the whole body (failing on a transport error).
async fn fetch(emu: &Emulator, path: &str, req: &Value) -> Vec<u8> {
    let a = try_http_request(
        "POST",
        &format!("{}{path}", emu.url()),
        &[("content-type", "application/json")],
        req.to_string().into_bytes(),
    )
    .await
    .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(a.status, 200, "{path}");
    a.body.to_vec()
}

#[tokio::test]
async fn new_dialects_are_byte_exact_under_hostile_and_random_splits() {
    let emu = Emulator::start(Script::default()).await;
    let base = agent_script();
    let scripts = [
        base.clone(),
        Script {
            responses_reasoning: ResponsesReasoning::Summary,
            ..base.clone()
        },
        Script {
            reasoning: ReasoningStyle::InlineTags,
            ..base.clone()
        },
        Script {
            reasoning: ReasoningStyle::None,
            tool_calls: vec![],
            ..base.clone()
        },
    ];
    // A small linear congruential generator: the same "random" offsets on every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n.max(1)
    };
    for script in &scripts {
        for (path, req) in agent_cases() {
            emu.set_script(script.clone());
            let expected = emu.body_for(path, &req);
            if req["stream"] == true {
                sse_events(&expected);
            } else {
                serde_json::from_slice::<Value>(&expected).unwrap();
            }
            let mut splits = vec![Split::At(hostile_cuts(&expected)), Split::Every(1)];
            for _ in 0..8 {
                let n = 1 + next(12);
                splits.push(Split::At((0..n).map(|_| next(expected.len())).collect()));
            }
            for split in splits {
                emu.set_script(Script {
                    split: split.clone(),
                    ..script.clone()
                });
                let got = fetch(&emu, path, &req).await;
                assert_eq!(got, expected, "{path} {split:?}");
            }
        }
    }
}

#[tokio::test]
async fn responses_stream_has_each_servers_events_usage_and_function_calls() {
    let emu = Emulator::start(agent_script()).await;
    let req = json!({"stream": true});
    let events = sse_events(&emu.body_for("/v1/responses", &req));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["response.created", "response.in_progress"]);
    assert_eq!(names.last(), Some(&"response.completed"));
    let count = |n: &str| names.iter().filter(|x| **x == n).count();
    assert_eq!(count("response.reasoning_text.delta"), 4);
    assert_eq!(count("response.reasoning_summary_text.delta"), 0);
    assert_eq!(count("response.output_text.delta"), 6);
    assert_eq!(count("response.function_call_arguments.delta"), 3);
    assert_eq!(count("response.output_item.added"), 3);
    assert_eq!(count("response.output_item.done"), 3);
    let seqs: Vec<u64> = events
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
    let added: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.added")
        .map(|(_, d)| &d["item"])
        .collect();
    assert_eq!(added[0]["type"], "reasoning");
    assert_eq!(added[1]["type"], "message");
    assert_eq!(
        (&added[2]["type"], &added[2]["call_id"], &added[2]["name"]),
        (
            &json!("function_call"),
            &json!("call_1"),
            &json!("get_weather")
        )
    );
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 40, "input_tokens_details": {"cached_tokens": 24}, "output_tokens": 34,
               "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 74})
    );
    assert_eq!(done["output"][2]["arguments"], r#"{"city":"Paris 🗼"}"#);

    // Ollama: reasoning summary events, and the usage details hard-coded to 0.
    emu.set_script(Script {
        responses_reasoning: ResponsesReasoning::Summary,
        cached_tokens: None,
        usage_reasoning_tokens: None,
        ..agent_script()
    });
    let events = sse_events(&emu.body_for("/v1/responses", &req));
    let deltas: String = events
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, Script::default().thinking.concat());
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(done["output"][0]["summary"][0]["text"], deltas);
}

#[tokio::test]
async fn anthropic_stream_has_blocks_signature_tool_use_and_cache_usage() {
    let emu = Emulator::start(agent_script()).await;
    let events = sse_events(&emu.body_for("/v1/messages", &json!({"stream": true})));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["message_start", "ping"]);
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    let start = &events[0].1["message"];
    assert_eq!(
        start["usage"],
        json!({"input_tokens": 10, "cache_creation_input_tokens": 6, "cache_read_input_tokens": 24,
               "output_tokens": 0})
    );
    let blocks: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| &d["content_block"])
        .collect();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["thinking", "text", "tool_use"]);
    assert_eq!(
        (&blocks[2]["id"], &blocks[2]["name"]),
        (&json!("call_1"), &json!("get_weather"))
    );
    let deltas: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["type"].as_str().unwrap())
        .collect();
    let count = |t: &str| deltas.iter().filter(|d| **d == t).count();
    assert_eq!(
        [
            count("thinking_delta"),
            count("signature_delta"),
            count("text_delta"),
            count("input_json_delta")
        ],
        [4, 1, 6, 3]
    );
    let end = &events[events.len() - 2].1;
    assert_eq!(end["delta"]["stop_reason"], "tool_use");
    assert_eq!(end["usage"], json!({"output_tokens": 34}));

    let whole: Value = serde_json::from_slice(&emu.body_for("/v1/messages", &json!({}))).unwrap();
    assert_eq!(whole["content"][2]["input"], json!({"city": "Paris 🗼"}));
    assert_eq!(whole["stop_reason"], "tool_use");
    assert_eq!(whole["usage"]["output_tokens"], 34);

    // No tool call, no cache counts: end_turn, and no cache fields.
    emu.set_script(Script::default());
    let events = sse_events(&emu.body_for("/v1/messages", &json!({"stream": true})));
    assert_eq!(
        events[0].1["message"]["usage"],
        json!({"input_tokens": 12, "output_tokens": 0})
    );
    assert_eq!(
        events[events.len() - 2].1["delta"]["stop_reason"],
        "end_turn"
    );
    // A failing server answers in Anthropic's error shape.
    emu.set_script(Script {
        status: 529,
        ..Script::default()
    });
    let a = try_http_request("POST", &format!("{}/v1/messages", emu.url()), &[], vec![])
        .await
        .unwrap();
    assert_eq!(a.status, 529);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(
        (&v["type"], &v["error"]["type"]),
        (&json!("error"), &json!("api_error"))
    );
}

/// The `data:` JSON objects of an OpenAI chat stream, without `[DONE]`.
fn chat_chunks(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    text.split_terminator("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn tool_calls_and_cached_tokens_in_ollama_and_openai_chat_and_the_chat_layouts() {
    let emu = Emulator::start(agent_script()).await;
    // Ollama: each call whole in a chunk of its own, arguments parsed.
    let body = emu.body_for("/api/chat", &json!({}));
    let lines: Vec<Value> = std::str::from_utf8(&body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l["message"].get("tool_calls"))
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0],
        &json!([{"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris 🗼"}}}])
    );
    let whole: Value =
        serde_json::from_slice(&emu.body_for("/api/chat", &json!({"stream": false}))).unwrap();
    assert_eq!(
        whole["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );

    // OpenAI: a first fragment with id and name, then the argument pieces; finish_reason tool_calls; cached tokens.
    let req = json!({"stream": true, "stream_options": {"include_usage": true}});
    let chunks = chat_chunks(&emu.body_for("/v1/chat/completions", &req));
    let frags: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .map(|t| &t[0])
        .collect();
    assert_eq!(frags.len(), 4);
    assert_eq!(
        (
            &frags[0]["index"],
            &frags[0]["id"],
            &frags[0]["function"]["name"]
        ),
        (&json!(0), &json!("call_1"), &json!("get_weather"))
    );
    let args: String = frags
        .iter()
        .map(|f| f["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(args, r#"{"city":"Paris 🗼"}"#);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"]["prompt_tokens_details"],
        json!({"cached_tokens": 24})
    );
    let whole: Value =
        serde_json::from_slice(&emu.body_for("/v1/chat/completions", &json!({}))).unwrap();
    assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        r#"{"city":"Paris 🗼"}"#
    );

    // Ollama's newest layout: role only first, finish on its own `{}` chunk, usage on a `choices: []` chunk.
    emu.set_script(Script {
        chat_chunks: ChatChunks::OllamaNewest,
        ..Script::default()
    });
    let chunks = chat_chunks(&emu.body_for("/v1/chat/completions", &req));
    let roles = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"].get("role").is_some())
        .count();
    assert_eq!(roles, 1);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(
        (&finish["delta"], &finish["finish_reason"]),
        (&json!({}), &json!("stop"))
    );
    assert_eq!(chunks[chunks.len() - 1]["choices"], json!([]));
    // The older layout: finish_reason rides on the last content chunk.
    emu.set_script(Script {
        chat_chunks: ChatChunks::OllamaLegacy,
        ..Script::default()
    });
    let chunks = chat_chunks(&emu.body_for("/v1/chat/completions", &req));
    let last = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(
        (&last["delta"]["content"], &last["finish_reason"]),
        (&json!("."), &json!("stop"))
    );
    assert_eq!(chunks.len(), 4 + 6 + 1, "no finish chunk of its own");
}

#[tokio::test]
async fn new_dialects_wait_first_delay_before_the_first_token_not_the_first_event() {
    let script = Script {
        thinking: vec!["a".into(), "b".into()],
        answer: vec!["x".into()],
        first_delay: Duration::from_millis(150),
        think_delay: Duration::from_millis(60),
        answer_delay: Duration::from_millis(60),
        end_delay: Duration::from_millis(200),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    for (path, req) in [
        ("/v1/responses", json!({"stream": true})),
        ("/v1/messages", json!({"stream": true})),
    ] {
        let t0 = Instant::now();
        let resp = client
            .request(
                http::Request::post(format!("{}{path}", emu.url()))
                    .body(Full::new(Bytes::from(req.to_string())))
                    .unwrap(),
            )
            .await
            .unwrap();
        let mut body = resp.into_body();
        let mut got = Vec::new();
        let mut first = None;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                first.get_or_insert_with(|| t0.elapsed());
                got.extend_from_slice(&data);
            }
        }
        let took = t0.elapsed();
        assert_eq!(got, emu.body_for(path, &req));
        // `response.created` / `message_start` go at once, before the first token's 150 ms.
        let first = first.unwrap();
        assert!(
            first < Duration::from_millis(120),
            "{path}: first bytes at {first:?}"
        );
        // 150 + 60 + 60 ms of pacing, then the body is held open 200 ms after its last byte.
        assert!(took >= Duration::from_millis(470), "{path}: {took:?}");
        assert!(took < Duration::from_secs(3), "{path}: {took:?}");
    }
    assert!(emu.requests().iter().all(|r| r.completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_openai_and_anthropic_clients_read_the_new_dialects() {
    require_python_clients();
    let script = Script {
        split: Split::Every(5),
        ..agent_script()
    };
    let text = Emulator::start(script.clone()).await;
    let summary = Emulator::start(Script {
        responses_reasoning: ResponsesReasoning::Summary,
        ..script.clone()
    })
    .await;
    let (t, sm) = (text.url(), summary.url());
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let runs = vec![
        (RESPONSES_PY, s(&[&t, "qwen3:14b", "stream"])),
        (RESPONSES_PY, s(&[&t, "qwen3:14b", "whole"])),
        (RESPONSES_PY, s(&[&sm, "qwen3:14b", "stream"])),
        (ANTHROPIC_PY, s(&[&t, "qwen3:14b", "stream"])),
        (ANTHROPIC_PY, s(&[&t, "qwen3:14b", "helper"])),
        (ANTHROPIC_PY, s(&[&t, "qwen3:14b", "whole"])),
    ];
    let r = pythons(runs).await;
    let thinking = script.thinking.concat();
    let answer = script.answer.concat();
    for (i, run) in r.iter().enumerate().take(3) {
        assert_eq!(run["text"], answer, "responses run {i}: {}", run);
        assert_eq!(run["output_text"], answer, "responses run {i}");
        assert_eq!(run["reasoning"], thinking, "responses run {i}");
        assert_eq!(run["status"], "completed", "responses run {i}");
        assert_eq!(
            run["tool_calls"],
            json!([{"call_id": "call_1", "name": "get_weather", "arguments": r#"{"city":"Paris 🗼"}"#}]),
            "responses run {i}"
        );
        assert_eq!(run["usage"]["input_tokens"], 40, "responses run {i}");
        assert_eq!(run["usage"]["input_tokens_details"]["cached_tokens"], 24);
        assert_eq!(run["usage"]["output_tokens_details"]["reasoning_tokens"], 4);
    }
    assert_eq!(
        r[0]["events"].as_array().unwrap().last(),
        Some(&json!("response.completed"))
    );
    for (i, run) in r.iter().enumerate().skip(3) {
        assert_eq!(run["text"], answer, "anthropic run {i}: {}", run);
        assert_eq!(run["thinking"], thinking, "anthropic run {i}");
        assert_eq!(run["signature"], "c2lnLWVtdWxhdGVk", "anthropic run {i}");
        assert_eq!(run["stop_reason"], "tool_use", "anthropic run {i}");
        assert_eq!(
            run["tool_calls"],
            json!([{"id": "call_1", "name": "get_weather", "input": {"city": "Paris 🗼"}}]),
            "anthropic run {i}"
        );
        assert_eq!(
            run["usage"],
            json!({"input_tokens": 10, "cache_creation_input_tokens": 6, "cache_read_input_tokens": 24,
                   "output_tokens": 34}),
            "anthropic run {i}"
        );
    }
    assert_eq!(
        r[3]["events"].as_array().unwrap().last(),
        Some(&json!("message_stop"))
    );
    // What the clients sent: a stream flag where they stream, the thinking request and the tools.
    let reqs = text.requests();
    let bodies: Vec<Value> = reqs
        .iter()
        .filter(|r| r.path == "/v1/messages")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies
            .iter()
            .all(|b| b["thinking"]["type"] == "enabled" && b["tools"][0]["name"] == "get_weather")
    );
    assert!(
        reqs.iter().all(|r| r.completed),
        "every answer was sent whole"
    );
}
