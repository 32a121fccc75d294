//! The [`Script`] an [`Emulator`](super::Emulator) answers from: the model's reasoning and answer pieces, its tool
//! calls ([`ToolCall`]), where the reasoning goes ([`ReasoningStyle`], [`ResponsesReasoning`]), the chat-stream
//! layout ([`ChatChunks`]), pacing, how the body is cut into writes ([`Split`]), failures, token and cache counts;
//! the server it plays ([`Server`]: which info endpoints it answers), its parallel slots, model loading (load delay,
//! keep-alive, context length) and the timings it reports ([`Timings`]: fixed [`OllamaDurations`] or its own
//! measurements; [`OpenAiTimings`]: llama.cpp's `timings` object on the OpenAI-compatible routes). Tests build it
//! (re-exported as `emulator::Script`); `formats.rs`, `responses.rs`, `anthropic.rs` and `info.rs` render it,
//! `models.rs` loads and unloads its models and `serve.rs` queues, paces and cuts what it renders.

use std::time::Duration;

/// Where the model's reasoning goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningStyle {
    /// A separate field: Ollama `thinking`, OpenAI `reasoning` (Ollama's and vLLM's OpenAI dialect).
    Field,
    /// OpenAI `reasoning_content` (DeepSeek, llama.cpp), with `content: null` in reasoning deltas; Ollama's
    /// dialect treats it like [`ReasoningStyle::Field`].
    FieldContent,
    /// Inside the content, between `<think>` and `</think>` (the tags glued to the first and last piece).
    InlineTags,
    /// Inside the content, ended by `</think>` only (the chat template opened the tag).
    InlineClosingOnly,
    /// No reasoning at all; [`Script::thinking`] is ignored.
    None,
}

/// Which reasoning events a `/v1/responses` stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsesReasoning {
    /// `response.reasoning_text.delta` in a `reasoning_text` content part (vLLM, llama.cpp).
    Text,
    /// `response.reasoning_summary_text.delta` with `summary_index: 0` (Ollama, which has no reasoning text events).
    Summary,
}

/// The layout of an OpenAI `/v1/chat/completions` stream's last chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatChunks {
    /// `role` in every delta; `finish_reason` on a chunk of its own with `delta: {}` (the emulator's first layout).
    Classic,
    /// Ollama before v0.32.10: `role` in every delta, `finish_reason` riding on the last chunk that carries content
    /// or a tool call (or on a `{"role":"assistant","content":""}` chunk when there is none).
    OllamaLegacy,
    /// Ollama v0.32.10 (PR #17485), as `api.openai.com` sends it: `role` only in the first chunk, `finish_reason` on
    /// a chunk of its own with `delta: {}`, usage (when asked for) on a final chunk with `choices: []`.
    OllamaNewest,
}

/// A tool call the model makes, after its answer text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id (OpenAI `id`, Responses `call_id`, Anthropic `tool_use.id`, Ollama `id`).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The JSON arguments in pieces, one stream event each where the dialect streams them; their concatenation is
    /// a JSON object (Ollama and Anthropic's whole bodies send it parsed).
    pub arguments: Vec<String>,
}

impl ToolCall {
    /// A call of `name` with id `id` whose JSON arguments arrive as `pieces`.
    pub fn new(id: &str, name: &str, pieces: &[&str]) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: pieces.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// The whole arguments as JSON text.
    pub fn arguments_json(&self) -> String {
        self.arguments.concat()
    }
}

/// How the body is cut into writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// One write per stream event.
    PerEvent,
    /// Writes of this many bytes, regardless of event boundaries (0 counts as 1).
    Every(usize),
    /// Cut at these absolute byte offsets of the body.
    At(Vec<usize>),
}

/// Ollama's timing fields of the final chunk, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OllamaDurations {
    /// `total_duration`.
    pub total: u64,
    /// `load_duration`.
    pub load: u64,
    /// `prompt_eval_duration`.
    pub prompt_eval: u64,
    /// `eval_duration`.
    pub eval: u64,
}

impl Default for OllamaDurations {
    fn default() -> Self {
        Self {
            total: 1_234_567_890,
            load: 12_345_678,
            prompt_eval: 98_765_432,
            eval: 1_023_456_789,
        }
    }
}

