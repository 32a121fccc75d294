//! The server's own account of a request, in one shape for every server that gives one ([`ServerTimings`]): how
//! long it spent loading the model, reading the prompt (prefill) and generating (decode), and how many tokens
//! each took. The dialect decoders fill it from what their servers send:
//!
//! - Ollama (`/api/chat`, `/api/generate`, `/api/embed`): the final chunk's `total_duration`, `load_duration`,
//!   `prompt_eval_duration`, `eval_duration` (nanoseconds) with `prompt_eval_count` and `eval_count`
//!   ([`super::ollama`]);
//! - llama.cpp (`/v1/chat/completions`, `/v1/completions`, `/v1/responses`): the `timings` object it adds at the
//!   top level of a whole body, of a stream's last chunk, and of the Responses `response.completed` event, with
//!   `prompt_n`, `prompt_ms`, `predicted_n`, `predicted_ms` and `cache_n` (milliseconds, fractional)
//!   ([`LlamaTimings`], read by [`super::openai`] and [`super::responses`]).
//!
//! The request's tracker ([`crate::proxy`]) turns them into the request span's `llmtel.server.*` attributes, the
//! queue-wait estimate and the server-side phase spans.

use std::time::Duration;

use serde::de::MapAccess;

use super::lenient::{Object, read, skip};

/// Which server's timings these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingsSource {
    /// Ollama's final-chunk durations.
    Ollama,
    /// llama.cpp's `timings` object.
    LlamaCpp,
}

impl TimingsSource {
    /// The value of `llmtel.server.timings`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ollama => "ollama",
            Self::LlamaCpp => "llama.cpp",
        }
    }
}

/// What a server said of its own work on one request. Every field is absent when the server did not say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimings {
    /// Whose timings.
    pub server: TimingsSource,
    /// The server's whole time on the request (Ollama `total_duration`; llama.cpp gives none).
    pub total: Option<Duration>,
    /// Loading the model (Ollama `load_duration`; llama.cpp loads before it serves and gives none).
    pub load: Option<Duration>,
    /// Reading the prompt (Ollama `prompt_eval_duration`, llama.cpp `prompt_ms`).
    pub prefill: Option<Duration>,
    /// Prompt tokens evaluated (Ollama `prompt_eval_count`, llama.cpp `prompt_n`, which leaves cached ones out).
    pub prefill_tokens: Option<u64>,
    /// Generating (Ollama `eval_duration`, llama.cpp `predicted_ms`).
    pub decode: Option<Duration>,
    /// Tokens generated (Ollama `eval_count`, llama.cpp `predicted_n`).
    pub decode_tokens: Option<u64>,
    /// Prompt tokens taken from the cache (llama.cpp `cache_n`).
    pub cached_tokens: Option<u64>,
}

impl ServerTimings {
    /// No timings yet, from `server`.
    pub fn new(server: TimingsSource) -> Self {
        Self {
            server,
            total: None,
            load: None,
            prefill: None,
            prefill_tokens: None,
            decode: None,
            decode_tokens: None,
            cached_tokens: None,
        }
    }

    /// The time the server says it worked on the request: load + prefill + decode, or its `total` when it gave
    /// neither prefill nor decode (Ollama's `/api/embed`). Saturating: the durations come from the server, and no
    /// sum of them may panic. What the sidecar and `llmtel load` subtract from the wall time for the queue wait.
    pub fn busy(&self) -> Duration {
        if self.prefill.is_some() || self.decode.is_some() {
            [self.load, self.prefill, self.decode]
                .into_iter()
                .flatten()
                .fold(Duration::ZERO, Duration::saturating_add)
        } else {
            self.total.or(self.load).unwrap_or(Duration::ZERO)
        }
    }

    /// Whether any duration is known: only then are these timings.
    pub fn has_durations(&self) -> bool {
        self.total.is_some()
            || self.load.is_some()
            || self.prefill.is_some()
            || self.decode.is_some()
    }
}

/// llama.cpp's `timings` object: the members llmtel reads (its `*_per_token_ms` and `*_per_second` are derived
/// from these and not read).
#[derive(Debug, Default)]
pub(super) struct LlamaTimings {
    prompt_n: Option<f64>,
    prompt_ms: Option<f64>,
    predicted_n: Option<f64>,
    predicted_ms: Option<f64>,
    cache_n: Option<f64>,
}

impl<'de> Object<'de> for LlamaTimings {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "prompt_n" => self.prompt_n = read(map)?,
            "prompt_ms" => self.prompt_ms = read(map)?,
            "predicted_n" => self.predicted_n = read(map)?,
            "predicted_ms" => self.predicted_ms = read(map)?,
            "cache_n" => self.cache_n = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl LlamaTimings {
    /// The common shape; `None` when the object held no duration.
    pub(super) fn into_timings(self) -> Option<ServerTimings> {
        // `try_`: a value too large for a `Duration` (or not a number) is no duration, never a panic.
        let ms = |v: Option<f64>| v.and_then(|v| Duration::try_from_secs_f64(v / 1e3).ok());
        // Counts are whole numbers; llama.cpp writes them as integers, a fraction would be no count.
        let n = |v: Option<f64>| {
            v.filter(|v| v.is_finite() && *v >= 0.0 && v.fract() == 0.0)
                .map(|v| v as u64)
        };
        let t = ServerTimings {
            prefill: ms(self.prompt_ms),
            prefill_tokens: n(self.prompt_n),
            decode: ms(self.predicted_ms),
            decode_tokens: n(self.predicted_n),
            cached_tokens: n(self.cache_n),
            ..ServerTimings::new(TimingsSource::LlamaCpp)
        };
        t.has_durations().then_some(t)
    }
}

/// Ollama's final-chunk fields in the common shape; `None` when the frame had no duration.
pub(super) fn ollama(
    total: Option<u64>,
    load: Option<u64>,
    prompt_eval: Option<u64>,
    eval: Option<u64>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
) -> Option<ServerTimings> {
    let t = ServerTimings {
        total: total.map(Duration::from_nanos),
        load: load.map(Duration::from_nanos),
        prefill: prompt_eval.map(Duration::from_nanos),
        prefill_tokens: prompt_eval_count,
        decode: eval.map(Duration::from_nanos),
        decode_tokens: eval_count,
        ..ServerTimings::new(TimingsSource::Ollama)
    };
    t.has_durations().then_some(t)
}
