//! The exact bytes of the emulator's answers, per dialect: Ollama's native API (NDJSON streams, one JSON object
//! per line) and the OpenAI-compatible API (server-sent events ending in `data: [DONE]`). Everything here is a pure
//! function of the request and the [`Script`], so [`super::Emulator::body_for`] predicts exactly what is sent.

use serde_json::Value;

use super::script::{ReasoningStyle, Script};

/// The fixed `created_at` of every Ollama object.
const CREATED_AT: &str = "2026-11-28T10:00:00.123456Z";
/// The fixed `created` of every OpenAI object.
const CREATED: u64 = 1_764_324_000;
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

/// What an event carries; this decides the pause before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A reasoning piece.
    Think,
    /// An answer piece.
    Answer,
    /// Anything else: the final/done/usage/`[DONE]` events and whole non-streamed bodies.
    Tail,
}

/// One stream event: its bytes and what it carries.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// The bytes on the wire.
    pub bytes: Vec<u8>,
    /// What it carries.
    pub kind: Kind,
}

/// A whole answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `content-type`, if any.
    pub content_type: Option<String>,
    /// Whether it is a stream (chunked, no `content-length`).
    pub streaming: bool,
    /// The body, event by event.
    pub events: Vec<Event>,
}

impl Reply {
    /// The whole body.
    pub fn body(&self) -> Vec<u8> {
        self.events
            .iter()
            .flat_map(|e| e.bytes.iter().copied())
            .collect()
    }

    /// A non-streamed reply of one event.
    fn whole(status: u16, content_type: &str, body: String) -> Self {
        Self {
            status,
            content_type: Some(content_type.to_owned()),
            streaming: false,
            events: vec![Event {
                bytes: body.into_bytes(),
                kind: Kind::Tail,
            }],
        }
    }
}

