//! Response stream parsing: cuts the bytes a model server sends into frames (NDJSON lines, SSE events, or one
//! whole JSON document) and decodes each frame of either dialect into a [`Delta`]: the reasoning and answer text
//! it carries, and whatever usage, timing and finish facts the server put in it.
//!
//! Framing works on raw bytes, so a chunk boundary anywhere (inside a JSON string, inside a multi-byte UTF-8
//! character) changes nothing: text is only decoded once its frame is complete.

use serde_json::Value;

/// The APIs the proxy understands, by request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Ollama `POST /api/chat`.
    OllamaChat,
    /// Ollama `POST /api/generate`.
    OllamaGenerate,
    /// Ollama `POST /api/embed` and the older `/api/embeddings`.
    OllamaEmbed,
    /// OpenAI-compatible `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI-compatible `POST /v1/completions`.
    OpenAiCompletions,
    /// OpenAI-compatible `POST /v1/embeddings`.
    OpenAiEmbeddings,
}

impl Api {
    /// The API a `POST` to `path` is, if the proxy understands it.
    pub fn from_path(path: &str) -> Option<Self> {
        Some(match path.trim_end_matches('/') {
            "/api/chat" => Self::OllamaChat,
            "/api/generate" => Self::OllamaGenerate,
            "/api/embed" | "/api/embeddings" => Self::OllamaEmbed,
            "/v1/chat/completions" => Self::OpenAiChat,
            "/v1/completions" => Self::OpenAiCompletions,
            "/v1/embeddings" => Self::OpenAiEmbeddings,
            _ => return None,
        })
    }

    /// `gen_ai.operation.name`.
    pub fn operation(self) -> &'static str {
        match self {
            Self::OllamaChat | Self::OpenAiChat => "chat",
            Self::OllamaGenerate | Self::OpenAiCompletions => "text_completion",
            Self::OllamaEmbed | Self::OpenAiEmbeddings => "embeddings",
        }
    }

    /// Whether the API speaks the OpenAI dialect (SSE streams, `{"error": {...}}` bodies).
    pub fn is_openai(self) -> bool {
        matches!(
            self,
            Self::OpenAiChat | Self::OpenAiCompletions | Self::OpenAiEmbeddings
        )
    }

    /// Whether a request that does not say `stream` streams (Ollama generation does; OpenAI does not).
    pub fn streams_by_default(self) -> bool {
        matches!(self, Self::OllamaChat | Self::OllamaGenerate)
    }

    /// Whether the API can stream at all.
    pub fn can_stream(self) -> bool {
        !matches!(self, Self::OllamaEmbed | Self::OpenAiEmbeddings)
    }
}

/// How a response body is cut into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document per line (Ollama streaming, `application/x-ndjson`).
    Ndjson,
    /// Server-sent events (`text/event-stream`): `data:` lines, events end at a blank line.
    Sse,
    /// The whole body is one JSON document.
    Whole,
}

impl Framing {
    /// The framing of a response with this `Content-Type`.
    pub fn from_content_type(ct: &str) -> Self {
        let ct = ct.to_ascii_lowercase();
        if ct.starts_with("text/event-stream") {
            Self::Sse
        } else if ct.starts_with("application/x-ndjson") || ct.starts_with("application/jsonl") {
            Self::Ndjson
        } else {
            Self::Whole
        }
    }
}

/// Cuts bytes into complete lines (NDJSON) or complete events (SSE), keeping the unfinished tail.
///
/// Each frame is handed out as the raw bytes it was sent as, terminator included, so a caller can forward
/// frames unchanged. The tail is bounded by `max`: a frame longer than that is reported with [`Split::TooLong`]
/// and skipped rather than buffered without end.
#[derive(Debug)]
pub struct Splitter {
    events: bool,
    /// `Framing::Whole`: no terminator; the body is one frame, handed out by [`Splitter::finish`].
    whole: bool,
    buf: Vec<u8>,
    /// Where to resume looking for a terminator in `buf`.
    scanned: usize,
    /// Start of the current line within `buf` (SSE: a blank line ends an event).
    line_start: usize,
    max: usize,
    skipping: bool,
}

