//! The [`Script`] an [`Emulator`](super::Emulator) answers from: the model's reasoning and answer pieces, where the
//! reasoning goes ([`ReasoningStyle`]), pacing, how the body is cut into writes ([`Split`]), failures, token counts
//! and Ollama's timings. Tests build it (re-exported as `emulator::Script`); `formats.rs` renders it in each
//! dialect and `mod.rs` paces and cuts what it renders.

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

/// What the emulator answers, and how.
///
/// Pacing: before the first event it waits `first_delay`; before each further reasoning event `think_delay`,
/// before each further answer event `answer_delay`; the final/done/usage events follow without delay. With
/// [`Split::Every`] or [`Split::At`], each write waits until the time its first byte's event would have been sent
/// (so the pauses of the events are kept, once each). Writes sent with no pause between them may share a TCP
/// segment.
#[derive(Debug, Clone)]
pub struct Script {
    /// The response's `model`.
    pub model: String,
    /// Reasoning pieces, one per event.
    pub thinking: Vec<String>,
    /// Answer pieces, one per event.
    pub answer: Vec<String>,
    /// Where the reasoning goes.
    pub reasoning: ReasoningStyle,
    /// Pause before the first event.
    pub first_delay: Duration,
    /// Pause before each further reasoning event.
    pub think_delay: Duration,
    /// Pause before each further answer event.
    pub answer_delay: Duration,
    /// How the body is cut into writes.
    pub split: Split,
    /// Write this many body bytes, then abort the response (no terminating chunk: the client sees a broken body).
    pub fail_after_bytes: Option<usize>,
    /// 200, or the status of a dialect error answer to the model endpoints (no stream).
    pub status: u16,
    /// Ollama `prompt_eval_count`, OpenAI `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// Ollama `eval_count`, OpenAI `usage.completion_tokens`.
    pub completion_tokens: u64,
    /// OpenAI `usage.completion_tokens_details.reasoning_tokens`, when set.
    pub usage_reasoning_tokens: Option<u64>,
    /// Ollama's timing fields.
    pub durations: OllamaDurations,
}

impl Default for Script {
    fn default() -> Self {
        let v = |pieces: &[&str]| pieces.iter().map(|p| (*p).to_owned()).collect();
        Self {
            model: "qwen3:14b".into(),
            thinking: v(&["Let", " me", " think: café", " 🤔 ok"]),
            answer: v(&["The", " answer", " is", " 42 🎉", " — voilà", "."]),
            reasoning: ReasoningStyle::Field,
            first_delay: Duration::ZERO,
            think_delay: Duration::ZERO,
            answer_delay: Duration::ZERO,
            split: Split::PerEvent,
            fail_after_bytes: None,
            status: 200,
            prompt_tokens: 12,
            completion_tokens: 34,
            usage_reasoning_tokens: None,
            durations: OllamaDurations::default(),
        }
    }
}
