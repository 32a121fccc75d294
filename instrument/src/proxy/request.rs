//! The request side of an API the proxy understands: reading the client's body whole (bounded in size and time),
//! what the proxy learns from it (model, streaming, think mode, sampling settings, and only when content capture
//! is on the input messages), and the one change the proxy may make to a request: asking an OpenAI-style server
//! for usage in a stream. Bodies come from the client's connection; facts go to the request's span
//! ([`super::record`]), the body on upstream ([`super::forward`]).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use super::error::ProxyError;
use crate::stream::{Api, Dialect};

/// Reads the client's body whole: at most `max` bytes, arriving within `timeout`.
pub async fn read_whole(
    body: Incoming,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, ProxyError> {
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ProxyError::RequestTooLarge { max_mib: max >> 20 })
        }
        Ok(Err(e)) => Err(ProxyError::ClientDisconnected(e.to_string())),
        Err(_) => Err(ProxyError::RequestTimeout(timeout)),
    }
}

/// The top-level members of a request the proxy reads; everything else is skipped by the parser.
#[derive(Debug, Default, serde::Deserialize)]
struct Head {
    model: Option<Value>,
    stream: Option<Value>,
    think: Option<Value>,
    reasoning_effort: Option<Value>,
    reasoning: Option<Value>,
    thinking: Option<Value>,
    options: Option<Value>,
    max_tokens: Option<Value>,
    max_output_tokens: Option<Value>,
    max_completion_tokens: Option<Value>,
    temperature: Option<Value>,
    top_p: Option<Value>,
    top_k: Option<Value>,
    stream_options: Option<Value>,
}

impl Head {
    fn into_value(self) -> Value {
        let fields = [
            ("model", self.model),
            ("stream", self.stream),
            ("think", self.think),
            ("reasoning_effort", self.reasoning_effort),
            ("reasoning", self.reasoning),
            ("thinking", self.thinking),
            ("options", self.options),
            ("max_tokens", self.max_tokens),
            ("max_output_tokens", self.max_output_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
            ("temperature", self.temperature),
            ("top_p", self.top_p),
            ("top_k", self.top_k),
            ("stream_options", self.stream_options),
        ];
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect(),
        )
    }
}

/// Facts from the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFacts {
    /// `model`.
    pub model: Option<String>,
    /// Whether the response streams.
    pub stream: bool,
    /// The requested think mode, normalised: `on`, `off`, a level (`low`, `medium`, `high`, `max`), or absent
    /// when the request did not say.
    pub think: Option<String>,
    /// `max_tokens` / `max_completion_tokens` / `max_output_tokens` (Responses) / `options.num_predict`.
    pub max_tokens: Option<i64>,
    /// `temperature` / `options.temperature`.
    pub temperature: Option<f64>,
    /// `top_p` / `options.top_p`.
    pub top_p: Option<f64>,
    /// `top_k` / `options.top_k`.
    pub top_k: Option<f64>,
    /// Whether the client asked for usage in its stream (`stream_options.include_usage`).
    pub client_asked_usage: bool,
    /// The input messages as GenAI-convention JSON, only when content capture is on.
    pub input_messages: Option<String>,
    /// The context window the request asks for (Ollama `options.num_ctx`).
    pub num_ctx: Option<u64>,
}

/// Reads `body` as a request of `api`. A body that is not JSON gives defaults: the upstream will answer it.
pub fn parse(api: Api, body: &[u8], capture: bool) -> RequestFacts {
    // Only the small top-level members are kept; messages and images are skipped without being built, so a
    // large request costs one scan, not a tree of values.
    let Ok(head) = serde_json::from_slice::<Head>(body) else {
        return RequestFacts {
            stream: api.streams_by_default(),
            ..RequestFacts::default()
        };
    };
    let v = head.into_value();
    let options = v.get("options");
    let num = |key: &str| v.get(key).or_else(|| options.and_then(|o| o.get(key)));
    let stream = api.can_stream()
        && v.get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(api.streams_by_default());
    let think = match api.dialect() {
        Dialect::OpenAi | Dialect::Responses => v
            .get("reasoning_effort")
            .or_else(|| v.get("reasoning").and_then(|r| r.get("effort")))
            .and_then(Value::as_str)
            .map(|e| {
                if e == "none" {
                    "off".to_owned()
                } else {
                    e.to_owned()
                }
            }),
        // `thinking: {type: enabled, budget_tokens}`; `disabled` is off; any other type (`adaptive`) as it is.
        Dialect::Anthropic => match v.get("thinking").and_then(|t| t.get("type")) {
            Some(Value::String(t)) if t == "enabled" => Some("on".to_owned()),
            Some(Value::String(t)) if t == "disabled" => Some("off".to_owned()),
            Some(Value::String(t)) => Some(t.clone()),
            _ => None,
        },
        Dialect::Ollama => match v.get("think") {
            Some(Value::Bool(true)) => Some("on".to_owned()),
            Some(Value::Bool(false)) => Some("off".to_owned()),
            Some(Value::String(level)) => Some(level.clone()),
            _ => None,
        },
    };
    RequestFacts {
        model: v.get("model").and_then(Value::as_str).map(str::to_owned),
        stream,
        think,
        max_tokens: v
            .get("max_tokens")
            .or_else(|| v.get("max_completion_tokens"))
            .or_else(|| v.get("max_output_tokens"))
            .or_else(|| options.and_then(|o| o.get("num_predict")))
            .and_then(Value::as_i64),
        temperature: num("temperature").and_then(Value::as_f64),
        top_p: num("top_p").and_then(Value::as_f64),
        top_k: num("top_k").and_then(Value::as_f64),
        client_asked_usage: v
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        input_messages: capture
            .then(|| serde_json::from_slice::<Value>(body).ok())
            .flatten()
            .and_then(|full| input_messages(&full)),
        num_ctx: options
            .and_then(|o| o.get("num_ctx"))
            .and_then(Value::as_u64)
            .filter(|n| *n > 0),
    }
}

