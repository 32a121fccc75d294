//! The `genai_metrics` values that come from the server's view of a request, its context window and its GPU
//! energy: read from a span's own attributes (`llmtel.server.*`, `llmtel.model.cold_load`, `llmtel.context.*`,
//! `llmtel.gpu.energy`), so any program's spans that carry them count, not only the sidecar's. Each value is
//! absent when its attributes are; the connector ([`super`]) records the present ones.

use opentelemetry_proto::tonic::common::v1::KeyValue;

use llmtel_config::semconv::attr;

use super::read::{flag, number};

/// One span's values for the server-side metrics.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Values {
    /// `llmtel.server.queue_wait`, seconds.
    pub queue_wait: Option<f64>,
    /// 1 when `llmtel.server.queued` is true.
    pub queued: Option<f64>,
    /// 1 when `llmtel.model.cold_load` is true.
    pub cold_load: Option<f64>,
    /// `llmtel.server.load.duration` of a cold load, seconds.
    pub load_duration: Option<f64>,
    /// Prefill tokens per second.
    pub prefill_rate: Option<f64>,
    /// Decode tokens per second.
    pub decode_rate: Option<f64>,
    /// `llmtel.context.utilization`.
    pub context_utilization: Option<f64>,
    /// 1 when `llmtel.context.filled` is true.
    pub context_filled: Option<f64>,
    /// `llmtel.gpu.energy`, joules.
    pub energy: Option<f64>,
    /// `llmtel.gpu.energy` over the output tokens, joules.
    pub energy_per_output_token: Option<f64>,
}

/// `tokens` over `seconds`, both present and above zero.
fn rate(tokens: Option<f64>, seconds: Option<f64>) -> Option<f64> {
    match (tokens, seconds) {
        (Some(n), Some(s)) if n > 0.0 && s > 0.0 => Some(n / s),
        _ => None,
    }
}

impl Values {
    /// The values of a span with attributes `a` that generated `output` tokens.
    pub(super) fn of(a: &[KeyValue], output: Option<f64>) -> Self {
        let one = |key: &str| flag(a, key).then_some(1.0);
        let cold_load = one(attr::MODEL_COLD_LOAD);
        let energy = number(a, &[attr::GPU_ENERGY]);
        Self {
            queue_wait: number(a, &[attr::SERVER_QUEUE_WAIT]),
            queued: one(attr::SERVER_QUEUED),
            cold_load,
            load_duration: cold_load.and(number(a, &[attr::SERVER_LOAD_DURATION])),
            prefill_rate: rate(
                number(a, &[attr::SERVER_PREFILL_TOKENS]),
                number(a, &[attr::SERVER_PREFILL_DURATION]),
            ),
            decode_rate: rate(
                number(a, &[attr::SERVER_DECODE_TOKENS]),
                number(a, &[attr::SERVER_DECODE_DURATION]),
            ),
            context_utilization: number(a, &[attr::CONTEXT_UTILIZATION]),
            context_filled: one(attr::CONTEXT_FILLED),
            energy,
            energy_per_output_token: rate(energy, output),
        }
    }
}
