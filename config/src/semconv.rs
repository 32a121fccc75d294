//! The names that cross crates: the span attributes the sidecar writes (`instrument`) and the `genai_metrics`
//! connector reads (`pipelines`), and the metrics that connector produces, which `buckets:` in the config names.
//!
//! Both sides use these constants and nothing else, so renaming an attribute or a metric here renames it for the
//! writer and every reader at once, and removing one fails to compile instead of silently emptying a metric. The
//! module lives in `llmtel-config` because it is the one crate every other crate depends on.
//!
//! The GenAI names follow the OpenTelemetry GenAI semantic conventions; `llmtel.*` names are llmtel's own where the
//! conventions have nothing (think and answer phases, time to first answer token).

/// Span attribute keys.
pub mod attr {
    // === GenAI semantic conventions ===

    /// What the request does: `chat`, `text_completion`, `embeddings` (the children: `think`, `answer`).
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// The older name of [`PROVIDER_NAME`], still sent by some instrumentations.
    pub const SYSTEM: &str = "gen_ai.system";
    /// Who serves the model (`ollama`, `openai`, `vllm` …).
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// The model the client asked for.
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// Whether the client asked for a stream.
    pub const REQUEST_STREAM: &str = "gen_ai.request.stream";
    /// `max_tokens` / `num_predict` of the request.
    pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// Sampling temperature of the request.
    pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
    /// Nucleus sampling of the request.
    pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
    /// Top-k sampling of the request.
    pub const REQUEST_TOP_K: &str = "gen_ai.request.top_k";
    /// The prompt messages, only with `capture_content`.
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// The model that answered.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// The response id.
    pub const RESPONSE_ID: &str = "gen_ai.response.id";
    /// Why generation stopped, as a list.
    pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// Time from the request to the first response chunk, in seconds.
    pub const RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
    /// The answer and reasoning, only with `capture_content`.
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// Prompt tokens.
    pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// Generated tokens, reasoning included.
    pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// Reasoning tokens, as the server counted them.
    pub const USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
    /// Input tokens served from the prompt cache (a part of [`USAGE_INPUT_TOKENS`]).
    pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    /// Input tokens written to the prompt cache (a part of [`USAGE_INPUT_TOKENS`]). The released conventions' name;
    /// their main branch renames it `gen_ai.usage.cache_write.input_tokens`.
    pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
    /// Older name of [`USAGE_INPUT_TOKENS`], read from other programs' spans.
    pub const USAGE_PROMPT_TOKENS: &str = "gen_ai.usage.prompt_tokens";
    /// Older name of [`USAGE_OUTPUT_TOKENS`], read from other programs' spans.
    pub const USAGE_COMPLETION_TOKENS: &str = "gen_ai.usage.completion_tokens";
    /// Time to first token as some instrumentations (OpenLLMetry) record it, read from other programs' spans.
    pub const LATENCY_TIME_TO_FIRST_TOKEN: &str = "gen_ai.latency.time_to_first_token";

    // === General conventions ===

    /// The class of error that ended the request (`timeout`, `upstream_unavailable`, an HTTP status …).
    pub const ERROR_TYPE: &str = "error.type";
    /// The model server's host.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// The model server's port.
    pub const SERVER_PORT: &str = "server.port";
    /// The HTTP status the model server answered.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// The method of a request the proxy does not understand.
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// The path of a request the proxy does not understand.
    pub const URL_PATH: &str = "url.path";
    /// The message of an exception event.
    pub const EXCEPTION_MESSAGE: &str = "exception.message";

    // === llmtel's own ===

