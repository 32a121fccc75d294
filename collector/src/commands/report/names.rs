//! The Prometheus names `llmtel report` reads: the `genai_metrics` connector's metrics as the `prometheus`
//! exporter names them (unit and `_total` suffixes added), and the connector's labels for model and think mode.

/// `gen_ai.request.model`.
pub(crate) const MODEL: &str = "gen_ai_request_model";
/// `llmtel.think.mode`.
pub(crate) const THINK: &str = "llmtel_think_mode";
/// `llmtel.client.requests`.
pub(crate) const REQUESTS: &str = "llmtel_client_requests_total";
/// `gen_ai.client.operation.duration`.
pub(crate) const DURATION: &str = "gen_ai_client_operation_duration_seconds";
/// `gen_ai.server.time_to_first_token`.
pub(crate) const TTFT: &str = "gen_ai_server_time_to_first_token_seconds";
/// `llmtel.client.time_to_first_answer_token`.
pub(crate) const FIRST_ANSWER: &str = "llmtel_client_time_to_first_answer_token_seconds";
/// `llmtel.client.output_tokens.rate`.
pub(crate) const TOKENS_RATE: &str = "llmtel_client_output_tokens_rate_per_second";
/// `llmtel.client.think.duration`.
pub(crate) const THINK_TIME: &str = "llmtel_client_think_duration_seconds";
/// `llmtel.gpu.energy.request` (an estimate, present only where a `gpu` receiver attributes energy).
pub(crate) const ENERGY: &str = "llmtel_gpu_energy_request_joules";
/// The histograms the report reads: buckets and sums of each.
pub(crate) const HISTOGRAMS: [&str; 6] = [
    DURATION,
    TTFT,
    FIRST_ANSWER,
    TOKENS_RATE,
    THINK_TIME,
    ENERGY,
];
