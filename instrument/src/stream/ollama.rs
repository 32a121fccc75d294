//! The Ollama dialect (`/api/chat`, `/api/generate`, `/api/embed`): one frame's JSON (an NDJSON line or a whole
//! body, from [`super::framing`]) into a [`Delta`] for the phase tracker and the request span.
//!
//! Read leniently ([`super::lenient`]): a member of another type than below is absent. Chat frames carry text in
//! `message.{thinking,content}` and tool calls in `message.tool_calls` (each call whole in one frame, its
//! arguments a JSON object); generate frames in top-level `thinking` and `response`. The last frame
//! (`done: true`) has the counts and Ollama's own timings in nanoseconds.

use serde::de::MapAccess;

use super::delta::{Delta, Usage, error_member, object_text, push};
use super::lenient::{self, Object, Text, read, skip};
use super::timings;
use super::tools::{ToolFragment, ToolKey};

/// One Ollama frame: the members llmtel reads.
#[derive(Default)]
struct Frame<'de> {
    model: Text<'de>,
    error: Option<String>,
    message: Option<Message<'de>>,
    thinking: Text<'de>,
    response: Text<'de>,
    done: Option<bool>,
    done_reason: Text<'de>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_duration: Option<u64>,
    eval_duration: Option<u64>,
}

/// `message` of a chat frame.
#[derive(Default)]
struct Message<'de> {
    content: Text<'de>,
    thinking: Text<'de>,
    tool_calls: Option<Vec<Call<'de>>>,
}

/// An element of `message.tool_calls`: one whole call.
#[derive(Default)]
struct Call<'de> {
    id: Text<'de>,
    function: Option<Function<'de>>,
}

/// `function` of a tool call: its `arguments` are a JSON object.
#[derive(Default)]
struct Function<'de> {
    name: Text<'de>,
    arguments: Option<String>,
}

impl<'de> Object<'de> for Frame<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "model" => self.model = read(map)?,
            "error" => self.error = error_member(map)?,
            "message" => self.message = read(map)?,
            "thinking" => self.thinking = read(map)?,
            "response" => self.response = read(map)?,
            "done" => self.done = read(map)?,
            "done_reason" => self.done_reason = read(map)?,
            "prompt_eval_count" => self.prompt_eval_count = read(map)?,
            "eval_count" => self.eval_count = read(map)?,
            "total_duration" => self.total_duration = read(map)?,
            "load_duration" => self.load_duration = read(map)?,
            "prompt_eval_duration" => self.prompt_eval_duration = read(map)?,
            "eval_duration" => self.eval_duration = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Message<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "content" => self.content = read(map)?,
            "thinking" => self.thinking = read(map)?,
            "tool_calls" => self.tool_calls = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Call<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = read(map)?,
            "function" => self.function = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Function<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "name" => self.name = read(map)?,
            "arguments" => self.arguments = object_text(map)?,
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
            done: self.done.unwrap_or(false),
            finish_reason: self.done_reason.map(String::from),
            model: self.model.map(String::from),
            usage: Usage {
                input: self.prompt_eval_count,
                output: self.eval_count,
                reasoning: None,
            },
            timings: timings::ollama(
                self.total_duration,
                self.load_duration,
                self.prompt_eval_duration,
                self.eval_duration,
                self.prompt_eval_count,
                self.eval_count,
            ),
            error: self.error,
            ..Delta::default()
        };
        // A chat frame has `message`; only a generate frame's text is at the top level.
        match &self.message {
            Some(m) => {
                push(&mut d.reasoning, &m.thinking);
                push(&mut d.content, &m.content);
                // Each element is a whole call (any element counts, as a call without a name).
                for c in m.tool_calls.iter().flatten() {
                    let f = c.function.as_ref();
                    d.tools.push(ToolFragment {
                        id: c.id.as_deref().map(str::to_owned),
                        name: f.and_then(|f| f.name.as_deref()).map(str::to_owned),
                        arguments: f.and_then(|f| f.arguments.clone()).unwrap_or_default(),
                        whole: true,
                        ..ToolFragment::new(ToolKey::New)
                    });
                }
                d.tool_calls = d.tools.len();
            }
            None => {
                push(&mut d.reasoning, &self.thinking);
                push(&mut d.content, &self.response);
            }
        }
        d
    }
}
