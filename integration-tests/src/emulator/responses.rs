//! The OpenAI Responses API, `/v1/responses`, as Ollama (v0.13.3+), vLLM and llama.cpp serve it: a whole
//! `response` object, or server-sent events with `event: <type>` lines and `data: {"type": "<type>", …}` from
//! `response.created` to `response.completed`. Output items in order: a `reasoning` item (field reasoning styles;
//! [`ResponsesReasoning`] picks `response.reasoning_text.delta` or Ollama's `response.reasoning_summary_text.delta`),
//! a `message` item with the content (inline `<think>` tags included), one `function_call` item per tool call.

use super::script::{OllamaDurations, ResponsesReasoning, Script, ToolCall};
use super::wire::{CREATED, Event, Kind, Reply, arr, llama_timings, obj, parts, s, sse};

/// The id of the reasoning item.
const REASONING_ID: &str = "rs_1";
/// The id of the message item.
const MESSAGE_ID: &str = "msg_1";

/// The answer to a `/v1/responses` request.
/// llama.cpp puts its `timings` on the `response.completed` event of a stream (not in a whole body, which is not
/// timed here either).
pub(crate) fn reply(script: &Script, d: &OllamaDurations, stream: bool) -> Reply {
    if stream {
        let timings = llama_timings(script, d);
        let timed = timings.is_some();
        let events = Stream::new(script).events(timings);
        let last = events.len().saturating_sub(1);
        let reply = Reply::stream(events);
        if timed { reply.timed(last) } else { reply }
    } else {
        Reply::whole(
            200,
            "application/json",
            response(script, "completed", &items(script), true),
        )
    }
}

/// `response.usage`: the details always present, 0 where the script has no count (as Ollama hard-codes them).
fn usage(script: &Script) -> String {
    let p = script.prompt_tokens;
    let c = script.completion_tokens;
    obj(&[
        ("input_tokens", p.to_string()),
        (
            "input_tokens_details",
            obj(&[(
                "cached_tokens",
                script.cached_tokens.unwrap_or(0).to_string(),
            )]),
        ),
        ("output_tokens", c.to_string()),
        (
            "output_tokens_details",
            obj(&[(
                "reasoning_tokens",
                script.usage_reasoning_tokens.unwrap_or(0).to_string(),
            )]),
        ),
        ("total_tokens", (p + c).to_string()),
    ])
}

/// The `response` object with `status` and `output`, with usage when `done`.
fn response(script: &Script, status: &str, output: &[String], done: bool) -> String {
    obj(&[
        ("id", s("resp_1")),
        ("object", s("response")),
        ("created_at", CREATED.to_string()),
        ("status", s(status)),
        ("error", "null".into()),
        ("incomplete_details", "null".into()),
        ("instructions", "null".into()),
        ("model", s(&script.model)),
        ("output", arr(output)),
        ("parallel_tool_calls", "true".into()),
        ("tool_choice", s("auto")),
        ("tools", "[]".into()),
        ("usage", if done { usage(script) } else { "null".into() }),
    ])
}

/// The reasoning item with `text` (empty while it streams).
fn reasoning_item(script: &Script, text: &str, done: bool) -> String {
    let (summary, content) = match (script.responses_reasoning, done) {
        (_, false) => ("[]".to_owned(), "[]".to_owned()),
        (ResponsesReasoning::Summary, true) => (
            arr(&[obj(&[("type", s("summary_text")), ("text", s(text))])]),
            "[]".to_owned(),
        ),
        (ResponsesReasoning::Text, true) => (
            "[]".to_owned(),
            arr(&[obj(&[("type", s("reasoning_text")), ("text", s(text))])]),
        ),
    };
    obj(&[
        ("id", s(REASONING_ID)),
        ("type", s("reasoning")),
        ("summary", summary),
        ("content", content),
    ])
}

/// An `output_text` content part.
fn text_part(text: &str) -> String {
    obj(&[
        ("type", s("output_text")),
        ("text", s(text)),
        ("annotations", "[]".into()),
    ])
}

/// The message item with `text` (no content while it streams).
fn message_item(text: &str, done: bool) -> String {
    obj(&[
        ("id", s(MESSAGE_ID)),
        ("type", s("message")),
        ("status", s(if done { "completed" } else { "in_progress" })),
        ("role", s("assistant")),
        (
            "content",
            if done {
                arr(&[text_part(text)])
            } else {
                "[]".into()
            },
        ),
    ])
}

/// The `function_call` item of call `i` (no arguments while it streams).
fn call_item(i: usize, c: &ToolCall, done: bool) -> String {
    obj(&[
        ("id", s(&format!("fc_{}", i + 1))),
        ("type", s("function_call")),
        ("status", s(if done { "completed" } else { "in_progress" })),
        ("call_id", s(&c.id)),
        ("name", s(&c.name)),
        (
            "arguments",
            s(&if done {
                c.arguments_json()
            } else {
                String::new()
            }),
        ),
    ])
}

/// Every output item, complete.
fn items(script: &Script) -> Vec<String> {
    let parts = parts(script);
    let thinking: String = parts.iter().filter_map(|p| p.thinking.as_deref()).collect();
    let content: String = parts
        .iter()
        .filter(|p| p.thinking.is_none())
        .map(|p| p.content.as_str())
        .collect();
    let mut out = Vec::new();
    if parts.iter().any(|p| p.thinking.is_some()) {
        out.push(reasoning_item(script, &thinking, true));
    }
    if parts.iter().any(|p| p.thinking.is_none()) {
        out.push(message_item(&content, true));
    }
    out.extend(
        script
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| call_item(i, c, true)),
    );
    out
}

