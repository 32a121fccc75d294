//! The exact bytes of the emulator's answers, per path: Ollama's native API (NDJSON streams, one JSON object per
//! line) and the OpenAI-compatible chat and text completions (server-sent events ending in `data: [DONE]`) here;
//! `/v1/responses` in `responses.rs` and `/v1/messages` in `anthropic.rs`, the 404 of `info.rs` elsewhere.
//! Everything is a pure function of the request, the [`Script`] and the timings to report, so
//! [`super::Emulator::body_for`] predicts exactly what is sent with fixed timings.

use serde_json::Value;

use super::script::{ChatChunks, OllamaDurations, ReasoningStyle, Script};
use super::wire::{
    CREATED, Event, Kind, Reply, arr, full, json_or_string, llama_timings, obj, parts, s,
};
use super::{anthropic, info, responses};

/// The fixed `created_at` of every Ollama object.
const CREATED_AT: &str = "2026-11-28T10:00:00.123456Z";
/// The embedding vector returned for every input.
const VECTOR: &str = "[0.1,-0.2,0.3,0.4]";
/// The same vector as OpenAI's `encoding_format: "base64"` (little-endian `f32`s, standard base64).
fn vector_base64() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = [0.1f32, -0.2, 0.3, 0.4]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The number of inputs of an embedding request (`input` may be a string or an array).
fn inputs(req: &Value) -> usize {
    match req.get("input") {
        Some(Value::Array(a)) => a.len().max(1),
        _ => 1,
    }
}

/// Whether `path` is a model endpoint (which waits for its model and a slot).
pub(crate) fn is_model_path(path: &str) -> bool {
    matches!(
        path,
        "/api/chat"
            | "/api/generate"
            | "/api/embed"
            | "/api/embeddings"
            | "/v1/chat/completions"
            | "/v1/completions"
            | "/v1/embeddings"
            | "/v1/responses"
            | "/v1/messages"
    )
}

/// Whether `path` is a model endpoint that generates text (not an embedding one).
pub(crate) fn generates(path: &str) -> bool {
    is_model_path(path) && !path.contains("embed")
}

/// Builds the answer to a request for `path` with body `body` (of content type `content_type`), reporting the
/// timings `d`.
pub(crate) fn reply(
    path: &str,
    body: &[u8],
    content_type: Option<&str>,
    script: &Script,
    d: &OllamaDurations,
) -> Reply {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if is_model_path(path) && script.status != 200 {
        let message = format!("emulated failure (status {})", script.status);
        let body = if path == "/v1/messages" {
            let error = obj(&[("type", s("api_error")), ("message", s(&message))]);
            obj(&[("type", s("error")), ("error", error)])
        } else if path.starts_with("/v1/") {
            let error = obj(&[
                ("message", s(&message)),
                ("type", s("api_error")),
                ("param", "null".into()),
                ("code", "null".into()),
            ]);
            obj(&[("error", error)])
        } else {
            obj(&[("error", s(&message))])
        };
        return Reply::whole(script.status, "application/json", body);
    }
    let ollama_stream = req.get("stream") != Some(&Value::Bool(false));
    let openai_stream = req.get("stream") == Some(&Value::Bool(true));
    match path {
        "/api/chat" => ollama(script, d, false, ollama_stream),
        "/api/generate" => ollama(script, d, true, ollama_stream),
        "/api/embed" => {
            let vectors = vec![VECTOR; inputs(&req)].join(",");
            let body = obj(&[
                ("model", s(&script.model)),
                ("embeddings", format!("[{vectors}]")),
                ("total_duration", d.total.to_string()),
                ("load_duration", d.load.to_string()),
                ("prompt_eval_count", script.prompt_tokens.to_string()),
            ]);
            Reply::whole(200, "application/json", body).timed(0)
        }
        "/api/embeddings" => Reply::whole(
            200,
            "application/json",
            obj(&[("embedding", VECTOR.into())]),
        ),
        "/v1/chat/completions" | "/v1/completions" => {
            let usage = req
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            openai(script, d, path == "/v1/completions", openai_stream, usage)
        }
        "/v1/responses" => responses::reply(script, d, openai_stream),
        "/v1/messages" => anthropic::reply(script, openai_stream),
        "/v1/embeddings" => {
            // The `openai` Python client asks for base64 unless told otherwise.
            let vector = if req.get("encoding_format").and_then(Value::as_str) == Some("base64") {
                s(&vector_base64())
            } else {
                VECTOR.to_owned()
            };
            let data: Vec<String> = (0..inputs(&req))
                .map(|i| {
                    obj(&[
                        ("object", s("embedding")),
                        ("index", i.to_string()),
                        ("embedding", vector.clone()),
                    ])
                })
                .collect();
            let p = script.prompt_tokens.to_string();
            let body = obj(&[
                ("object", s("list")),
                ("data", format!("[{}]", data.join(","))),
                ("model", s(&script.model)),
                (
                    "usage",
                    obj(&[("prompt_tokens", p.clone()), ("total_tokens", p)]),
                ),
            ]);
            Reply::whole(200, "application/json", body)
        }
        _ if path.starts_with("/echo/") => Reply {
            status: 200,
            content_type: content_type.map(str::to_owned),
            streaming: false,
            events: vec![Event {
                bytes: body.to_vec(),
                kind: Kind::Tail,
            }],
            timed: None,
        },
        _ => info::not_found(script.server),
    }
}

