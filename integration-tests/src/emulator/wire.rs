//! The building blocks every dialect's bytes are made of: an [`Event`] (bytes on the wire, and whether they carry
//! reasoning, answer or neither, which decides the pause before them), a whole [`Reply`], JSON written in the key
//! order real servers use, SSE events with an `event:` line, and the [`Script`]'s output cut into stream [`Part`]s
//! per its reasoning style, and llama.cpp's `timings` object. `formats.rs`, `responses.rs`, `anthropic.rs` and
//! `info.rs` write with them; `serve.rs` paces them.

use serde_json::Value;

use super::script::{OllamaDurations, OpenAiTimings, ReasoningStyle, Script};

/// The fixed `created` of every OpenAI object.
pub(crate) const CREATED: u64 = 1_764_324_000;

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
    /// The event that carries the server's timings (Ollama's final chunk, llama.cpp's `timings`), if any.
    pub timed: Option<usize>,
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
    pub fn whole(status: u16, content_type: &str, body: String) -> Self {
        Self {
            status,
            content_type: Some(content_type.to_owned()),
            streaming: false,
            events: vec![Event {
                bytes: body.into_bytes(),
                kind: Kind::Tail,
            }],
            timed: None,
        }
    }

    /// A `text/event-stream` reply of `events`.
    pub fn stream(events: Vec<Event>) -> Self {
        Self {
            status: 200,
            content_type: Some("text/event-stream".into()),
            streaming: true,
            events,
            timed: None,
        }
    }

    /// This reply, its event `index` carrying the timings.
    pub fn timed(mut self, index: usize) -> Self {
        self.timed = Some(index);
        self
    }
}

/// A JSON string literal.
pub(crate) fn s(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// A JSON object from already-serialized values, keeping the given key order (as real servers write them).
pub(crate) fn obj(fields: &[(&str, String)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", s(k)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// One stream event's worth of model output.
pub(crate) struct Part {
    /// Think or Answer.
    pub kind: Kind,
    /// Text for a separate reasoning field (`Field`/`FieldContent` styles).
    pub thinking: Option<String>,
    /// Text for the content field (answers, and reasoning in the inline styles).
    pub content: String,
}

/// The script's output as stream parts, in order, per its reasoning style.
pub(crate) fn parts(script: &Script) -> Vec<Part> {
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
pub(crate) fn full(script: &Script) -> (Option<String>, String) {
    let parts = parts(script);
    let thinking: Vec<&str> = parts.iter().filter_map(|p| p.thinking.as_deref()).collect();
    let thinking = (!thinking.is_empty()).then(|| thinking.concat());
    (thinking, parts.iter().map(|p| p.content.as_str()).collect())
}

/// A JSON array from already-serialized values.
pub(crate) fn arr(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// A JSON value parsed from `text`, or `text` as a JSON string when it is not JSON (a script's broken arguments).
pub(crate) fn json_or_string(text: &str) -> String {
    serde_json::from_str::<Value>(text).map_or_else(|_| s(text), |v| v.to_string())
}

/// One server-sent event with an `event:` line: `event: TYPE\ndata: JSON\n\n`.
pub(crate) fn sse(event: &str, json: &str, kind: Kind) -> Event {
    Event {
        bytes: format!("event: {event}\ndata: {json}\n\n").into_bytes(),
        kind,
    }
}

/// llama.cpp's `timings` object for `script` with the prompt and generation times of `d`, in `llama-server`'s key
/// order; `None` unless the script asks for it. As the real server computes them: `prompt_n` excludes the
/// `cache_n` cached tokens, the per-token generation figures divide by `predicted_n - 1` (the first token comes
/// out of the prompt pass), and a rate that would be infinite is `null`.
pub(crate) fn llama_timings(script: &Script, d: &OllamaDurations) -> Option<String> {
    if script.openai_timings != OpenAiTimings::LlamaCpp {
        return None;
    }
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v}")
        } else {
            "null".to_owned()
        }
    };
    // Whole microseconds, as llama.cpp measures them.
    let ms = |ns: u64| (ns / 1000) as f64 / 1000.0;
    let cache_n = script.cached_tokens.unwrap_or(0);
    let prompt_n = script.prompt_tokens.saturating_sub(cache_n);
    let prompt_ms = ms(d.prompt_eval);
    let predicted_n = script.completion_tokens;
    let predicted_ms = ms(d.eval);
    let steps = predicted_n.saturating_sub(1).max(1) as f64;
    Some(obj(&[
        ("cache_n", cache_n.to_string()),
        ("prompt_n", prompt_n.to_string()),
        ("prompt_ms", num(prompt_ms)),
        ("prompt_per_token_ms", num(prompt_ms / prompt_n as f64)),
        ("prompt_per_second", num(1e3 * prompt_n as f64 / prompt_ms)),
        ("predicted_n", predicted_n.to_string()),
        ("predicted_ms", num(predicted_ms)),
        ("predicted_per_token_ms", num(predicted_ms / steps)),
        ("predicted_per_second", num(1e3 * steps / predicted_ms)),
    ]))
}