    /// The think mode the client asked for (`true`, `false`, `high` …, or `default`).
    pub const THINK_MODE: &str = "llmtel.think.mode";
    /// Whether the response carried any reasoning.
    pub const REASONING_PRESENT: &str = "llmtel.reasoning.present";
    /// Time from the request to the first token, reasoning or answer, in seconds.
    pub const TIME_TO_FIRST_TOKEN: &str = "llmtel.time_to_first_token";
    /// Time from the request to the first answer token, after any thinking, in seconds.
    pub const TIME_TO_FIRST_ANSWER_TOKEN: &str = "llmtel.time_to_first_answer_token";
    /// First reasoning token to first answer token, in seconds (the `think` child's length).
    pub const THINK_DURATION: &str = "llmtel.think.duration";
    /// First answer token to the end of the stream, in seconds (the `answer` child's length).
    pub const ANSWER_DURATION: &str = "llmtel.answer.duration";
    /// Chunks that carried reasoning.
    pub const REASONING_CHUNKS: &str = "llmtel.reasoning.chunks";
    /// Chunks that carried answer text or tool calls.
    pub const ANSWER_CHUNKS: &str = "llmtel.answer.chunks";
    /// Reasoning tokens estimated from chunk counts, where the server did not count them.
    pub const USAGE_REASONING_OUTPUT_TOKENS_ESTIMATE: &str = "llmtel.usage.reasoning.output_tokens";
    /// On `think` and `answer` children: which phase the span is. Spans with it are not counted as requests.
    pub const PHASE: &str = "llmtel.phase";
    /// On `think` and `answer` children: the chunks of the phase.
    pub const CHUNKS: &str = "llmtel.chunks";
    /// On `think` and `answer` children: whether the token count is an estimate (chunk count).
    pub const USAGE_ESTIMATED: &str = "llmtel.usage.estimated";
    /// The number of tool calls the model made in its answer (absent when none).
    pub const TOOL_CALLS: &str = "llmtel.tool_calls";
    /// The names of the tools the model called, in call order (names are not content; arguments are).
    pub const TOOL_NAMES: &str = "llmtel.tool_names";
    /// Response frames the proxy forwarded but could not parse.
    pub const STREAM_PARSE_ERRORS: &str = "llmtel.stream.parse_errors";
    /// The content encoding of a response that was forwarded but not parsed.
    pub const RESPONSE_CONTENT_ENCODING: &str = "llmtel.response.content_encoding";

    // === The server's own view (from the timings it reports), in seconds and tokens ===

    /// Which timings the server reported: `ollama` (its final chunk's durations) or `llama.cpp` (its `timings`
    /// object). Absent when the server reported none; then none of the `llmtel.server.*` attributes are there.
    pub const SERVER_TIMINGS: &str = "llmtel.server.timings";
    /// An **estimate** of the time the request spent outside the model: the wall time the sidecar saw, minus the
    /// server's own load, prompt-evaluation and generation times. Mostly waiting for a free slot in the server's
    /// queue; also the network and the server's own overheads (docs/sidecar.md says how large).
    pub const SERVER_QUEUE_WAIT: &str = "llmtel.server.queue_wait";
    /// Whether [`SERVER_QUEUE_WAIT`] passed the proxy's `queued_threshold`: the request waited for the server.
    pub const SERVER_QUEUED: &str = "llmtel.server.queued";
    /// Time the server spent loading the model for this request (Ollama `load_duration`).
    pub const SERVER_LOAD_DURATION: &str = "llmtel.server.load.duration";
    /// Time the server spent reading the prompt (prefill: Ollama `prompt_eval_duration`, llama.cpp `prompt_ms`).
    pub const SERVER_PREFILL_DURATION: &str = "llmtel.server.prefill.duration";
    /// Prompt tokens the server evaluated (Ollama `prompt_eval_count`, llama.cpp `prompt_n`: cached ones left out).
    pub const SERVER_PREFILL_TOKENS: &str = "llmtel.server.prefill.tokens";
    /// Time the server spent generating (decode: Ollama `eval_duration`, llama.cpp `predicted_ms`).
    pub const SERVER_DECODE_DURATION: &str = "llmtel.server.decode.duration";
    /// Tokens the server generated (Ollama `eval_count`, llama.cpp `predicted_n`).
    pub const SERVER_DECODE_TOKENS: &str = "llmtel.server.decode.tokens";
    /// Whether the request made the server load its model: its load time passed the proxy's
    /// `cold_load_threshold`. `false` when the server's timings say the model was warm.
    pub const MODEL_COLD_LOAD: &str = "llmtel.model.cold_load";

    // === Context window ===

    /// The context window the request ran in, in tokens: the request's own `num_ctx`, else the loaded model's
    /// (Ollama `/api/ps` `context_length`, llama.cpp `n_ctx`, vLLM `max_model_len`).
    pub const CONTEXT_LENGTH: &str = "llmtel.context.length";
    /// Prompt plus output tokens over [`CONTEXT_LENGTH`].
    pub const CONTEXT_UTILIZATION: &str = "llmtel.context.utilization";
    /// Whether the prompt filled the window (95 % or more of it): Ollama then silently drops the prompt's start.
    pub const CONTEXT_FILLED: &str = "llmtel.context.filled";

    // === Saturation and energy ===