/// What a [`Splitter`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Split<'a> {
    /// A complete frame, terminator included.
    Frame(&'a [u8]),
    /// A frame longer than the limit was skipped.
    TooLong,
}

impl Splitter {
    /// A splitter for `framing`. With `Whole`, the body (pretty-printed or not) is one frame, held until
    /// [`Splitter::finish`]; past `max` it is reported [`Split::TooLong`] and dropped.
    pub fn new(framing: Framing, max: usize) -> Self {
        Self {
            events: framing == Framing::Sse,
            whole: framing == Framing::Whole,
            buf: Vec::new(),
            scanned: 0,
            line_start: 0,
            max,
            skipping: false,
        }
    }

    /// Adds `chunk` and hands every frame it completes to `f`, in order.
    pub fn push(&mut self, chunk: &[u8], f: &mut dyn FnMut(Split<'_>)) {
        if self.whole {
            if self.skipping {
                return;
            }
            if self.buf.len() + chunk.len() > self.max {
                self.buf = Vec::new();
                self.skipping = true;
                f(Split::TooLong);
            } else {
                self.buf.extend_from_slice(chunk);
            }
            return;
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.skipping {
                // Drop bytes until the end of the over-long frame.
                match self.find_end_while_skipping(rest) {
                    Some(n) => {
                        rest = &rest[n..];
                        self.skipping = false;
                    }
                    None => return,
                }
                continue;
            }
            let take = rest
                .len()
                .min(self.max.saturating_sub(self.buf.len()).max(1));
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            let mut frame_start = 0;
            while let Some(off) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let nl = self.scanned + off;
                self.scanned = nl + 1;
                let line = &self.buf[self.line_start..nl];
                let blank = line.is_empty() || line == b"\r";
                self.line_start = nl + 1;
                if !self.events || blank {
                    f(Split::Frame(&self.buf[frame_start..=nl]));
                    frame_start = nl + 1;
                }
            }
            self.buf.drain(..frame_start);
            self.scanned -= frame_start;
            self.line_start -= frame_start;
            if self.buf.len() >= self.max {
                self.buf.clear();
                self.scanned = 0;
                self.line_start = 0;
                self.skipping = true;
                f(Split::TooLong);
            }
        }
    }

    /// For an over-long frame: how many bytes of `chunk` belong to it (through its terminator), if it ends here.
    fn find_end_while_skipping(&mut self, chunk: &[u8]) -> Option<usize> {
        for (i, &b) in chunk.iter().enumerate() {
            if b != b'\n' {
                if b != b'\r' {
                    self.line_start = 1;
                }
                continue;
            }
            // A line ended: NDJSON frames end at any newline; SSE events at a blank line.
            let blank = self.line_start == 0;
            self.line_start = 0;
            if !self.events || blank {
                return Some(i + 1);
            }
        }
        None
    }

    /// Bytes held, waiting for the end of their frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes the bytes held (the start of an unfinished frame) and starts afresh.
    pub fn take_pending(&mut self) -> Vec<u8> {
        self.scanned = 0;
        self.line_start = 0;
        self.skipping = false;
        std::mem::take(&mut self.buf)
    }

    /// The unfinished tail at the end of the body, if any (a last NDJSON line without a newline, a whole JSON
    /// body, or a truncated SSE event).
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.skipping || self.buf.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(&self.buf)
    }
}

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

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("frame is not JSON: {0}")]
    Json(String),
    /// A frame was longer than the parse limit and skipped.
    #[error("frame longer than {0} bytes skipped")]
    TooLong(usize),
    /// The body ended in the middle of a frame.
    #[error("stream ended inside a frame ({0} bytes)")]
    Truncated(usize),
}

