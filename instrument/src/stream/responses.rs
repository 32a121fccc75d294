//! The OpenAI Responses dialect (`/v1/responses`): one frame's JSON (an SSE event's data or a whole body, from
//! [`super::framing`]) into a [`Delta`].
//!
//! A stream is typed events (`event: <type>` lines, and the same `type` inside the data, which is what is read):
//! reasoning in `response.reasoning_text.delta` (vLLM, llama.cpp) or `response.reasoning_summary_text.delta`
//! (Ollama), answer text in `response.output_text.delta`, a tool call as `response.output_item.added` with a
//! `function_call` item and `response.function_call_arguments.delta`s sharing its `output_index`. The stream ends
//! with `response.completed`, `response.incomplete` or `response.failed`, whose `response` holds the usage (and llama.cpp puts its
//! own `timings` beside it, [`super::timings`]). The
//! `.done` events repeat what the deltas said and are not read again, except a tool call's whole arguments. A
//! whole body is the `response` object itself, its output in `output[]` items.
//!
//! Read leniently ([`super::lenient`]): a member of another type than below is absent.

use serde::de::MapAccess;

use super::delta::{CacheUsage, Delta, Usage, error_member, push};
use super::lenient::{self, Object, Text, read, skip};
use super::timings::LlamaTimings;
use super::tools::{ToolFragment, ToolKey};

/// One event, or a whole response: the members llmtel reads.
#[derive(Default)]
struct Frame<'de> {
    /// The event type; absent in a whole body.
    kind: Text<'de>,
    delta: Text<'de>,
    arguments: Text<'de>,
    output_index: Option<u64>,
    item: Option<Item<'de>>,
    response: Option<Response<'de>>,
    /// An `error` event's message.
    message: Text<'de>,
    /// llama.cpp's own timings, beside `response` in its `response.completed` event.
    timings: Option<LlamaTimings>,
    /// A whole body's own members (the response object at the top level).
    body: Response<'de>,
}

/// The `response` object.
#[derive(Default)]
struct Response<'de> {
    id: Text<'de>,
    model: Text<'de>,
    status: Text<'de>,
    output: Option<Vec<Item<'de>>>,
    usage: Option<TokenUsage>,
    incomplete_details: Option<Incomplete<'de>>,
    error: Option<String>,
}

/// An output item: `reasoning`, `message` or `function_call`.
#[derive(Default)]
struct Item<'de> {
    kind: Text<'de>,
    call_id: Text<'de>,
    name: Text<'de>,
    arguments: Text<'de>,
    content: Option<Vec<Part<'de>>>,
    summary: Option<Vec<Part<'de>>>,
}

/// A content part (`output_text`, `reasoning_text`) or a summary part (`summary_text`).
#[derive(Default)]
struct Part<'de> {
    kind: Text<'de>,
    text: Text<'de>,
}

#[derive(Default)]
struct Incomplete<'de> {
    reason: Text<'de>,
}

#[derive(Default)]
struct TokenUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    input_tokens_details: Option<TokenDetails>,
    output_tokens_details: Option<TokenDetails>,
}