/// Ollama `/api/chat` (`generate == false`) or `/api/generate` (which has no tool calls).
fn ollama(script: &Script, d: &OllamaDurations, generate: bool, stream: bool) -> Reply {
    let calls: Vec<String> = script
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let function = obj(&[
                ("index", i.to_string()),
                ("name", s(&c.name)),
                ("arguments", json_or_string(&c.arguments_json())),
            ]);
            obj(&[("id", s(&c.id)), ("function", function)])
        })
        .collect();
    let text = |content: &str, thinking: Option<&str>, calls: &[String]| {
        let mut fields = Vec::new();
        if generate {
            fields.push(("response", s(content)));
            if let Some(t) = thinking {
                fields.push(("thinking", s(t)));
            }
        } else {
            let mut message = vec![("role", s("assistant")), ("content", s(content))];
            if let Some(t) = thinking {
                message.push(("thinking", s(t)));
            }
            if !calls.is_empty() {
                message.push(("tool_calls", arr(calls)));
            }
            fields.push(("message", obj(&message)));
        }
        fields
    };
    let line = |content: &str, thinking: Option<&str>, calls: &[String], done: bool| -> String {
        let mut fields = vec![("model", s(&script.model)), ("created_at", s(CREATED_AT))];
        fields.extend(text(content, thinking, calls));
        fields.push(("done", done.to_string()));
        if done {
            fields.extend([
                ("done_reason", s("stop")),
                ("total_duration", d.total.to_string()),
                ("load_duration", d.load.to_string()),
                ("prompt_eval_count", script.prompt_tokens.to_string()),
                ("prompt_eval_duration", d.prompt_eval.to_string()),
                ("eval_count", script.completion_tokens.to_string()),
                ("eval_duration", d.eval.to_string()),
            ]);
        }
        obj(&fields)
    };
    let calls = if generate { Vec::new() } else { calls };
    if !stream {
        let (thinking, content) = full(script);
        return Reply::whole(
            200,
            "application/json",
            line(&content, thinking.as_deref(), &calls, true),
        )
        .timed(0);
    }
    let ndjson = |json: String, kind: Kind| Event {
        bytes: format!("{json}\n").into_bytes(),
        kind,
    };
    let mut events: Vec<Event> = parts(script)
        .iter()
        .map(|p| ndjson(line(&p.content, p.thinking.as_deref(), &[], false), p.kind))
        .collect();
    // Each call whole, in a chunk of its own.
    events.extend(
        calls
            .iter()
            .map(|c| ndjson(line("", None, std::slice::from_ref(c), false), Kind::Answer)),
    );
    events.push(ndjson(line("", None, &[], true), Kind::Tail));
    let last = events.len() - 1;
    Reply {
        status: 200,
        content_type: Some("application/x-ndjson".into()),
        streaming: true,
        events,
        timed: Some(last),
    }
}

