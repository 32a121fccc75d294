//! The sidecar with the APIs coding agents use: the real `openai` client's `responses.create` and the real
//! `anthropic` client's `messages.create` (streamed and whole, with a thinking block, a tool call and cached prompt
//! tokens), each run straight at the emulator and through llmtel, must print the same thing; each proxied request
//! is one GenAI span with `think` and `answer` children timed like the emulator's pacing, the token and cache
//! counts the client was told, and the tool call. Also: tool calls and cached tokens on the older dialects, a
//! client that closes right after the stream's end marker (no error), and Ollama's newest chat-stream layout.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use integration_tests::emulator::{ChatChunks, Emulator, Script, Split, ToolCall};
use integration_tests::py::{ANTHROPIC_PY, RESPONSES_PY, pythons, require_python_clients};
use integration_tests::traces::{
    Sidecar, attr, attr_b, attr_i, attr_s, child, ms, post, secs, spans_in,
};
use llmtel_config::semconv::attr as sc;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

/// Reasoning (4 pieces 60 ms apart), answer (6 pieces 40 ms apart), one tool call (its name, then 3 argument
/// pieces, 40 ms apart), 40 prompt tokens of which 24 read from and 6 written to the cache.
fn paced_agent_script() -> Script {
    Script {
        tool_calls: vec![ToolCall::new(
            "call_1",
            "get_weather",
            &[r#"{"city":"#, r#""Par"#, r#"is 🗼"}"#],
        )],
        prompt_tokens: 40,
        cached_tokens: Some(24),
        cache_creation_tokens: Some(6),
        first_delay: ms(50),
        think_delay: ms(60),
        answer_delay: ms(40),
        split: Split::Every(11),
        ..Script::default()
    }
}

/// Attribute `key` as a list of strings.
fn attr_strings(span: &Span, key: &str) -> Option<Vec<String>> {
    match attr(span, key)? {
        Any::ArrayValue(a) => Some(
            a.values
                .iter()
                .filter_map(|v| match &v.value {
                    Some(Any::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The one request span of `sidecar` (waiting up to 10 s for it) and its children; fails if there are more.
async fn only_request(sidecar: &Sidecar, what: &str) -> (Span, Vec<Span>) {
    let ok = sidecar
        .capture
        .wait_for(Duration::from_secs(10), |c| {
            spans_in(c).iter().any(|s| attr(s, sc::PHASE).is_none())
        })
        .await;
    // Children come in the same batch as their parent.
    let spans = sidecar.spans();
    let requests: Vec<&Span> = spans
        .iter()
        .filter(|s| attr(s, sc::PHASE).is_none())
        .collect();
    assert!(
        ok && requests.len() == 1,
        "{what}: request spans {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let parent = requests[0].clone();
    let children = spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id)
        .cloned()
        .collect();
    (parent, children)
}

/// The tool call of [`paced_agent_script`] on `span`: one call of `get_weather`, finish reason `tool_call`.
fn assert_tool_call(span: &Span, what: &str) {
    assert_eq!(attr_i(span, sc::TOOL_CALLS), Some(1), "{what}: tool calls");
    assert_eq!(
        attr_strings(span, sc::TOOL_NAMES),
        Some(vec!["get_weather".to_owned()]),
        "{what}: tool names"
    );
    assert_eq!(
        attr_strings(span, sc::RESPONSE_FINISH_REASONS),
        Some(vec!["tool_call".to_owned()]),
        "{what}: finish reasons"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_and_anthropic_clients_answer_the_same_through_the_sidecar_and_are_traced() {
    require_python_clients();
    let script = paced_agent_script();
    // (script, mode, streams, whether the API has a cache-creation count)
    let cases: [(&'static str, &str, bool, bool); 4] = [
        (RESPONSES_PY, "stream", true, false),
        (RESPONSES_PY, "whole", false, false),
        (ANTHROPIC_PY, "stream", true, true),
        (ANTHROPIC_PY, "whole", false, true),
    ];
    let mut emus = Vec::new();
    let mut sidecars = Vec::new();
    for _ in &cases {
        let emu = Emulator::start(script.clone()).await;
        sidecars.push(Sidecar::start(&emu.url(), "").await);
        emus.push(emu);
    }
    let runs = |urls: Vec<String>| -> Vec<(&'static str, Vec<String>)> {
        cases
            .iter()
            .zip(urls)
            .map(|((py, mode, ..), url)| (*py, vec![url, "qwen3:14b".into(), (*mode).to_owned()]))
            .collect()
    };
    let straight = pythons(runs(emus.iter().map(Emulator::url).collect())).await;
    let through = pythons(runs(sidecars.iter().map(|s| s.url.clone()).collect())).await;
    for (i, (s, t)) in straight.iter().zip(&through).enumerate() {
        assert_eq!(
            s, t,
            "run {i} {:?}: different answer through the sidecar",
            cases[i]
        );
    }
    for (i, ((py, mode, streams, creation), sidecar)) in cases.iter().zip(&sidecars).enumerate() {
        let what = format!("run {i} ({}, {mode})", py.rsplit('/').next().unwrap_or(py));
        let (span, children) = only_request(sidecar, &what).await;
        assert_eq!(span.name, "chat qwen3:14b", "{what}");
        assert_eq!(attr_s(&span, sc::OPERATION_NAME), Some("chat"), "{what}");
        assert_eq!(attr_b(&span, sc::REQUEST_STREAM), Some(*streams), "{what}");
        assert!(
            attr(&span, sc::ERROR_TYPE).is_none(),
            "{what}: {:?}",
            attr(&span, sc::ERROR_TYPE)
        );
        // What the client was told: Responses input_tokens 40; Anthropic input_tokens 10 + cache 24 + 6.
        assert_eq!(
            attr_i(&span, sc::USAGE_INPUT_TOKENS),
            Some(40),
            "{what}: input tokens"
        );
        assert_eq!(
            attr_i(&span, sc::USAGE_OUTPUT_TOKENS),
            Some(34),
            "{what}: output tokens"
        );
        assert_eq!(
            attr_i(&span, sc::USAGE_CACHE_READ_INPUT_TOKENS),
            Some(24),
            "{what}: cache read"
        );
        assert_eq!(
            attr_i(&span, sc::USAGE_CACHE_CREATION_INPUT_TOKENS),
            creation.then_some(6),
            "{what}: cache creation"
        );
        assert_tool_call(&span, &what);
        if !streams {
            continue;
        }
        // Pacing: think = 3 × 60 + 40 = 220 ms (first reasoning token to first answer token); answer = 5 more text
        // pieces and the call's 4 events, 40 ms each = 360 ms. Lower bounds exact, upper bounds generous.
        let think = child(&children, "think");
        let answer = child(&children, "answer");
        assert!(
            (0.215..0.6).contains(&secs(think)),
            "{what}: think took {}",
            secs(think)
        );
        assert!(
            (0.355..0.8).contains(&secs(answer)),
            "{what}: answer took {}",
            secs(answer)
        );
        assert_eq!(
            think.end_time_unix_nano, answer.start_time_unix_nano,
            "{what}"
        );
        assert_eq!(
            attr_i(&span, sc::REASONING_CHUNKS),
            Some(4),
            "{what}: reasoning chunks"
        );
    }
}

/// Posts `req` to `url` and reads the streamed body until it holds `marker`, then drops the connection.
async fn read_until(url: &str, req: &Value, marker: &str) -> Vec<u8> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Full<Bytes>>();
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(req.to_string())))
        .unwrap();
    let mut body = client.request(request).await.unwrap().into_body();
    let mut got = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            got.extend_from_slice(&data);
        }
        if String::from_utf8_lossy(&got).contains(marker) {
            break;
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_closing_right_after_the_end_marker_leaves_no_error_on_the_span() {
    // The server keeps each body open 2 s after its end marker; the client leaves as soon as it has the marker.
    let script = Script {
        end_delay: Duration::from_secs(2),
        ..Script::default()
    };
    let cases = [
        (
            "/api/chat",
            json!({"model": "qwen3:14b", "messages": []}),
            "\"done\":true",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "qwen3:14b", "messages": [], "stream": true}),
            "data: [DONE]\n\n",
        ),
        (
            "/v1/responses",
            json!({"model": "qwen3:14b", "input": "hi", "stream": true}),
            "event: response.completed\n",
        ),
        (
            "/v1/messages",
            json!({"model": "qwen3:14b", "max_tokens": 99, "messages": [], "stream": true}),
            "event: message_stop\n",
        ),
    ];
    for (path, req, marker) in cases {
        let emu = Emulator::start(script.clone()).await;
        let sidecar = Sidecar::start(&emu.url(), "").await;
        let got = read_until(&format!("{}{path}", sidecar.url), &req, marker).await;
        let whole = emu.body_for(path, &req);
        // The marker is in the last event; wait for its end (a partly received event is not the marker yet).
        assert!(
            whole.starts_with(&got) && !got.is_empty(),
            "{path}: got other bytes"
        );
        assert!(
            emu.wait_cancelled(Duration::from_secs(5)).await,
            "{path}: the client left before the body ended"
        );
        let (span, _) = only_request(&sidecar, path).await;
        assert!(
            attr(&span, sc::ERROR_TYPE).is_none(),
            "{path}: error.type {:?} although the end marker reached the client",
            attr(&span, sc::ERROR_TYPE)
        );
        assert!(
            attr_strings(&span, sc::RESPONSE_FINISH_REASONS).is_some(),
            "{path}: finish reason"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_and_cached_tokens_are_traced_on_ollama_and_openai_chat_streams() {
    let script = Script {
        cached_tokens: Some(24),
        ..paced_agent_script()
    };
    let emu = Emulator::start(script).await;
    // The answer phase: 5 more text pieces, then the call's events, 40 ms each: Ollama sends the call whole
    // (5 + 1 = 240 ms), OpenAI its name then 3 argument pieces (5 + 4 = 360 ms).
    for (path, req, cache, answer_s) in [
        (
            "/api/chat",
            json!({"model": "qwen3:14b", "messages": []}),
            None,
            0.24,
        ),
        (
            "/v1/chat/completions",
            json!({"model": "qwen3:14b", "messages": [], "stream": true}),
            Some(24),
            0.36,
        ),
    ] {
        let sidecar = Sidecar::start(&emu.url(), "").await;
        let a = post(&format!("{}{path}", sidecar.url), &req).await;
        assert_eq!(a.body, emu.body_for(path, &req), "{path}");
        let (span, children) = only_request(&sidecar, path).await;
        assert_tool_call(&span, path);
        assert_eq!(
            attr_i(&span, sc::USAGE_CACHE_READ_INPUT_TOKENS),
            cache,
            "{path}: cache read"
        );
        assert_eq!(attr_i(&span, sc::USAGE_INPUT_TOKENS), Some(40), "{path}");
        let answer = child(&children, "answer");
        assert!(
            (answer_s - 0.005..answer_s + 0.4).contains(&secs(answer)),
            "{path}: answer took {}",
            secs(answer)
        );
    }
}

/// The attributes that must not depend on the chat stream's layout.
fn facts(span: &Span) -> Vec<(String, String)> {
    [
        sc::USAGE_INPUT_TOKENS,
        sc::USAGE_OUTPUT_TOKENS,
        sc::RESPONSE_FINISH_REASONS,
        sc::REASONING_CHUNKS,
        sc::ANSWER_CHUNKS,
        sc::RESPONSE_MODEL,
        sc::ERROR_TYPE,
        sc::STREAM_PARSE_ERRORS,
    ]
    .iter()
    .map(|k| ((*k).to_owned(), format!("{:?}", attr(span, k))))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollamas_newest_chat_stream_layout_gives_the_same_span_as_the_older_ones() {
    let req = json!({"model": "qwen3:14b", "messages": [], "stream": true, "stream_options": {"include_usage": true}});
    let mut seen = Vec::new();
    for layout in [
        ChatChunks::Classic,
        ChatChunks::OllamaLegacy,
        ChatChunks::OllamaNewest,
    ] {
        let emu = Emulator::start(Script {
            chat_chunks: layout,
            ..Script::default()
        })
        .await;
        let sidecar = Sidecar::start(&emu.url(), "").await;
        let a = post(&format!("{}/v1/chat/completions", sidecar.url), &req).await;
        assert_eq!(
            a.body,
            emu.body_for("/v1/chat/completions", &req),
            "{layout:?}"
        );
        let (span, children) = only_request(&sidecar, &format!("{layout:?}")).await;
        assert_eq!(
            attr_i(&span, sc::USAGE_OUTPUT_TOKENS),
            Some(34),
            "{layout:?}"
        );
        let mut kids: Vec<String> = children.iter().map(|c| c.name.clone()).collect();
        kids.sort();
        seen.push((layout, facts(&span), kids));
    }
    for (layout, facts, kids) in &seen[1..] {
        assert_eq!(facts, &seen[0].1, "{layout:?} vs Classic");
        assert_eq!(kids, &seen[0].2, "{layout:?} vs Classic");
    }
}
