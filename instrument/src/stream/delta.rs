//! What one frame of a response says, in every dialect: the [`Delta`] the dialect decoders ([`super::ollama`],
//! [`super::openai`], [`super::responses`], [`super::anthropic`]) make and the phase tracker and the request span
//! read, and the readings every dialect shares (text members appended, the `error` member, a JSON member kept as
//! text, finish reasons in the conventions' words).

use serde::de::MapAccess;

use super::lenient::Text;
use super::timings::ServerTimings;
use super::tools::ToolFragment;

/// Token counts a server reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens (`prompt_eval_count`, `usage.prompt_tokens`).
    pub input: Option<u64>,
    /// Generated tokens, reasoning included (`eval_count`, `usage.completion_tokens`).
    pub output: Option<u64>,
    /// Reasoning tokens, when the server counts them (`completion_tokens_details.reasoning_tokens`).
    pub reasoning: Option<u64>,
}

/// Prompt-cache counts a server reported. Kept apart from [`Usage`] because only some dialects have them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Input tokens read from the prompt cache (`cached_tokens`, `cache_read_input_tokens`).
    pub read: Option<u64>,
    /// Input tokens written to the prompt cache (Anthropic `cache_creation_input_tokens`).
    pub creation: Option<u64>,
}

/// What one frame of a response says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// Reasoning text from a dedicated field (`thinking`, `reasoning`, `reasoning_content`).
    pub reasoning: String,
    /// Answer text (`content`, `response`, `text`); may hold inline `<think>` tags.
    pub content: String,
    /// Tool-call output in this frame (calls or pieces of one): answer tokens for the phase tracker.
    pub tool_calls: usize,
    /// What this frame says of tool calls (which call, its id, name and a piece of its arguments).
    pub tools: Vec<ToolFragment>,
    /// The server says the response is complete (Ollama `done: true`, SSE `[DONE]`, a whole JSON body).
    pub done: bool,
    /// `done_reason` / `finish_reason`.
    pub finish_reason: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
    /// The response id (`id`).
    pub id: Option<String>,
    /// Token counts.
    pub usage: Usage,
    /// Prompt-cache counts.
    pub cache: CacheUsage,
    /// The server's own timings (Ollama's final chunk, llama.cpp's `timings`), when this frame has them.
    /// Boxed: only a last frame has them, and every frame's delta is moved several times on its way.
    pub timings: Option<Box<ServerTimings>>,
    /// An error the server reported inside the stream (`{"error": ...}`).
    pub error: Option<String>,
    /// This frame is an OpenAI usage-only chunk (`choices: []` with `usage`).
    pub usage_only: bool,
}

/// Appends a text member, if present.
pub(super) fn push(out: &mut String, t: &Text<'_>) {
    if let Some(t) = t {
        out.push_str(t);
    }
}

/// Reads an `error` member, the same in every dialect: a string as it is, an object's `message`, anything else
/// as JSON; `null` is no error. Only error frames have the member, so building a `Value` here costs nothing on
/// the stream's hot path.
pub(super) fn error_member<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<String>, A::Error> {
    use serde_json::Value;
    Ok(match map.next_value::<Value>()? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(
            other
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| other.to_string(), str::to_owned),
        ),
    })
}

/// Reads a member that is a JSON object as its JSON text (a tool call's arguments); anything else is absent.
/// Only tool-call frames have such members, so the `Value` costs nothing on the text stream's hot path.
pub(super) fn object_text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    use serde_json::Value;
    Ok(match map.next_value::<Value>()? {
        v @ Value::Object(_) => Some(v.to_string()),
        _ => None,
    })
}

/// A finish reason in the GenAI conventions' words (`stop`, `length`, `content_filter`, `tool_call`, `error`)
/// from what a server said in any dialect. `tool_calls` says whether the response made tool calls: Ollama's
/// native API says `stop` then, where its own OpenAI layer says `tool_calls`, and a Responses stream has no reason
/// but its status. Unknown reasons pass unchanged.
pub fn finish_reason(raw: &str, tool_calls: bool) -> String {
    match raw {
        "tool_calls" | "tool_use" | "function_call" | "tool_call" => "tool_call",
        "stop" | "end_turn" | "stop_sequence" if tool_calls => "tool_call",
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" | "max_output_tokens" => "length",
        "refusal" => "content_filter",
        other => other,
    }
    .to_owned()
}
