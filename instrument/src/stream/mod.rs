//! Response stream parsing: frames a model server's response ([`framing`]: NDJSON lines, SSE events, or one whole
//! JSON document) and decodes each frame in the dialect of its API (one file each: [`ollama`], [`openai`],
//! [`responses`], [`anthropic`]) into a [`Delta`]: the reasoning and answer text it carries, the pieces of tool
//! calls ([`tools`]), and whatever usage, cache, timing ([`timings`]: the server's own account, one shape for
//! every server) and finish facts the server put in it. Bytes come from the proxy's tap of the response; deltas go
//! to the phase tracker and the request's span ([`crate::proxy`]).
//!
//! A dialect reads its frames leniently ([`lenient`]): a member of an unexpected type is absent, never an error,
//! and only text that is not JSON fails. A new API is a variant of [`Api`], one arm of `Api::spec`, and, for a
//! new dialect, one file beside these with its tests. Typed SSE events (`event:` lines, as Responses and Anthropic
//! send) need nothing new: the `data:` JSON says its own `type`.

mod anthropic;
mod delta;
mod framing;
mod lenient;
mod ollama;
mod openai;
mod quick;
mod responses;
mod timings;
mod tools;

use std::borrow::Cow;

pub use self::delta::{CacheUsage, Delta, Usage, finish_reason};
pub use self::framing::{Framing, Split, Splitter};
pub use self::timings::{ServerTimings, TimingsSource};
pub use self::tools::{ToolCall, ToolCalls, ToolFragment, ToolKey};

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
    /// OpenAI Responses `POST /v1/responses` (Ollama since v0.13.3, vLLM, llama.cpp).
    OpenAiResponses,
    /// Anthropic Messages `POST /v1/messages` (Ollama since v0.14.0, vLLM, llama.cpp). Its
    /// `/v1/messages/count_tokens` is no GenAI operation: it gets a plain HTTP span.
    AnthropicMessages,
}

/// The family of wire formats an API belongs to: how it asks for reasoning, how its errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Ollama's native API: NDJSON streams, `{"error": "..."}` bodies.
    Ollama,
    /// OpenAI chat and text completions, embeddings: `data:` SSE, `{"error": {...}}` bodies.
    OpenAi,
    /// OpenAI Responses: typed SSE events, OpenAI error bodies.
    Responses,
    /// Anthropic Messages: typed SSE events, `{"type": "error", "error": {...}}` bodies.
    Anthropic,
}

impl Dialect {
    /// The dialect of a path the proxy does not parse, for answering in it: `/v1/messages…` is Anthropic's,
    /// `/v1/responses…` the Responses API's, any other `/v1/` OpenAI's, the rest Ollama's.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/v1/messages") {
            Self::Anthropic
        } else if path.starts_with("/v1/responses") {
            Self::Responses
        } else if path.starts_with("/v1/") {
            Self::OpenAi
        } else {
            Self::Ollama
        }
    }
}

/// What the proxy knows of one API.
struct Spec {
    /// The request paths (without a trailing `/`).
    paths: &'static [&'static str],
    /// `gen_ai.operation.name`.
    operation: &'static str,
    /// The wire format family.
    dialect: Dialect,
    /// Streams when the request does not say `stream`.
    streams_by_default: bool,
    /// Can stream at all.
    can_stream: bool,
    /// The dialect's frame decoder: `Err` only for a frame that is not JSON.
    decode: fn(&[u8]) -> Result<Delta, serde_json::Error>,
}

impl Api {
    /// Every API, in the order paths are looked up.
    const ALL: [Api; 8] = [
        Self::OllamaChat,
        Self::OllamaGenerate,
        Self::OllamaEmbed,
        Self::OpenAiChat,
        Self::OpenAiCompletions,
        Self::OpenAiEmbeddings,
        Self::OpenAiResponses,
        Self::AnthropicMessages,
    ];