/// Decodes one frame (raw bytes as the [`Splitter`] gave them; for SSE a whole event). `Ok(None)` for frames that
/// carry nothing (SSE comments, keep-alives, blank lines).
pub fn decode_frame(api: Api, framing: Framing, raw: &[u8]) -> Result<Option<Delta>, ParseError> {
    let json: std::borrow::Cow<'_, [u8]> = match framing {
        Framing::Sse => {
            let mut data: Vec<u8> = Vec::new();
            for line in raw.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(d) = line.strip_prefix(b"data:") {
                    if !data.is_empty() {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
                }
            }
            if data.is_empty() {
                return Ok(None);
            }
            if data.trim_ascii() == b"[DONE]" {
                return Ok(Some(Delta {
                    done: true,
                    ..Delta::default()
                }));
            }
            data.into()
        }
        Framing::Ndjson | Framing::Whole => raw.into(),
    };
    if json.trim_ascii().is_empty() {
        return Ok(None);
    }
    let mut d = match serde_json::from_slice::<Typed<'_>>(&json) {
        Ok(t) if api.is_openai() => t.openai(),
        Ok(t) => t.ollama(),
        // A field of an unexpected type (or not JSON at all): the general path reads what it can.
        Err(_) => {
            let v: Value =
                serde_json::from_slice(&json).map_err(|e| ParseError::Json(e.to_string()))?;
            if api.is_openai() {
                decode_openai(&v)
            } else {
                decode_ollama(&v)
            }
        }
    };
    if framing == Framing::Whole {
        d.done = true;
    }
    Ok(Some(d))
}

// The fast path: the fields llmtel reads, deserialised straight into borrowed strings, everything else skipped.
// It gives the same `Delta` as the general path below for every frame it accepts (a test compares them); a frame
// with a field of another type than expected fails here and goes the general way, which ignores such fields.

type Text<'a> = Option<std::borrow::Cow<'a, str>>;

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Typed<'a> {
    #[serde(borrow)]
    model: Text<'a>,
    #[serde(borrow)]
    id: Text<'a>,
    error: Option<Value>,
    // Ollama.
    #[serde(borrow)]
    message: Option<Message<'a>>,
    #[serde(borrow)]
    thinking: Text<'a>,
    #[serde(borrow)]
    response: Text<'a>,
    done: Option<bool>,
    #[serde(borrow)]
    done_reason: Text<'a>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_duration: Option<u64>,
    eval_duration: Option<u64>,
    // OpenAI.
    #[serde(borrow)]
    choices: Option<Vec<Choice<'a>>>,
    usage: Option<TypedUsage>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Message<'a> {
    #[serde(borrow)]
    content: Text<'a>,
    #[serde(borrow)]
    thinking: Text<'a>,
    #[serde(borrow)]
    reasoning: Text<'a>,
    #[serde(borrow)]
    reasoning_content: Text<'a>,
    tool_calls: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Choice<'a> {
    #[serde(borrow)]
    delta: Option<Message<'a>>,
    #[serde(borrow)]
    message: Option<Message<'a>>,
    #[serde(borrow)]
    text: Text<'a>,
    #[serde(borrow)]
    reasoning: Text<'a>,
    #[serde(borrow)]
    reasoning_content: Text<'a>,
    #[serde(borrow)]
    finish_reason: Text<'a>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct TypedUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    completion_tokens_details: Option<TokenDetails>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct TokenDetails {
    reasoning_tokens: Option<u64>,
}

fn owned(t: &Text<'_>) -> Option<String> {
    t.as_deref().map(str::to_owned)
}

fn push(out: &mut String, t: &Text<'_>) {
    if let Some(t) = t {
        out.push_str(t);
    }
}