/// Which model server the emulator plays: the endpoints besides the model ones (which it always answers) and the
/// `Server` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Ollama: `/api/version`, `/api/tags`, `/api/ps` (the loaded models), `/v1/models`.
    Ollama,
    /// llama.cpp's `llama-server`: `Server: llama.cpp` on every answer, `/health`, `/props`
    /// (`default_generation_settings.n_ctx`, `total_slots`), `/v1/models` (`meta.n_ctx`), its own 404 body.
    LlamaCpp,
    /// vLLM: `/version`, `/health`, `/v1/models` (`max_model_len`), FastAPI's 404 body.
    Vllm,
}

/// Where the timing numbers of the answers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timings {
    /// The fixed numbers of [`Script::durations`]; a whole (non-streamed) body waits `first_delay` only.
    Fixed,
    /// What the emulator measured for the request, like a real server: `total_duration` from the handler's
    /// arrival to the final chunk (slot wait included), `load_duration` the wait for the model, `prompt_eval_duration`
    /// the prompt pause, `eval_duration` the generation. A whole (non-streamed) answer of a generating endpoint
    /// (not the embedding ones) waits the prompt pause and then the generation time its stream would have taken,
    /// before its first byte. The chunk with the timings is rendered when it is sent, so
    /// [`Emulator::body_for`](super::Emulator::body_for) no longer predicts its numbers, and from the event that
    /// carries the timings on the body goes one write per event whatever [`Script::split`] says (a script with
    /// `fail_after_bytes` keeps the fixed numbers).
    Measured,
}

/// The timings the OpenAI-compatible routes carry (Ollama's routes always carry Ollama's fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAiTimings {
    /// None, as Ollama's and vLLM's OpenAI-compatible routes.
    None,
    /// llama.cpp's `timings` object (`cache_n`, `prompt_n`, `prompt_ms`, `prompt_per_token_ms`,
    /// `prompt_per_second`, `predicted_n`, `predicted_ms`, `predicted_per_token_ms`, `predicted_per_second`) on
    /// the last chunk before `[DONE]` of `/v1/chat/completions` and `/v1/completions` streams (the usage chunk when
    /// usage was asked for, else the finish chunk), on their whole bodies, and on `/v1/responses`'
    /// `response.completed` event (llama.cpp's whole Responses body has none).
    LlamaCpp,
}