/// A stream being written: its events so far and the next `sequence_number`.
struct Stream<'a> {
    /// The script.
    script: &'a Script,
    /// The events so far.
    events: Vec<Event>,
    /// The next `sequence_number`.
    seq: u64,
}

impl<'a> Stream<'a> {
    /// An empty stream for `script`.
    fn new(script: &'a Script) -> Self {
        Self {
            script,
            events: Vec::new(),
            seq: 0,
        }
    }

    /// Appends an event of type `ty` with `fields` after `type` (and `sequence_number` last).
    fn push(&mut self, ty: &str, fields: Vec<(&str, String)>, kind: Kind) {
        let mut all = vec![("type", s(ty))];
        all.extend(fields);
        all.push(("sequence_number", self.seq.to_string()));
        self.seq += 1;
        self.events.push(sse(ty, &obj(&all), kind));
    }

    /// Appends `response.output_item.added` or `.done` for `item` at `index`.
    fn item(&mut self, added: bool, index: usize, item: String, kind: Kind) {
        let ty = if added {
            "response.output_item.added"
        } else {
            "response.output_item.done"
        };
        self.push(
            ty,
            vec![("output_index", index.to_string()), ("item", item)],
            kind,
        );
    }

    /// The whole stream.
    fn events(mut self, timings: Option<String>) -> Vec<Event> {
        let script = self.script;
        self.push(
            "response.created",
            vec![("response", response(script, "in_progress", &[], false))],
            Kind::Tail,
        );
        self.push(
            "response.in_progress",
            vec![("response", response(script, "in_progress", &[], false))],
            Kind::Tail,
        );
        let parts = parts(script);
        let summary = script.responses_reasoning == ResponsesReasoning::Summary;
        let mut index = 0;
        let thoughts: Vec<_> = parts.iter().filter(|p| p.thinking.is_some()).collect();
        if !thoughts.is_empty() {
            let text: String = thoughts
                .iter()
                .filter_map(|p| p.thinking.as_deref())
                .collect();
            self.item(true, index, reasoning_item(script, "", false), Kind::Tail);
            let at = |index: usize| {
                vec![
                    ("item_id", s(REASONING_ID)),
                    ("output_index", index.to_string()),
                    (
                        if summary {
                            "summary_index"
                        } else {
                            "content_index"
                        },
                        "0".into(),
                    ),
                ]
            };
            let (delta, done) = if summary {
                let part = obj(&[("type", s("summary_text")), ("text", s(""))]);
                let mut f = at(index);
                f.push(("part", part));
                self.push("response.reasoning_summary_part.added", f, Kind::Tail);
                (
                    "response.reasoning_summary_text.delta",
                    "response.reasoning_summary_text.done",
                )
            } else {
                (
                    "response.reasoning_text.delta",
                    "response.reasoning_text.done",
                )
            };
            for p in &thoughts {
                let mut f = at(index);
                f.push(("delta", s(p.thinking.as_deref().unwrap_or_default())));
                self.push(delta, f, p.kind);
            }
            let mut f = at(index);
            f.push(("text", s(&text)));
            self.push(done, f, Kind::Tail);
            if summary {
                let part = obj(&[("type", s("summary_text")), ("text", s(&text))]);
                let mut f = at(index);
                f.push(("part", part));
                self.push("response.reasoning_summary_part.done", f, Kind::Tail);
            }
            self.item(
                false,
                index,
                reasoning_item(script, &text, true),
                Kind::Tail,
            );
            index += 1;
        }
        let pieces: Vec<_> = parts.iter().filter(|p| p.thinking.is_none()).collect();
        if !pieces.is_empty() {
            let text: String = pieces.iter().map(|p| p.content.as_str()).collect();
            self.item(true, index, message_item("", false), Kind::Tail);
            let at = |index: usize| {
                vec![
                    ("item_id", s(MESSAGE_ID)),
                    ("output_index", index.to_string()),
                    ("content_index", "0".into()),
                ]
            };
            let mut f = at(index);
            f.push(("part", text_part("")));
            self.push("response.content_part.added", f, Kind::Tail);
            for p in &pieces {
                let mut f = at(index);
                f.extend([("delta", s(&p.content)), ("logprobs", "[]".into())]);
                self.push("response.output_text.delta", f, p.kind);
            }
            let mut f = at(index);
            f.extend([("text", s(&text)), ("logprobs", "[]".into())]);
            self.push("response.output_text.done", f, Kind::Tail);
            let mut f = at(index);
            f.push(("part", text_part(&text)));
            self.push("response.content_part.done", f, Kind::Tail);
            self.item(false, index, message_item(&text, true), Kind::Tail);
            index += 1;
        }
        for (i, c) in script.tool_calls.iter().enumerate() {
            // The item naming the tool is the call's first token.
            self.item(true, index, call_item(i, c, false), Kind::Answer);
            let at = |index: usize| {
                vec![
                    ("item_id", s(&format!("fc_{}", i + 1))),
                    ("output_index", index.to_string()),
                ]
            };
            for a in &c.arguments {
                let mut f = at(index);
                f.push(("delta", s(a)));
                self.push("response.function_call_arguments.delta", f, Kind::Answer);
            }
            let mut f = at(index);
            f.extend([("name", s(&c.name)), ("arguments", s(&c.arguments_json()))]);
            self.push("response.function_call_arguments.done", f, Kind::Tail);
            self.item(false, index, call_item(i, c, true), Kind::Tail);
            index += 1;
        }
        let output = items(script);
        let mut fields = vec![("response", response(script, "completed", &output, true))];
        if let Some(t) = timings {
            fields.push(("timings", t));
        }
        self.push("response.completed", fields, Kind::Tail);
        self.events
    }
}