    /// Requests the proxy was forwarding to the same upstream when this one arrived, this one included.
    pub const PROXY_CONCURRENCY: &str = "llmtel.proxy.concurrency";
    /// An **estimate**: GPU energy, in joules, spent while the request was in flight, shared equally among the
    /// requests in flight at each moment, over the GPUs that serve its upstream (docs/energy.md).
    pub const GPU_ENERGY: &str = "llmtel.gpu.energy";
    /// How [`GPU_ENERGY`] was measured: `counter` (NVML's energy counter) or `power` (power samples × time).
    pub const GPU_ENERGY_METHOD: &str = "llmtel.gpu.energy.method";

    // === Load tests (`llmtel load`) ===

    /// The id of the `llmtel load` run a request belongs to, copied from the request's W3C `baggage` member of the
    /// same key (`docs/load.md`).
    pub const LOAD_RUN_ID: &str = "llmtel.load.run_id";
    /// The load level of that run the request was sent at (`8` concurrent streams, `2.5/s` requests per second),
    /// copied from its `baggage` member of the same key.
    pub const LOAD_LEVEL: &str = "llmtel.load.level";

    // === Ollama's own timings, in seconds ===

    /// Ollama `total_duration`.
    pub const OLLAMA_TOTAL_DURATION: &str = "ollama.total_duration";
    /// Ollama `load_duration`: loading the model.
    pub const OLLAMA_LOAD_DURATION: &str = "ollama.load_duration";
    /// Ollama `prompt_eval_duration`: reading the prompt.
    pub const OLLAMA_PROMPT_EVAL_DURATION: &str = "ollama.prompt_eval_duration";
    /// Ollama `eval_duration`: generating.
    pub const OLLAMA_EVAL_DURATION: &str = "ollama.eval_duration";
}

/// Span event names.
pub mod event {
    /// The first response frame that could not be parsed (`exception.message` says why).
    pub const STREAM_PARSE_ERROR: &str = "llmtel.stream.parse_error";
}

/// Values of [`attr::ERROR_TYPE`] the sidecar's limits write (dashboards and alerts select on them).
pub mod error_type {
    /// Refused because `max_concurrent_requests` were already in flight; the upstream never saw it.
    pub const CONCURRENCY_LIMIT: &str = "concurrency_limit";
    /// The client stopped reading for `write_timeout`; the response was abandoned and the upstream cancelled.
    pub const CLIENT_STALLED: &str = "client_stalled";
    /// Still running when the shutdown's `drain_timeout` ran out; cancelled upstream.
    pub const SHUTDOWN: &str = "shutdown";
}

/// Metric attribute keys that are not span attributes.
pub mod label {
    /// On `gen_ai.client.token.usage`: `input`, `output`, `reasoning` or `cache_read`.
    pub const TOKEN_TYPE: &str = "gen_ai.token.type";
    /// On `llmtel.client.requests`: the first finish reason.
    pub const RESPONSE_FINISH_REASON: &str = "gen_ai.response.finish_reason";
    /// The series that holds every attribute set beyond a cardinality cap.
    pub const OVERFLOW: &str = "otel.metric.overflow";
}

/// Values of [`label::TOKEN_TYPE`].
pub mod token_type {
    /// Prompt tokens.
    pub const INPUT: &str = "input";
    /// Generated tokens, reasoning included.
    pub const OUTPUT: &str = "output";
    /// Reasoning tokens.
    pub const REASONING: &str = "reasoning";
    /// Input tokens served from the prompt cache (a part of `input`; llmtel's own value: the conventions' token
    /// metrics name it `cache_read.input_tokens` in metrics still being drafted).
    pub const CACHE_READ: &str = "cache_read";
}

/// Token-count buckets the GenAI conventions advise.
pub const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Duration buckets the GenAI conventions advise (seconds).
pub const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Time-to-first-token buckets the GenAI conventions advise (seconds).
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Time-per-output-token buckets the GenAI conventions advise (seconds).
pub const TPOT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
/// Time spent waiting for the server (seconds, llmtel's own: waits reach minutes under load).
pub const QUEUE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0,
];
/// Prompt tokens per second of prefill (llmtel's own: prefill runs far faster than decode).
pub const PREFILL_RATE_BUCKETS: &[f64] = &[
    10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0, 50000.0,
    100000.0,
];
/// Share of the context window a request used (0–1).
pub const CONTEXT_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0];
/// GPU energy of one request, joules.
pub const ENERGY_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];
/// GPU energy per output token, joules.
pub const ENERGY_PER_TOKEN_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0,
];
/// Output tokens per second of one request (llmtel's own).
pub const RATE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0,
];

