//! The Anthropic Messages dialect (`/v1/messages`): one frame's JSON (an SSE event's data or a whole body, from
//! [`super::framing`]) into a [`Delta`].
//!
//! A stream is typed events (the `type` inside the data is read; the `event:` line says the same):
//! `message_start` (id, model, the input and cache counts), `content_block_start` (a `thinking`, `text` or
//! `tool_use {id, name}` block at an `index`), `content_block_delta` (`thinking_delta`, `text_delta`,
//! `input_json_delta` pieces of a tool call's input; `signature_delta` is not read), `message_delta` (the stop
//! reason and the output count), `message_stop` (the end), `ping`, and `error`. A whole body is one message with
//! `content[]` blocks, `stop_reason` and `usage`.
//!
//! Anthropic's `input_tokens` leaves out the cached prompt (`cache_read_input_tokens`,
//! `cache_creation_input_tokens`); they are reported apart here and added up on the span ([`super::Api`]). The
//! counts are Anthropic's own accounting, sent only by servers that keep it, so a 0 there is a fact and kept.
//!
//! Read leniently ([`super::lenient`]): a member of another type than below is absent.

use serde::de::MapAccess;

use super::delta::{CacheUsage, Delta, Usage, error_member, object_text, push};
use super::lenient::{self, Object, Text, read, skip};
use super::tools::{ToolFragment, ToolKey};

/// One event, or a whole message: the members llmtel reads.
#[derive(Default)]
struct Frame<'de> {
    kind: Text<'de>,
    index: Option<u64>,
    message: Option<Message<'de>>,
    content_block: Option<Block<'de>>,
    delta: Option<Change<'de>>,
    error: Option<String>,
    /// A whole body's own members (the message at the top level; `usage` of a `message_delta` too).
    body: Message<'de>,
}

/// A message: `message` of `message_start`, or a whole body.
#[derive(Default)]
struct Message<'de> {
    id: Text<'de>,
    model: Text<'de>,
    content: Option<Vec<Block<'de>>>,
    stop_reason: Text<'de>,
    usage: Option<TokenUsage>,
}

/// A content block: `thinking`, `text` or `tool_use`.
#[derive(Default)]
struct Block<'de> {
    kind: Text<'de>,
    text: Text<'de>,
    thinking: Text<'de>,
    id: Text<'de>,
    name: Text<'de>,
    input: Option<String>,
}

/// `delta` of a `content_block_delta` (text, thinking, a piece of a tool's input) or a `message_delta` (the stop
/// reason).
#[derive(Default)]
struct Change<'de> {
    text: Text<'de>,
    thinking: Text<'de>,
    partial_json: Text<'de>,
    stop_reason: Text<'de>,
}

#[derive(Default)]
struct TokenUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl<'de> Object<'de> for Frame<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = read(map)?,
            "index" => self.index = read(map)?,
            "message" => self.message = read(map)?,
            "content_block" => self.content_block = read(map)?,
            "delta" => self.delta = read(map)?,
            "error" => self.error = error_member(map)?,
            _ => self.body.member(key, map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Message<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = read(map)?,
            "model" => self.model = read(map)?,
            "content" => self.content = read(map)?,
            "stop_reason" => self.stop_reason = read(map)?,
            "usage" => self.usage = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Block<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = read(map)?,
            "text" => self.text = read(map)?,
            "thinking" => self.thinking = read(map)?,
            "id" => self.id = read(map)?,
            "name" => self.name = read(map)?,
            "input" => self.input = object_text(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Change<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "text" => self.text = read(map)?,
            "thinking" => self.thinking = read(map)?,
            "partial_json" => self.partial_json = read(map)?,
            "stop_reason" => self.stop_reason = read(map)?,
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
            "cache_read_input_tokens" => self.cache_read_input_tokens = read(map)?,
            "cache_creation_input_tokens" => self.cache_creation_input_tokens = read(map)?,
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
            error: self.error,
            ..Delta::default()
        };
        let key = self.index.map_or(ToolKey::Last, ToolKey::Index);
        match self.kind.as_deref() {
            Some("message_start") => {
                if let Some(m) = &self.message {
                    // Its `output_tokens` is a placeholder (0 or 1): the count comes with `message_delta`.
                    m.facts(&mut d, false);
                }
            }
            Some("content_block_start") => {
                if let Some(b) = &self.content_block {
                    b.read(&mut d, key, false);
                }
            }
            Some("content_block_delta") => {
                if let Some(c) = &self.delta {
                    push(&mut d.reasoning, &c.thinking);
                    push(&mut d.content, &c.text);
                    if let Some(piece) = &c.partial_json {
                        d.tools.push(ToolFragment {
                            arguments: piece.to_string(),
                            ..ToolFragment::new(key)
                        });
                        d.tool_calls += 1;
                    }
                }
            }
            Some("message_delta") => {
                d.finish_reason = self
                    .delta
                    .as_ref()
                    .and_then(|c| c.stop_reason.as_deref())
                    .map(str::to_owned);
                self.body.counts(&mut d, true);
            }
            Some("message_stop") => d.done = true,
            // A whole message (`type: message`, or a server that leaves the type out).
            Some("message") | None => {
                self.body.facts(&mut d, true);
                d.finish_reason = self.body.stop_reason.as_deref().map(str::to_owned);
                for b in self.body.content.iter().flatten() {
                    b.read(&mut d, ToolKey::New, true);
                }
            }
            // `ping`, `content_block_stop`, `error` (read above) and types to come.
            _ => {}
        }
        d
    }
}

impl Message<'_> {
    fn facts(&self, d: &mut Delta, with_output: bool) {
        d.model = self.model.as_deref().map(str::to_owned);
        d.id = self.id.as_deref().map(str::to_owned);
        self.counts(d, with_output);
    }

    fn counts(&self, d: &mut Delta, with_output: bool) {
        if let Some(u) = &self.usage {
            d.usage = Usage {
                input: u.input_tokens,
                output: u.output_tokens.filter(|_| with_output),
                reasoning: None,
            };
            d.cache = CacheUsage {
                read: u.cache_read_input_tokens,
                creation: u.cache_creation_input_tokens,
            };
        }
    }
}

impl Block<'_> {
    /// A block's text, or the start of its tool call. In a whole body a `tool_use` block's `input` is the call's
    /// whole arguments; in a stream it is empty and the pieces follow.
    fn read(&self, d: &mut Delta, key: ToolKey, whole: bool) {
        match self.kind.as_deref() {
            Some("tool_use") => {
                d.tools.push(ToolFragment {
                    id: self.id.as_deref().map(str::to_owned),
                    name: self.name.as_deref().map(str::to_owned),
                    arguments: self.input.clone().filter(|_| whole).unwrap_or_default(),
                    whole,
                    ..ToolFragment::new(key)
                });
                d.tool_calls += 1;
            }
            Some("thinking") => push(&mut d.reasoning, &self.thinking),
            Some("text") => push(&mut d.content, &self.text),
            _ => {}
        }
    }
}