    /// Everything about this API in one place, so that a new API is one arm here.
    fn spec(self) -> Spec {
        let ollama = |paths, operation, streams| Spec {
            paths,
            operation,
            dialect: Dialect::Ollama,
            streams_by_default: streams,
            can_stream: streams,
            decode: ollama::decode,
        };
        let openai = |paths, operation, can_stream| Spec {
            paths,
            operation,
            dialect: Dialect::OpenAi,
            streams_by_default: false,
            can_stream,
            decode: openai::decode,
        };
        match self {
            Self::OllamaChat => ollama(&["/api/chat"], "chat", true),
            Self::OllamaGenerate => ollama(&["/api/generate"], "text_completion", true),
            Self::OllamaEmbed => ollama(&["/api/embed", "/api/embeddings"], "embeddings", false),
            Self::OpenAiChat => openai(&["/v1/chat/completions"], "chat", true),
            Self::OpenAiCompletions => openai(&["/v1/completions"], "text_completion", true),
            Self::OpenAiEmbeddings => openai(&["/v1/embeddings"], "embeddings", false),
            // Both stream only when asked to.
            Self::OpenAiResponses => Spec {
                dialect: Dialect::Responses,
                decode: responses::decode,
                ..openai(&["/v1/responses"], "chat", true)
            },
            Self::AnthropicMessages => Spec {
                dialect: Dialect::Anthropic,
                decode: anthropic::decode,
                ..openai(&["/v1/messages"], "chat", true)
            },
        }
    }

    /// The API a `POST` to `path` is, if the proxy understands it.
    pub fn from_path(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        Self::ALL
            .into_iter()
            .find(|api| api.spec().paths.contains(&path))
    }

    /// `gen_ai.operation.name`.
    pub fn operation(self) -> &'static str {
        self.spec().operation
    }

    /// Whether the API speaks the OpenAI chat/completions dialect (where the proxy may ask for usage in a stream).
    pub fn is_openai(self) -> bool {
        self.spec().dialect == Dialect::OpenAi
    }

    /// The wire format family.
    pub fn dialect(self) -> Dialect {
        self.spec().dialect
    }

    /// Whether the server's input count leaves out the cached prompt, which the conventions' input count
    /// includes (Anthropic's `input_tokens`).
    pub fn input_excludes_cache(self) -> bool {
        self.spec().dialect == Dialect::Anthropic
    }

    /// Whether a request that does not say `stream` streams (Ollama generation does; OpenAI does not).
    pub fn streams_by_default(self) -> bool {
        self.spec().streams_by_default
    }

    /// Whether the API can stream at all.
    pub fn can_stream(self) -> bool {
        self.spec().can_stream
    }
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

/// For the fuzz targets: panics when the quick reader reads the Ollama frame `json` otherwise than the general
/// decoder does.
#[doc(hidden)]
pub fn check_quick_reader(json: &[u8]) {
    ollama::check_quick(json);
}

/// Decodes one frame (raw bytes as the [`Splitter`] gave them; for SSE a whole event). `Ok(None)` for frames that
/// carry nothing (SSE comments, keep-alives, blank lines).
pub fn decode_frame(api: Api, framing: Framing, raw: &[u8]) -> Result<Option<Delta>, ParseError> {
    let json: Cow<'_, [u8]> = match framing {
        Framing::Sse => match framing::sse_data(raw) {
            None => return Ok(None),
            Some(data) if data.trim_ascii() == b"[DONE]" => {
                return Ok(Some(Delta {
                    done: true,
                    ..Delta::default()
                }));
            }
            Some(data) => data,
        },
        Framing::Ndjson | Framing::Whole => Cow::Borrowed(raw),
    };
    if json.trim_ascii().is_empty() {
        return Ok(None);
    }
    let mut d = (api.spec().decode)(&json).map_err(|e| ParseError::Json(e.to_string()))?;
    if framing == Framing::Whole {
        d.done = true;
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_events;
#[cfg(test)]
mod tests_timings;
