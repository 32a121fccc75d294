//! The OpenAI-compatible dialect (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`): one frame's JSON
//! (an SSE event's data or a whole body, from [`super::framing`]) into a [`Delta`].
//!
//! Read leniently ([`super::lenient`]): a member of another type than below is absent. A stream chunk carries its
//! text in `choices[].delta`, a whole response in `choices[].message`, a text completion in `choices[].text`.
//! Reasoning comes as `reasoning` (vLLM, OpenRouter) or `reasoning_content` (DeepSeek, llama.cpp). Usage comes
//! in the last chunk, alone (`choices: []`) when the client asked for `stream_options.include_usage`, with the
//! prompt-cache hits in `prompt_tokens_details.cached_tokens` where the server counts them (vLLM, llama.cpp,
//! SGLang: there a 0 is a fact, so it is kept). llama.cpp adds its own `timings` at the top level of a whole body
//! and of a stream's last chunk ([`super::timings`]). A streamed tool call comes as `delta.tool_calls` fragments that
//! share an `index`; a whole response's `message.tool_calls` are whole calls.

use serde::de::MapAccess;

use super::delta::{CacheUsage, Delta, Usage, error_member, push};
use super::lenient::{self, Object, Text, read, skip};
use super::timings::LlamaTimings;
use super::tools::{ToolFragment, ToolKey};

/// One OpenAI-style frame: the members llmtel reads.
#[derive(Default)]
struct Frame<'de> {
    model: Text<'de>,
    id: Text<'de>,
    error: Option<String>,
    choices: Option<Vec<Choice<'de>>>,
    usage: Option<TokenUsage>,
    /// llama.cpp's own timings, on a whole body and a stream's last chunk.
    timings: Option<LlamaTimings>,
}

#[derive(Default)]
struct Choice<'de> {
    delta: Option<Message<'de>>,
    message: Option<Message<'de>>,
    text: Text<'de>,
    reasoning: Text<'de>,
    reasoning_content: Text<'de>,
    finish_reason: Text<'de>,
}

/// `delta` of a stream chunk or `message` of a whole response.
#[derive(Default)]
struct Message<'de> {
    content: Text<'de>,
    reasoning: Text<'de>,
    reasoning_content: Text<'de>,
    tool_calls: Option<Vec<Call<'de>>>,
}

/// An element of `tool_calls`: a whole call, or in a stream a fragment of the call at `index`.
#[derive(Default)]
struct Call<'de> {
    index: Option<u64>,
    id: Text<'de>,
    function: Option<Function<'de>>,
}

/// `function` of a tool call: `arguments` is JSON text (in a stream, a piece of it).
#[derive(Default)]
struct Function<'de> {
    name: Text<'de>,
    arguments: Text<'de>,
}

#[derive(Default)]
struct TokenUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    completion_tokens_details: Option<TokenDetails>,
    prompt_tokens_details: Option<TokenDetails>,
}

/// `completion_tokens_details` or `prompt_tokens_details`.
#[derive(Default)]
struct TokenDetails {
    reasoning_tokens: Option<u64>,
    cached_tokens: Option<u64>,
}

impl<'de> Object<'de> for Frame<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "model" => self.model = read(map)?,
            "id" => self.id = read(map)?,
            "error" => self.error = error_member(map)?,
            "choices" => self.choices = read(map)?,
            "usage" => self.usage = read(map)?,
            "timings" => self.timings = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Choice<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "delta" => self.delta = read(map)?,
            "message" => self.message = read(map)?,
            "text" => self.text = read(map)?,
            "reasoning" => self.reasoning = read(map)?,
            "reasoning_content" => self.reasoning_content = read(map)?,
            "finish_reason" => self.finish_reason = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Message<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "content" => self.content = read(map)?,
            "reasoning" => self.reasoning = read(map)?,
            "reasoning_content" => self.reasoning_content = read(map)?,
            "tool_calls" => self.tool_calls = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for TokenUsage {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "prompt_tokens" => self.prompt_tokens = read(map)?,
            "completion_tokens" => self.completion_tokens = read(map)?,
            "completion_tokens_details" => self.completion_tokens_details = read(map)?,
            "prompt_tokens_details" => self.prompt_tokens_details = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for TokenDetails {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "reasoning_tokens" => self.reasoning_tokens = read(map)?,
            "cached_tokens" => self.cached_tokens = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Call<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "index" => self.index = read(map)?,
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
            "arguments" => self.arguments = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Call<'_> {
    /// The fragment: by `index` when it has one (a stream), else a call of its own when it has an `id` (a whole
    /// response, or a server that sends no index), else more of the call before.
    fn fragment(&self, streamed: bool) -> ToolFragment {
        let key = match (self.index, &self.id) {
            (Some(i), _) => ToolKey::Index(i),
            (None, Some(_)) => ToolKey::New,
            (None, None) if streamed => ToolKey::Last,
            (None, None) => ToolKey::New,
        };
        let f = self.function.as_ref();
        ToolFragment {
            id: self.id.as_deref().map(str::to_owned),
            name: f.and_then(|f| f.name.as_deref()).map(str::to_owned),
            arguments: f
                .and_then(|f| f.arguments.as_deref())
                .unwrap_or_default()
                .to_owned(),
            // A whole response's call is whole; a stream's fragments add up.
            whole: !streamed,
            ..ToolFragment::new(key)
        }
    }
}

/// Decodes one frame; `Err` only when it is not JSON. JSON that is not an object says nothing.
pub(super) fn decode(json: &[u8]) -> Result<Delta, serde_json::Error> {
    Ok(lenient::frame::<Frame<'_>>(json)?.map_or_else(Delta::default, Frame::into_delta))
}

impl Frame<'_> {
    fn into_delta(self) -> Delta {
        let mut d = Delta {
            model: self.model.map(String::from),
            id: self.id.map(String::from),
            error: self.error,
            timings: self
                .timings
                .and_then(LlamaTimings::into_timings)
                .map(Box::new),
            ..Delta::default()
        };
        for c in self.choices.iter().flatten() {
            if let Some(m) = c.delta.as_ref().or(c.message.as_ref()) {
                push(&mut d.reasoning, &m.reasoning);
                push(&mut d.reasoning, &m.reasoning_content);
                push(&mut d.content, &m.content);
                let streamed = c.delta.is_some();
                for call in m.tool_calls.iter().flatten() {
                    d.tools.push(call.fragment(streamed));
                }
                d.tool_calls += m.tool_calls.as_ref().map_or(0, Vec::len);
            }
            if c.text.is_some() {
                // Text completions: reasoning, where a server sends it, sits beside `text` in the choice.
                push(&mut d.content, &c.text);
                push(&mut d.reasoning, &c.reasoning);
                push(&mut d.reasoning, &c.reasoning_content);
            }
            if let Some(r) = &c.finish_reason {
                d.finish_reason = Some(r.to_string());
            }
        }
        if let Some(u) = &self.usage {
            d.usage = Usage {
                input: u.prompt_tokens,
                output: u.completion_tokens,
                reasoning: u
                    .completion_tokens_details
                    .as_ref()
                    .and_then(|x| x.reasoning_tokens),
            };
            d.cache = CacheUsage {
                read: u
                    .prompt_tokens_details
                    .as_ref()
                    .and_then(|x| x.cached_tokens),
                creation: None,
            };
            d.usage_only = self.choices.as_ref().is_some_and(Vec::is_empty);
        }
        d
    }
}
