//! What one frame of a response says, in every dialect: the [`Delta`] the dialect decoders ([`super::ollama`],
//! [`super::openai`]) make and the phase tracker and the request span read, and the two readings every dialect
//! shares (text members appended, the `error` member).

use serde::de::MapAccess;

use super::lenient::Text;

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

/// Ollama's own timings from its final chunk, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OllamaTimings {
    /// `total_duration`.
    pub total: Option<u64>,
    /// `load_duration`: loading the model.
    pub load: Option<u64>,
    /// `prompt_eval_duration`: reading the prompt.
    pub prompt_eval: Option<u64>,
    /// `eval_duration`: generating.
    pub eval: Option<u64>,
}

/// What one frame of a response says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// Reasoning text from a dedicated field (`thinking`, `reasoning`, `reasoning_content`).
    pub reasoning: String,
    /// Answer text (`content`, `response`, `text`); may hold inline `<think>` tags.
    pub content: String,
    /// Tool calls in this frame (they are answer output).
    pub tool_calls: usize,
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
    /// Ollama's timings.
    pub ollama: OllamaTimings,
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