impl Typed<'_> {
    fn error_text(&self) -> Option<String> {
        match self.error.as_ref()? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(
                other
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| other.to_string(), str::to_owned),
            ),
        }
    }

    fn ollama(self) -> Delta {
        let mut d = Delta {
            tool_calls: 0,
            done: self.done.unwrap_or(false),
            finish_reason: owned(&self.done_reason),
            model: owned(&self.model),
            id: None,
            usage: Usage {
                input: self.prompt_eval_count,
                output: self.eval_count,
                reasoning: None,
            },
            ollama: OllamaTimings {
                total: self.total_duration,
                load: self.load_duration,
                prompt_eval: self.prompt_eval_duration,
                eval: self.eval_duration,
            },
            error: self.error_text(),
            ..Delta::default()
        };
        match &self.message {
            Some(m) => {
                push(&mut d.reasoning, &m.thinking);
                push(&mut d.content, &m.content);
                d.tool_calls = m.tool_calls.as_ref().map_or(0, Vec::len);
            }
            None => {
                push(&mut d.reasoning, &self.thinking);
                push(&mut d.content, &self.response);
            }
        }
        d
    }

    fn openai(self) -> Delta {
        let mut d = Delta {
            model: owned(&self.model),
            id: owned(&self.id),
            error: self.error_text(),
            ..Delta::default()
        };
        for c in self.choices.iter().flatten() {
            if let Some(m) = c.delta.as_ref().or(c.message.as_ref()) {
                push(&mut d.reasoning, &m.reasoning);
                push(&mut d.reasoning, &m.reasoning_content);
                push(&mut d.content, &m.content);
                d.tool_calls += m.tool_calls.as_ref().map_or(0, Vec::len);
            }
            if c.text.is_some() {
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
            d.usage_only = self.choices.as_ref().is_some_and(Vec::is_empty);
        }
        d
    }
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

fn count(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

fn error_text(v: &Value) -> Option<String> {
    match v.get("error")? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(
            other
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| other.to_string(), str::to_owned),
        ),
    }
}

fn decode_ollama(v: &Value) -> Delta {
    let (reasoning, content, tools) = match v.get("message") {
        Some(m) => (
            text(m.get("thinking")),
            text(m.get("content")),
            m.get("tool_calls")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
        ),
        None => (text(v.get("thinking")), text(v.get("response")), 0),
    };
    Delta {
        reasoning: reasoning.to_owned(),
        content: content.to_owned(),
        tool_calls: tools,
        done: v.get("done").and_then(Value::as_bool).unwrap_or(false),
        finish_reason: v
            .get("done_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        model: v.get("model").and_then(Value::as_str).map(str::to_owned),
        id: None,
        usage: Usage {
            input: count(v.get("prompt_eval_count")),
            output: count(v.get("eval_count")),
            reasoning: None,
        },
        ollama: OllamaTimings {
            total: count(v.get("total_duration")),
            load: count(v.get("load_duration")),
            prompt_eval: count(v.get("prompt_eval_duration")),
            eval: count(v.get("eval_duration")),
        },
        error: error_text(v),
        usage_only: false,
    }
}

fn decode_openai(v: &Value) -> Delta {
    let mut d = Delta {
        model: v.get("model").and_then(Value::as_str).map(str::to_owned),
        id: v.get("id").and_then(Value::as_str).map(str::to_owned),
        error: error_text(v),
        ..Delta::default()
    };
    let choices = v.get("choices").and_then(Value::as_array);
    for c in choices.into_iter().flatten() {
        // A stream chunk has `delta`, a whole response `message`, a text completion `text`.
        let m = c.get("delta").or_else(|| c.get("message"));
        if let Some(m) = m {
            d.reasoning.push_str(text(m.get("reasoning")));
            d.reasoning.push_str(text(m.get("reasoning_content")));
            d.content.push_str(text(m.get("content")));
            d.tool_calls += m
                .get("tool_calls")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        }
        if let Some(t) = c.get("text") {
            // Text completions: reasoning, where a server sends it, sits beside `text` in the choice.
            d.content.push_str(text(Some(t)));
            d.reasoning.push_str(text(c.get("reasoning")));
            d.reasoning.push_str(text(c.get("reasoning_content")));
        }
        if let Some(r) = c.get("finish_reason").and_then(Value::as_str) {
            d.finish_reason = Some(r.to_owned());
        }
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        d.usage = Usage {
            input: count(u.get("prompt_tokens")),
            output: count(u.get("completion_tokens")),
            reasoning: count(
                u.get("completion_tokens_details")
                    .and_then(|x| x.get("reasoning_tokens")),
            ),
        };
        d.usage_only = choices.is_some_and(Vec::is_empty);
    }
    d
}

#[cfg(test)]
mod tests;
