//! Response stream parsing: frames a model server's response ([`framing`]: NDJSON lines, SSE events, or one whole
//! JSON document) and decodes each frame in the dialect of its API (one file each: [`ollama`], [`openai`]) into a
//! [`Delta`]: the reasoning and answer text it carries, and whatever usage, timing and finish facts the server
//! put in it. Bytes come from the proxy's tap of the response; deltas go to the phase tracker and the request's
//! span ([`crate::proxy`]).
//!
//! A dialect reads its frames leniently ([`lenient`]): a member of an unexpected type is absent, never an error,
//! and only text that is not JSON fails. A new API is a variant of [`Api`], one arm of `Api::spec`, and, for a
//! new dialect, one file beside these with its tests.

mod delta;
mod framing;
mod lenient;
mod ollama;
mod openai;

use std::borrow::Cow;

pub use self::delta::{Delta, OllamaTimings, Usage};
pub use self::framing::{Framing, Split, Splitter};

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

/// What the proxy knows of one API.
struct Spec {
    /// The request paths (without a trailing `/`).
    paths: &'static [&'static str],
    /// `gen_ai.operation.name`.
    operation: &'static str,
    /// Speaks the OpenAI dialect: SSE streams, `{"error": {...}}` bodies.
    openai: bool,
    /// Streams when the request does not say `stream`.
    streams_by_default: bool,
    /// Can stream at all.
    can_stream: bool,
    /// The dialect's frame decoder: `Err` only for a frame that is not JSON.
    decode: fn(&[u8]) -> Result<Delta, serde_json::Error>,
}

impl Api {
    /// Every API, in the order paths are looked up.
    const ALL: [Api; 6] = [
        Self::OllamaChat,
        Self::OllamaGenerate,
        Self::OllamaEmbed,
        Self::OpenAiChat,
        Self::OpenAiCompletions,
        Self::OpenAiEmbeddings,
    ];

    /// Everything about this API in one place, so that a new API is one arm here.
    fn spec(self) -> Spec {
        let ollama = |paths, operation, streams| Spec {
            paths,
            operation,
            openai: false,
            streams_by_default: streams,
            can_stream: streams,
            decode: ollama::decode,
        };
        let openai = |paths, operation, can_stream| Spec {
            paths,
            operation,
            openai: true,
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

    /// Whether the API speaks the OpenAI dialect (SSE streams, `{"error": {...}}` bodies).
    pub fn is_openai(self) -> bool {
        self.spec().openai
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