/// The metrics the `genai_metrics` connector produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GenAiMetric {
    /// `gen_ai.client.token.usage`, by [`label::TOKEN_TYPE`].
    TokenUsage,
    /// `gen_ai.client.operation.duration`.
    OperationDuration,
    /// `gen_ai.server.time_to_first_token`.
    TimeToFirstToken,
    /// `gen_ai.server.time_per_output_token`.
    TimePerOutputToken,
    /// `llmtel.client.time_to_first_answer_token`.
    TimeToFirstAnswerToken,
    /// `llmtel.client.think.duration`.
    ThinkDuration,
    /// `llmtel.client.answer.duration`.
    AnswerDuration,
    /// `llmtel.client.output_tokens.rate`.
    OutputTokenRate,
    /// `llmtel.client.requests`, by [`label::RESPONSE_FINISH_REASON`].
    Requests,
    /// `llmtel.server.queue_wait` (an estimate, from the server's timings).
    QueueWait,
    /// `llmtel.server.queued_requests`: requests whose queue wait passed the threshold.
    QueuedRequests,
    /// `llmtel.model.cold_loads`: requests that made the server load the model.
    ColdLoads,
    /// `llmtel.model.load.duration`: how long those loads took.
    LoadDuration,
    /// `llmtel.server.prefill.rate`: prompt tokens per second of prefill.
    PrefillRate,
    /// `llmtel.server.decode.rate`: generated tokens per second of decode.
    DecodeRate,
    /// `llmtel.context.utilization`: prompt plus output over the context window.
    ContextUtilization,
    /// `llmtel.context.filled_requests`: requests whose prompt filled the window.
    ContextFilled,
    /// `llmtel.gpu.energy.request`: GPU energy per request (an estimate).
    EnergyPerRequest,
    /// `llmtel.gpu.energy.per_output_token`: GPU energy per output token (an estimate).
    EnergyPerOutputToken,
}

/// What kind of instrument a [`GenAiMetric`] is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Instrument {
    /// A histogram with these advised bucket boundaries (the config's `buckets:` may replace them).
    Histogram(&'static [f64]),
    /// A monotonic counter.
    Counter,
}

/// Name, unit, description and instrument of one [`GenAiMetric`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// The OpenTelemetry metric name.
    pub name: &'static str,
    /// The UCUM unit.
    pub unit: &'static str,
    /// The description (Prometheus HELP).
    pub description: &'static str,
    /// Histogram or counter.
    pub instrument: Instrument,
}

impl GenAiMetric {
    /// Every metric, in the order the connector emits them.
    pub const ALL: [Self; 19] = [
        Self::TokenUsage,
        Self::OperationDuration,
        Self::TimeToFirstToken,
        Self::TimePerOutputToken,
        Self::TimeToFirstAnswerToken,
        Self::ThinkDuration,
        Self::AnswerDuration,
        Self::OutputTokenRate,
        Self::Requests,
        Self::QueueWait,
        Self::QueuedRequests,
        Self::ColdLoads,
        Self::LoadDuration,
        Self::PrefillRate,
        Self::DecodeRate,
        Self::ContextUtilization,
        Self::ContextFilled,
        Self::EnergyPerRequest,
        Self::EnergyPerOutputToken,
    ];