#[derive(Default)]
struct TokenDetails {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

impl<'de> Object<'de> for Frame<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = read(map)?,
            "delta" => self.delta = read(map)?,
            "arguments" => self.arguments = read(map)?,
            "output_index" => self.output_index = read(map)?,
            "item" => self.item = read(map)?,
            "response" => self.response = read(map)?,
            "message" => self.message = read(map)?,
            "timings" => self.timings = read(map)?,
            _ => self.body.member(key, map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Response<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = read(map)?,
            "model" => self.model = read(map)?,
            "status" => self.status = read(map)?,
            "output" => self.output = read(map)?,
            "usage" => self.usage = read(map)?,
            "incomplete_details" => self.incomplete_details = read(map)?,
            "error" => self.error = error_member(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Item<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = read(map)?,
            "call_id" => self.call_id = read(map)?,
            "name" => self.name = read(map)?,
            "arguments" => self.arguments = read(map)?,
            "content" => self.content = read(map)?,
            "summary" => self.summary = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Part<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = read(map)?,
            "text" => self.text = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Incomplete<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "reason" => self.reason = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for TokenUsage {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "input_tokens" => self.input_tokens = read(map)?,
            "output_tokens" => self.output_tokens = read(map)?,
            "input_tokens_details" => self.input_tokens_details = read(map)?,
            "output_tokens_details" => self.output_tokens_details = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for TokenDetails {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "cached_tokens" => self.cached_tokens = read(map)?,
            "reasoning_tokens" => self.reasoning_tokens = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// Decodes one frame; `Err` only when it is not JSON. JSON that is not an object says nothing.
pub(super) fn decode(json: &[u8]) -> Result<Delta, serde_json::Error> {
    Ok(lenient::frame::<Frame<'_>>(json)?.map_or_else(Delta::default, Frame::into_delta))
}

impl Frame<'_> {
    fn into_delta(self) -> Delta {
        let mut d = Delta {
            timings: self
                .timings
                .and_then(LlamaTimings::into_timings)
                .map(Box::new),
            ..Delta::default()
        };
        let Some(kind) = self.kind.as_deref() else {
            // No event type: a whole response body.
            self.body.facts(&mut d, true);
            for item in self.body.output.iter().flatten() {
                item.whole(&mut d);
            }
            return d;
        };
        let key = self.output_index.map_or(ToolKey::Last, ToolKey::Index);
        match kind {
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                push(&mut d.reasoning, &self.delta);
            }
            "response.output_text.delta" => push(&mut d.content, &self.delta),
            "response.output_item.added" | "response.output_item.done" => {
                let added = kind == "response.output_item.added";
                if let Some(item) = self.item.as_ref().filter(|i| i.is_call()) {
                    let mut f = item.call(key);
                    // `.done` repeats the call whole: its arguments replace the deltas', and it is no new token.
                    f.whole = !added;
                    d.tools.push(f);
                    d.tool_calls += usize::from(added);
                }
            }
            "response.function_call_arguments.delta" | "response.function_call_arguments.done" => {
                let piece = if kind.ends_with(".delta") {
                    &self.delta
                } else {
                    &self.arguments
                };
                d.tools.push(ToolFragment {
                    arguments: piece.as_deref().unwrap_or_default().to_owned(),
                    whole: kind.ends_with(".done"),
                    ..ToolFragment::new(key)
                });
                d.tool_calls += usize::from(kind.ends_with(".delta"));
            }
            "error" => {
                d.error = self
                    .message
                    .map(String::from)
                    .or(self.body.error)
                    .or_else(|| Some("error event".to_owned()));
            }
            _ => {}
        }
        if let Some(r) = &self.response {
            let end = matches!(
                kind,
                "response.completed" | "response.incomplete" | "response.failed"
            );
            r.facts(&mut d, end);
            d.done = end;
        }
        d
    }
}

impl Response<'_> {
    /// The response's id and model, and once it has ended its status, usage and error.
    fn facts(&self, d: &mut Delta, ended: bool) {
        d.model = self.model.as_deref().map(str::to_owned);
        d.id = self.id.as_deref().map(str::to_owned);
        if !ended {
            return;
        }
        d.finish_reason = match self.status.as_deref() {
            Some("completed") => Some("stop".to_owned()),
            // `max_output_tokens` or `content_filter`, named in the conventions' words later.
            Some("incomplete") => Some(
                self.incomplete_details
                    .as_ref()
                    .and_then(|i| i.reason.as_deref())
                    .unwrap_or("incomplete")
                    .to_owned(),
            ),
            Some("failed") => Some("error".to_owned()),
            _ => None,
        };
        d.error.clone_from(&self.error);
        if let Some(u) = &self.usage {
            // Ollama hard-codes both details to 0, so a 0 here is no fact: a detail counts only when above 0
            // (vLLM and llama.cpp then lose nothing that a reader could tell from "none").
            let above_0 = |x: Option<&TokenDetails>, f: fn(&TokenDetails) -> Option<u64>| {
                x.and_then(f).filter(|n| *n > 0)
            };
            d.usage = Usage {
                input: u.input_tokens,
                output: u.output_tokens,
                reasoning: above_0(u.output_tokens_details.as_ref(), |x| x.reasoning_tokens),
            };
            d.cache = CacheUsage {
                read: above_0(u.input_tokens_details.as_ref(), |x| x.cached_tokens),
                creation: None,
            };
        }
    }
}

impl Item<'_> {
    fn is_call(&self) -> bool {
        self.kind.as_deref() == Some("function_call")
    }

    fn call(&self, key: ToolKey) -> ToolFragment {
        ToolFragment {
            id: self.call_id.as_deref().map(str::to_owned),
            name: self.name.as_deref().map(str::to_owned),
            arguments: self.arguments.as_deref().unwrap_or_default().to_owned(),
            ..ToolFragment::new(key)
        }
    }

    /// An item of a whole response.
    fn whole(&self, d: &mut Delta) {
        match self.kind.as_deref() {
            Some("reasoning") => {
                for p in self.content.iter().chain(&self.summary).flatten() {
                    push(&mut d.reasoning, &p.text);
                }
            }
            Some("message") => {
                for p in self.content.iter().flatten() {
                    if p.kind.as_deref() == Some("output_text") {
                        push(&mut d.content, &p.text);
                    }
                }
            }
            Some("function_call") => {
                let mut f = self.call(ToolKey::New);
                f.whole = true;
                d.tools.push(f);
                d.tool_calls += 1;
            }
            _ => {}
        }
    }
}