/// The input as GenAI `gen_ai.input.messages` JSON: `[{role, parts: [{type: text, content}]}]`, from chat
/// `messages` (content a string or blocks with `text`: OpenAI, Ollama, Anthropic), a Responses `input` (a string
/// or items like messages), or a `prompt`.
fn input_messages(v: &Value) -> Option<String> {
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .or_else(|| v.get("input").and_then(Value::as_array));
    let messages: Vec<Value> = if let Some(ms) = messages {
        ms.iter().map(message).collect()
    } else {
        let prompt = v.get("prompt").or_else(|| v.get("input"))?;
        let text = match prompt {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        vec![serde_json::json!({"role": "user", "parts": [text_part(&text)]})]
    };
    serde_json::to_string(&messages).ok()
}

fn text_part(s: &str) -> Value {
    serde_json::json!({"type": "text", "content": s})
}

/// One input message: its role and text parts.
fn message(m: &Value) -> Value {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
    let parts: Vec<Value> = match m.get("content") {
        Some(Value::String(s)) => vec![text_part(s)],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .map(text_part)
            .collect(),
        _ => Vec::new(),
    };
    serde_json::json!({"role": role, "parts": parts})
}

/// Returns the body with `"stream_options":{"include_usage":true}` added as the first member of the top-level
/// object, every other byte unchanged (re-serialising would reorder keys, which changes what structured-output
/// servers generate). `None` when the body is not a non-empty JSON object or already has `stream_options`.
pub fn with_usage_requested(body: &[u8]) -> Option<Vec<u8>> {
    // The top-level keys only; the values are checked for validity and skipped. serde_json does not check the
    // UTF-8 of the strings it skips, so the body is checked first: a body that is not UTF-8 is not JSON, and is
    // passed on as the client sent it (found by fuzzing, fuzz/regressions/request/).
    let text = std::str::from_utf8(body).ok()?;
    let keys: std::collections::HashMap<String, serde::de::IgnoredAny> =
        serde_json::from_str(text).ok()?;
    if keys.is_empty() || keys.contains_key("stream_options") {
        return None;
    }
    let open = body.iter().position(|b| !b.is_ascii_whitespace())?;
    const FIELD: &[u8] = br#""stream_options":{"include_usage":true},"#;
    let mut out = Vec::with_capacity(body.len() + FIELD.len());
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(FIELD);
    out.extend_from_slice(&body[open + 1..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_request_facts() {
        let f = parse(
            Api::OllamaChat,
            br#"{"model":"qwen3:14b","messages":[{"role":"user","content":"hi"}],"think":true,"options":{"temperature":0.2,"num_predict":100}}"#,
            false,
        );
        assert_eq!(f.model.as_deref(), Some("qwen3:14b"));
        assert!(f.stream, "Ollama streams unless told not to");
        assert_eq!(f.think.as_deref(), Some("on"));
        assert_eq!((f.max_tokens, f.temperature), (Some(100), Some(0.2)));
        assert_eq!(f.input_messages, None, "no content without opt-in");
        assert_eq!(f.num_ctx, None, "no window asked for");
        let f = parse(
            Api::OllamaChat,
            br#"{"model":"m","messages":[],"options":{"num_ctx":8192}}"#,
            false,
        );
        assert_eq!(f.num_ctx, Some(8192));
        let f = parse(
            Api::OllamaGenerate,
            br#"{"model":"m","prompt":"x","stream":false,"think":"high"}"#,
            true,
        );
        assert!(!f.stream);
        assert_eq!(f.think.as_deref(), Some("high"));
        assert_eq!(
            f.input_messages.as_deref(),
            Some(r#"[{"parts":[{"content":"x","type":"text"}],"role":"user"}]"#)
        );
    }

    #[test]
    fn openai_request_facts_and_usage_injection() {
        let body = br#"{"model":"m","stream":true,"reasoning_effort":"none","messages":[]}"#;
        let f = parse(Api::OpenAiChat, body, false);
        assert!(f.stream);
        assert_eq!(f.think.as_deref(), Some("off"));
        assert!(!f.client_asked_usage);
        let changed = with_usage_requested(body).unwrap();
        assert_eq!(
            String::from_utf8(changed.clone()).unwrap(),
            r#"{"stream_options":{"include_usage":true},"model":"m","stream":true,"reasoning_effort":"none","messages":[]}"#,
            "inserted; the rest byte for byte"
        );
        let f2 = parse(Api::OpenAiChat, &changed, false);
        assert!(f2.client_asked_usage);
        assert_eq!(f2.model.as_deref(), Some("m"));
        assert_eq!(
            with_usage_requested(
                br#"{"stream":true,"stream_options":{"include_obfuscation":false}}"#
            ),
            None,
            "an existing stream_options is left alone"
        );
        assert!(
            !parse(Api::OpenAiChat, br#"{"model":"m"}"#, false).stream,
            "OpenAI does not stream by default"
        );
        assert!(!parse(Api::OllamaEmbed, br#"{"model":"m","stream":true}"#, false).stream);
        assert_eq!(with_usage_requested(b"[1]"), None);
    }

    #[test]
    fn a_body_with_invalid_utf8_in_a_skipped_value_is_not_rewritten() {
        // Found by the `request` fuzz target: serde_json skipped the invalid byte inside "model"'s value, so a
        // body that is not JSON was rewritten and sent on with stream_options added.
        let body = b"{\"model\":\"\x83laude\",\"stream\":true,\"messages\":[]}";
        assert!(serde_json::from_slice::<serde_json::Value>(body).is_err());
        assert_eq!(
            with_usage_requested(body),
            None,
            "not JSON: passed on unchanged"
        );
        let f = parse(Api::OpenAiChat, body, false);
        assert_eq!(
            (f.model, f.input_messages),
            (None, None),
            "read as not JSON"
        );
        assert!(with_usage_requested("{\"model\":\"cl\u{e9}aude\"}".as_bytes()).is_some());
    }

    #[test]
    fn responses_and_anthropic_request_facts() {
        let f = parse(
            Api::OpenAiResponses,
            br#"{"model":"gpt-oss:20b","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"reasoning":{"effort":"low"},"max_output_tokens":64,"temperature":0.5,"top_p":0.9}"#,
            true,
        );
        assert_eq!(f.model.as_deref(), Some("gpt-oss:20b"));
        assert!(!f.stream, "Responses does not stream by default");
        assert_eq!(f.think.as_deref(), Some("low"));
        assert_eq!(
            (f.max_tokens, f.temperature, f.top_p),
            (Some(64), Some(0.5), Some(0.9))
        );
        assert_eq!(
            f.input_messages.as_deref(),
            Some(r#"[{"parts":[{"content":"hi","type":"text"}],"role":"user"}]"#)
        );
        let f = parse(
            Api::OpenAiResponses,
            br#"{"model":"m","input":"hello","stream":true}"#,
            true,
        );
        assert!(f.stream);
        assert_eq!(
            f.input_messages.as_deref(),
            Some(r#"[{"parts":[{"content":"hello","type":"text"}],"role":"user"}]"#)
        );
        let body = br#"{"model":"claude","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":512},"top_k":40,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}]}"#;
        let f = parse(Api::AnthropicMessages, body, false);
        assert_eq!(f.think.as_deref(), Some("on"));
        assert_eq!((f.max_tokens, f.top_k), (Some(1024), Some(40.0)));
        assert!(!f.stream, "Anthropic does not stream by default");
        assert_eq!(f.input_messages, None, "no content without opt-in");
        assert!(parse(Api::AnthropicMessages, br#"{"stream":true}"#, false).stream);
        let off = parse(
            Api::AnthropicMessages,
            br#"{"thinking":{"type":"disabled"}}"#,
            false,
        );
        assert_eq!(off.think.as_deref(), Some("off"));
        // Ollama's `think` means nothing on the Anthropic route.
        assert_eq!(
            parse(Api::AnthropicMessages, br#"{"think":true}"#, false).think,
            None
        );
    }
}