/// What the emulator answers, and how.
///
/// Pacing: before the first event that carries model output (a reasoning piece, an answer piece or a tool-call
/// fragment; the first event when none does) it waits `first_delay`; before each further reasoning event
/// `think_delay`, before each further answer or tool-call event `answer_delay`; every other event (Responses'
/// `response.created`, Anthropic's `message_start` and block starts, final/done/usage events) follows without
/// delay, and the body stays open `end_delay` after its last byte. With
/// [`Split::Every`] or [`Split::At`], each write waits until the time its first byte's event would have been sent
/// (so the pauses of the events are kept, once each). Writes sent with no pause between them may share a TCP
/// segment.
///
/// Queue and load (model endpoints only, answers with `status` 200): a request first waits for its model (the
/// request's `model`, else [`Script::model`]): a loaded model waits `warm_load`; one that is not loaded waits
/// `load_delay`, once for all the requests that arrive while it loads; then it waits FIFO for one of `slots`
/// parallel slots, held until its body ends. Only then do the pauses above begin. A client that goes away while
/// waiting leaves the queue.
#[derive(Debug, Clone)]
pub struct Script {
    /// The response's `model`.
    pub model: String,
    /// Reasoning pieces, one per event.
    pub thinking: Vec<String>,
    /// Answer pieces, one per event.
    pub answer: Vec<String>,
    /// Tool calls, after the answer: Ollama `message.tool_calls` (one chunk per call), OpenAI `delta.tool_calls`
    /// fragments and `finish_reason: "tool_calls"`, Responses `function_call` items, Anthropic `tool_use` blocks and
    /// `stop_reason: "tool_use"`.
    pub tool_calls: Vec<ToolCall>,
    /// Where the reasoning goes.
    pub reasoning: ReasoningStyle,
    /// Pause before the first event.
    pub first_delay: Duration,
    /// Pause before each further reasoning event.
    pub think_delay: Duration,
    /// Pause before each further answer or tool-call event.
    pub answer_delay: Duration,
    /// How long the body stays open after its last byte (a client that closes on the stream's end marker then
    /// always closes before the server does).
    pub end_delay: Duration,
    /// How the body is cut into writes.
    pub split: Split,
    /// Write this many body bytes, then abort the response (no terminating chunk: the client sees a broken body).
    pub fail_after_bytes: Option<usize>,
    /// 200, or the status of a dialect error answer to the model endpoints (no stream).
    pub status: u16,
    /// All prompt tokens, cached ones included: Ollama `prompt_eval_count`, OpenAI `usage.prompt_tokens`,
    /// Responses `input_tokens`; Anthropic's `input_tokens` is this less the two cache counts.
    pub prompt_tokens: u64,
    /// Prompt tokens read from the cache, when set: OpenAI `usage.prompt_tokens_details.cached_tokens`, Responses
    /// `input_tokens_details.cached_tokens` (0 when unset, as Ollama hard-codes it), Anthropic
    /// `cache_read_input_tokens`.
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to the cache, when set: Anthropic `cache_creation_input_tokens` (other dialects have
    /// no such field).
    pub cache_creation_tokens: Option<u64>,
    /// Ollama `eval_count`, OpenAI `usage.completion_tokens`.
    pub completion_tokens: u64,
    /// OpenAI `usage.completion_tokens_details.reasoning_tokens`, Responses
    /// `output_tokens_details.reasoning_tokens` (0 when unset, as Ollama hard-codes it), when set.
    pub usage_reasoning_tokens: Option<u64>,
    /// Which reasoning events `/v1/responses` streams.
    pub responses_reasoning: ResponsesReasoning,
    /// The layout of `/v1/chat/completions` streams.
    pub chat_chunks: ChatChunks,
    /// Ollama's timing fields, used with [`Timings::Fixed`] (llama.cpp's `timings` take `prompt_eval` and `eval`
    /// from them too).
    pub durations: OllamaDurations,
    /// Fixed numbers or the emulator's own measurements.
    pub timings: Timings,
    /// The timings the OpenAI-compatible routes carry.
    pub openai_timings: OpenAiTimings,
    /// The server it plays.
    pub server: Server,
    /// Parallel slots (`OLLAMA_NUM_PARALLEL`, llama.cpp `--parallel`); `None`: no limit. `Some(0)` counts as 1.
    pub slots: Option<usize>,
    /// Whether `model` is loaded when this script takes effect (at start, or by `set_script`) and the emulator has
    /// not seen that model before.
    pub starts_loaded: bool,
    /// How long loading a model that is not loaded takes.
    pub load_delay: Duration,
    /// The pause of a request for a model that is loaded (Ollama reports a few milliseconds of `load_duration`
    /// then).
    pub warm_load: Duration,
    /// How long a model stays loaded after its last request ended; `None`: for ever. Its `/api/ps`
    /// `expires_at` is then that moment, else a fixed date.
    pub keep_alive: Option<Duration>,
    /// The context window of every model: `/api/ps` `context_length`, llama.cpp's `n_ctx`, vLLM's
    /// `max_model_len`.
    pub context_length: u64,
}

impl Default for Script {
    fn default() -> Self {
        let v = |pieces: &[&str]| pieces.iter().map(|p| (*p).to_owned()).collect();
        Self {
            model: "qwen3:14b".into(),
            thinking: v(&["Let", " me", " think: café", " 🤔 ok"]),
            answer: v(&["The", " answer", " is", " 42 🎉", " — voilà", "."]),
            tool_calls: Vec::new(),
            reasoning: ReasoningStyle::Field,
            first_delay: Duration::ZERO,
            think_delay: Duration::ZERO,
            answer_delay: Duration::ZERO,
            end_delay: Duration::ZERO,
            split: Split::PerEvent,
            fail_after_bytes: None,
            status: 200,
            prompt_tokens: 12,
            completion_tokens: 34,
            cached_tokens: None,
            cache_creation_tokens: None,
            usage_reasoning_tokens: None,
            responses_reasoning: ResponsesReasoning::Text,
            chat_chunks: ChatChunks::Classic,
            durations: OllamaDurations::default(),
            timings: Timings::Fixed,
            openai_timings: OpenAiTimings::None,
            server: Server::Ollama,
            slots: None,
            starts_loaded: true,
            load_delay: Duration::ZERO,
            warm_load: Duration::ZERO,
            keep_alive: None,
            context_length: 4096,
        }
    }
}
