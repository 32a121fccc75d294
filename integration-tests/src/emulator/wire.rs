//! The building blocks every dialect's bytes are made of: an [`Event`] (bytes on the wire, and whether they carry
//! reasoning, answer or neither, which decides the pause before them), a whole [`Reply`], JSON written in the key
//! order real servers use, SSE events with an `event:` line, and the [`Script`]'s output cut into stream [`Part`]s
//! per its reasoning style. `formats.rs`, `responses.rs` and `anthropic.rs` write with them; `mod.rs` paces them.

use serde_json::Value;

use super::script::{ReasoningStyle, Script};

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
        }
    }

    /// A `text/event-stream` reply of `events`.
    pub fn stream(events: Vec<Event>) -> Self {
        Self {
            status: 200,
            content_type: Some("text/event-stream".into()),
            streaming: true,
            events,
        }
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