/// A JSON string literal.
fn s(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// A JSON object from already-serialized values, keeping the given key order (as real servers write them).
fn obj(fields: &[(&str, String)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", s(k)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// One stream event's worth of model output.
struct Part {
    /// Think or Answer.
    kind: Kind,
    /// Text for a separate reasoning field (`Field`/`FieldContent` styles).
    thinking: Option<String>,
    /// Text for the content field (answers, and reasoning in the inline styles).
    content: String,
}

/// The script's output as stream parts, in order, per its reasoning style.
fn parts(script: &Script) -> Vec<Part> {
    let n = script.thinking.len();
    let mut out: Vec<Part> = script
        .thinking
        .iter()
        .enumerate()
        .filter_map(|(i, piece)| {
            let (open, close) = match script.reasoning {
                ReasoningStyle::None => return None,
                ReasoningStyle::Field | ReasoningStyle::FieldContent => {
                    return Some(Part {
                        kind: Kind::Think,
                        thinking: Some(piece.clone()),
                        content: String::new(),
                    });
                }
                ReasoningStyle::InlineTags => (i == 0, i + 1 == n),
                ReasoningStyle::InlineClosingOnly => (false, i + 1 == n),
            };
            let mut content = String::new();
            if open {
                content.push_str("<think>");
            }
            content.push_str(piece);
            if close {
                content.push_str("</think>");
            }
            Some(Part {
                kind: Kind::Think,
                thinking: None,
                content,
            })
        })
        .collect();
    out.extend(script.answer.iter().map(|piece| Part {
        kind: Kind::Answer,
        thinking: None,
        content: piece.clone(),
    }));
    out
}

/// The whole output: (reasoning-field text if any, content text).
fn full(script: &Script) -> (Option<String>, String) {
    let parts = parts(script);
    let thinking: Vec<&str> = parts.iter().filter_map(|p| p.thinking.as_deref()).collect();
    let thinking = (!thinking.is_empty()).then(|| thinking.concat());
    (thinking, parts.iter().map(|p| p.content.as_str()).collect())
}

/// The number of inputs of an embedding request (`input` may be a string or an array).
fn inputs(req: &Value) -> usize {
    match req.get("input") {
        Some(Value::Array(a)) => a.len().max(1),
        _ => 1,
    }
}

/// Builds the answer to a request for `path` with body `body` (of content type `content_type`).
pub(crate) fn reply(path: &str, body: &[u8], content_type: Option<&str>, script: &Script) -> Reply {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let llm = matches!(
        path,
        "/api/chat"
            | "/api/generate"
            | "/api/embed"
            | "/api/embeddings"
            | "/v1/chat/completions"
            | "/v1/completions"
            | "/v1/embeddings"
    );
    if llm && script.status != 200 {
        let message = format!("emulated failure (status {})", script.status);
        let body = if path.starts_with("/v1/") {
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
        "/api/chat" => ollama(script, false, ollama_stream),
        "/api/generate" => ollama(script, true, ollama_stream),
        "/api/embed" => {
            let vectors = vec![VECTOR; inputs(&req)].join(",");
            let d = &script.durations;
            let body = obj(&[
                ("model", s(&script.model)),
                ("embeddings", format!("[{vectors}]")),
                ("total_duration", d.total.to_string()),
                ("load_duration", d.load.to_string()),
                ("prompt_eval_count", script.prompt_tokens.to_string()),
            ]);
            Reply::whole(200, "application/json", body)
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
            openai(script, path == "/v1/completions", openai_stream, usage)
        }
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
        "/api/version" => Reply::whole(200, "application/json", obj(&[("version", s("0.33.0"))])),
        "/api/tags" => Reply::whole(200, "application/json", obj(&[("models", "[]".into())])),
        // One loaded model: 10 GiB, 9 GiB of it in VRAM, 4096 tokens of context, unloading at 10:05:00.5 UTC.
        "/api/ps" => Reply::whole(
            200,
            "application/json",
            obj(&[(
                "models",
                format!(
                    "[{}]",
                    obj(&[
                        ("name", s(&script.model)),
                        ("model", s(&script.model)),
                        ("size", "10737418240".into()),
                        ("digest", s("a1b2c3")),
                        (
                            "details",
                            obj(&[("family", s("qwen3")), ("quantization_level", s("Q4_K_M"))])
                        ),
                        ("expires_at", s("2026-11-28T11:05:00.5+01:00")),
                        ("size_vram", "9663676416".into()),
                        ("context_length", "4096".into()),
                    ])
                ),
            )]),
        ),
        _ if path.starts_with("/echo/") => Reply {
            status: 200,
            content_type: content_type.map(str::to_owned),
            streaming: false,
            events: vec![Event {
                bytes: body.to_vec(),
                kind: Kind::Tail,
            }],
        },
        _ => Reply::whole(404, "application/json", obj(&[("error", s("not found"))])),
    }
}

/// Ollama `/api/chat` (`generate == false`) or `/api/generate`.
fn ollama(script: &Script, generate: bool, stream: bool) -> Reply {
    let text = |content: &str, thinking: Option<&str>| -> Vec<(&'static str, String)> {
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
            fields.push(("message", obj(&message)));
        }
        fields
    };
    let line = |content: &str, thinking: Option<&str>, done: bool| -> String {
        let mut fields = vec![("model", s(&script.model)), ("created_at", s(CREATED_AT))];
        fields.extend(text(content, thinking));
        fields.push(("done", done.to_string()));
        if done {
            let d = &script.durations;
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
    if !stream {
        let (thinking, content) = full(script);
        return Reply::whole(
            200,
            "application/json",
            line(&content, thinking.as_deref(), true),
        );
    }
    let mut events: Vec<Event> = parts(script)
        .iter()
        .map(|p| Event {
            bytes: format!("{}\n", line(&p.content, p.thinking.as_deref(), false)).into_bytes(),
            kind: p.kind,
        })
        .collect();
    events.push(Event {
        bytes: format!("{}\n", line("", None, true)).into_bytes(),
        kind: Kind::Tail,
    });
    Reply {
        status: 200,
        content_type: Some("application/x-ndjson".into()),
        streaming: true,
        events,
    }
}

/// OpenAI `/v1/chat/completions` (`text == false`) or `/v1/completions`.
fn openai(script: &Script, text: bool, stream: bool, include_usage: bool) -> Reply {
    let reasoning_key = match script.reasoning {
        ReasoningStyle::FieldContent => "reasoning_content",
        _ => "reasoning",
    };
    let (id, object) = match (text, stream) {
        (true, _) => ("cmpl-1", "text_completion"),
        (false, true) => ("chatcmpl-1", "chat.completion.chunk"),
        (false, false) => ("chatcmpl-1", "chat.completion"),
    };
    let envelope = |choices: String, usage: Option<String>| -> String {
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
        obj(&fields)
    };
    let p = script.prompt_tokens;
    let c = script.completion_tokens;
    let mut usage = vec![
        ("prompt_tokens", p.to_string()),
        ("completion_tokens", c.to_string()),
        ("total_tokens", (p + c).to_string()),
    ];
    if let Some(r) = script.usage_reasoning_tokens {
        usage.push((
            "completion_tokens_details",
            obj(&[("reasoning_tokens", r.to_string())]),
        ));
    }
    let usage = obj(&usage);
    // A choice: its text/delta/message field(s) followed by finish_reason.
    let choice = |body: Vec<(&'static str, String)>, finish: &str| -> String {
        let mut fields = vec![("index", "0".to_owned())];
        fields.extend(body);
        fields.push(("finish_reason", finish.to_owned()));
        format!("[{}]", obj(&fields))
    };
    // The text/message/delta fields for `content` and optional field reasoning.
    let body = |content: Option<&str>, thinking: Option<&str>, role: bool| {
        let content = content.map_or_else(|| "null".to_owned(), s);
        if text {
            let mut fields = vec![("text", content)];
            if let Some(t) = thinking {
                fields.push((reasoning_key, s(t)));
            }
            return fields;
        }
        let mut fields = Vec::new();
        if role {
            fields.push(("role", s("assistant")));
        }
        fields.push(("content", content));
        if let Some(t) = thinking {
            fields.push((reasoning_key, s(t)));
        }
        vec![(if stream { "delta" } else { "message" }, obj(&fields))]
    };
    if !stream {
        let (thinking, content) = full(script);
        let choices = choice(body(Some(&content), thinking.as_deref(), true), "\"stop\"");
        return Reply::whole(200, "application/json", envelope(choices, Some(usage)));
    }
    let sse = |json: String, kind: Kind| Event {
        bytes: format!("data: {json}\n\n").into_bytes(),
        kind,
    };
    let mut events: Vec<Event> = parts(script)
        .iter()
        .map(|part| {
            // DeepSeek-style servers send `content: null` beside `reasoning_content`.
            let content = match (&part.thinking, script.reasoning) {
                (Some(_), ReasoningStyle::FieldContent) if !text => None,
                _ => Some(part.content.as_str()),
            };
            let choices = choice(body(content, part.thinking.as_deref(), true), "null");
            sse(envelope(choices, None), part.kind)
        })
        .collect();
    let finish = if text {
        vec![("text", s(""))]
    } else {
        vec![("delta", "{}".to_owned())]
    };
    events.push(sse(envelope(choice(finish, "\"stop\""), None), Kind::Tail));
    if include_usage {
        events.push(sse(envelope("[]".into(), Some(usage)), Kind::Tail));
    }
    events.push(Event {
        bytes: b"data: [DONE]\n\n".to_vec(),
        kind: Kind::Tail,
    });
    Reply {
        status: 200,
        content_type: Some("text/event-stream".into()),
        streaming: true,
        events,
    }
}