    /// The metric's definition.
    pub const fn def(self) -> MetricDef {
        use Instrument::{Counter, Histogram};
        let (name, unit, description, instrument) = match self {
            Self::TokenUsage => (
                "gen_ai.client.token.usage",
                "{token}",
                "Tokens per request, by gen_ai.token.type (input, output, reasoning; output includes reasoning)",
                Histogram(TOKEN_BUCKETS),
            ),
            Self::OperationDuration => (
                "gen_ai.client.operation.duration",
                "s",
                "Duration of GenAI operations",
                Histogram(DURATION_BUCKETS),
            ),
            Self::TimeToFirstToken => (
                "gen_ai.server.time_to_first_token",
                "s",
                "Time to the first token, reasoning or answer",
                Histogram(TTFT_BUCKETS),
            ),
            Self::TimePerOutputToken => (
                "gen_ai.server.time_per_output_token",
                "s",
                "Time per output token after the first",
                Histogram(TPOT_BUCKETS),
            ),
            Self::TimeToFirstAnswerToken => (
                "llmtel.client.time_to_first_answer_token",
                "s",
                "Time to the first answer token, after any thinking",
                Histogram(TTFT_BUCKETS),
            ),
            Self::ThinkDuration => (
                "llmtel.client.think.duration",
                "s",
                "Time spent thinking: first reasoning token to first answer token",
                Histogram(DURATION_BUCKETS),
            ),
            Self::AnswerDuration => (
                "llmtel.client.answer.duration",
                "s",
                "Time spent answering: first answer token to the end of the stream",
                Histogram(DURATION_BUCKETS),
            ),
            Self::OutputTokenRate => (
                "llmtel.client.output_tokens.rate",
                "{token}/s",
                "Output tokens per second of generation, per request",
                Histogram(RATE_BUCKETS),
            ),
            Self::Requests => (
                "llmtel.client.requests",
                "{request}",
                "GenAI requests, by finish reason and error type",
                Counter,
            ),
            Self::QueueWait => (
                "llmtel.server.queue_wait",
                "s",
                "Estimated time requests waited outside the model: wall time minus the server's own load, prefill and decode times",
                Histogram(QUEUE_BUCKETS),
            ),
            Self::QueuedRequests => (
                "llmtel.server.queued_requests",
                "{request}",
                "Requests whose estimated queue wait passed the sidecar's queued_threshold",
                Counter,
            ),
            Self::ColdLoads => (
                "llmtel.model.cold_loads",
                "{load}",
                "Requests that made the server load the model (load time above cold_load_threshold)",
                Counter,
            ),
            Self::LoadDuration => (
                "llmtel.model.load.duration",
                "s",
                "Time the server spent loading the model, for requests that made it load",
                Histogram(DURATION_BUCKETS),
            ),
            Self::PrefillRate => (
                "llmtel.server.prefill.rate",
                "{token}/s",
                "Prompt tokens per second of prompt evaluation (prefill), from the server's timings",
                Histogram(PREFILL_RATE_BUCKETS),
            ),
            Self::DecodeRate => (
                "llmtel.server.decode.rate",
                "{token}/s",
                "Generated tokens per second of generation (decode), from the server's timings",
                Histogram(RATE_BUCKETS),
            ),
            Self::ContextUtilization => (
                "llmtel.context.utilization",
                "1",
                "Prompt plus output tokens over the context window the request ran in",
                Histogram(CONTEXT_BUCKETS),
            ),
            Self::ContextFilled => (
                "llmtel.context.filled_requests",
                "{request}",
                "Requests whose prompt filled 95 % or more of the context window (Ollama then truncates it)",
                Counter,
            ),
            Self::EnergyPerRequest => (
                "llmtel.gpu.energy.request",
                "J",
                "Estimated GPU energy per request: energy while it was in flight, shared among the requests in flight",
                Histogram(ENERGY_BUCKETS),
            ),
            Self::EnergyPerOutputToken => (
                "llmtel.gpu.energy.per_output_token",
                "J",
                "Estimated GPU energy per output token of a request",
                Histogram(ENERGY_PER_TOKEN_BUCKETS),
            ),
        };
        MetricDef {
            name,
            unit,
            description,
            instrument,
        }
    }

    /// The OpenTelemetry metric name.
    pub const fn name(self) -> &'static str {
        self.def().name
    }

    /// The advised bucket boundaries; `None` for a counter.
    pub const fn advised_buckets(self) -> Option<&'static [f64]> {
        match self.def().instrument {
            Instrument::Histogram(b) => Some(b),
            Instrument::Counter => None,
        }
    }

    /// The metric named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The histograms, the metrics whose buckets the config may set.
    pub fn histograms() -> impl Iterator<Item = Self> {
        Self::ALL
            .into_iter()
            .filter(|m| m.advised_buckets().is_some())
    }

    /// Position in [`GenAiMetric::ALL`], for per-metric tables.
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_sits_at_its_index_and_has_a_unique_name() {
        for (i, m) in GenAiMetric::ALL.into_iter().enumerate() {
            assert_eq!(m.index(), i, "{m:?}");
            assert_eq!(GenAiMetric::from_name(m.name()), Some(m));
        }
        let mut names: Vec<&str> = GenAiMetric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), GenAiMetric::ALL.len());
    }

    #[test]
    fn advised_buckets_increase() {
        for m in GenAiMetric::histograms() {
            let b = m.advised_buckets().unwrap_or_default();
            assert!(!b.is_empty(), "{m:?}");
            assert!(b.windows(2).all(|w| w[0] < w[1]), "{m:?}: {b:?}");
        }
        assert_eq!(GenAiMetric::Requests.advised_buckets(), None);
    }
}