/// OpenAI `usage`: prompt, completion, total, then the cached and reasoning details the script has.
fn openai_usage(script: &Script) -> String {
    let p = script.prompt_tokens;
    let c = script.completion_tokens;
    let mut usage = vec![
        ("prompt_tokens", p.to_string()),
        ("completion_tokens", c.to_string()),
        ("total_tokens", (p + c).to_string()),
    ];
    if let Some(n) = script.cached_tokens {
        usage.push((
            "prompt_tokens_details",
            obj(&[("cached_tokens", n.to_string())]),
        ));
    }
    if let Some(r) = script.usage_reasoning_tokens {
        usage.push((
            "completion_tokens_details",
            obj(&[("reasoning_tokens", r.to_string())]),
        ));
    }
    obj(&usage)
}

/// One delta's worth of a chat stream.
struct Piece {
    /// Think or Answer.
    kind: Kind,
    /// The delta's fields other than `role`.
    fields: Vec<(&'static str, String)>,
}

/// OpenAI `/v1/chat/completions` (`text == false`) or `/v1/completions` (which has no tool calls).
fn openai(
    script: &Script,
    d: &OllamaDurations,
    text: bool,
    stream: bool,
    include_usage: bool,
) -> Reply {
    let reasoning_key = match script.reasoning {
        ReasoningStyle::FieldContent => "reasoning_content",
        _ => "reasoning",
    };
    let (id, object) = match (text, stream) {
        (true, _) => ("cmpl-1", "text_completion"),
        (false, true) => ("chatcmpl-1", "chat.completion.chunk"),
        (false, false) => ("chatcmpl-1", "chat.completion"),
    };
    let timings = llama_timings(script, d);
    let envelope = |choices: String, usage: Option<String>, timed: bool| -> String {
        let mut fields = vec![
            ("id", s(id)),
            ("object", s(object)),
            ("created", CREATED.to_string()),
            ("model", s(&script.model)),
            ("system_fingerprint", s("fp_ollama")),
            ("choices", choices),
        ];
        if let Some(u) = usage {
            fields.push(("usage", u));
        }
        if let Some(t) = timings.as_ref().filter(|_| timed) {
            fields.push(("timings", t.clone()));
        }
        obj(&fields)
    };
    let usage = openai_usage(script);
    let tools = !text && !script.tool_calls.is_empty();
    let finish_reason = if tools { "\"tool_calls\"" } else { "\"stop\"" };
    // A choice: its text/delta/message field(s) followed by finish_reason.
    let choice = |body: Vec<(&'static str, String)>, finish: &str| -> String {
        let mut fields = vec![("index", "0".to_owned())];
        fields.extend(body);
        fields.push(("finish_reason", finish.to_owned()));
        format!("[{}]", obj(&fields))
    };
    if !stream {
        let (thinking, content) = full(script);
        let body = if text {
            let mut fields = vec![("text", s(&content))];
            if let Some(t) = &thinking {
                fields.push((reasoning_key, s(t)));
            }
            fields
        } else {
            let content = if tools && content.is_empty() {
                "null".to_owned()
            } else {
                s(&content)
            };
            let mut fields = vec![("role", s("assistant")), ("content", content)];
            if let Some(t) = &thinking {
                fields.push((reasoning_key, s(t)));
            }
            if tools {
                let calls: Vec<String> = script
                    .tool_calls
                    .iter()
                    .map(|c| {
                        let function =
                            obj(&[("name", s(&c.name)), ("arguments", s(&c.arguments_json()))]);
                        obj(&[
                            ("id", s(&c.id)),
                            ("type", s("function")),
                            ("function", function),
                        ])
                    })
                    .collect();
                fields.push(("tool_calls", arr(&calls)));
            }
            vec![("message", obj(&fields))]
        };
        let reply = Reply::whole(
            200,
            "application/json",
            envelope(choice(body, finish_reason), Some(usage), true),
        );
        return if timings.is_some() {
            reply.timed(0)
        } else {
            reply
        };
    }
    let mut pieces: Vec<Piece> = parts(script)
        .iter()
        .map(|part| {
            // DeepSeek-style servers send `content: null` beside `reasoning_content`.
            let content = match (&part.thinking, script.reasoning) {
                (Some(_), ReasoningStyle::FieldContent) if !text => "null".to_owned(),
                _ => s(&part.content),
            };
            let mut fields = vec![(if text { "text" } else { "content" }, content)];
            if let Some(t) = &part.thinking {
                fields.push((reasoning_key, s(t)));
            }
            Piece {
                kind: part.kind,
                fields,
            }
        })
        .collect();
    if tools {
        for (i, c) in script.tool_calls.iter().enumerate() {
            let call = |fields: Vec<(&str, String)>| {
                let mut all = vec![("index", i.to_string())];
                all.extend(fields);
                Piece {
                    kind: Kind::Answer,
                    fields: vec![("tool_calls", arr(&[obj(&all)]))],
                }
            };
            let first = obj(&[("name", s(&c.name)), ("arguments", s(""))]);
            pieces.push(call(vec![
                ("id", s(&c.id)),
                ("type", s("function")),
                ("function", first),
            ]));
            pieces.extend(
                c.arguments
                    .iter()
                    .map(|a| call(vec![("function", obj(&[("arguments", s(a))]))])),
            );
        }
    }
    let legacy = script.chat_chunks == ChatChunks::OllamaLegacy;
    let role =
        |i: usize| -> bool { !text && (script.chat_chunks != ChatChunks::OllamaNewest || i == 0) };
    let delta = |i: usize, fields: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        if text {
            return fields.to_vec();
        }
        let mut all = Vec::new();
        if role(i) {
            all.push(("role", s("assistant")));
        }
        all.extend(fields.iter().cloned());
        vec![("delta", obj(&all))]
    };
    let data = |json: String, kind: Kind| Event {
        bytes: format!("data: {json}\n\n").into_bytes(),
        kind,
    };
    let n = pieces.len();
    let mut events: Vec<Event> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let finish = if legacy && i + 1 == n {
                finish_reason
            } else {
                "null"
            };
            let timed = legacy && i + 1 == n && !include_usage;
            data(
                envelope(choice(delta(i, &p.fields), finish), None, timed),
                p.kind,
            )
        })
        .collect();
    if !legacy || n == 0 {
        let finish = match (text, legacy) {
            (true, _) => vec![("text", s(""))],
            // Older Ollama: the metrics-only last response, as a chunk with an empty content.
            (false, true) => delta(0, &[("content", s(""))]),
            (false, false) => vec![("delta", "{}".to_owned())],
        };
        events.push(data(
            envelope(choice(finish, finish_reason), None, !include_usage),
            Kind::Tail,
        ));
    }
    if include_usage {
        events.push(data(envelope("[]".into(), Some(usage), true), Kind::Tail));
    }
    // The timings ride on the last chunk before `[DONE]`.
    let timed = events.len().saturating_sub(1);
    events.push(Event {
        bytes: b"data: [DONE]\n\n".to_vec(),
        kind: Kind::Tail,
    });
    let reply = Reply::stream(events);
    if timings.is_some() {
        reply.timed(timed)
    } else {
        reply
    }
}
