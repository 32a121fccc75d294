//! The price of thinking: for each model that ran both with thinking on (`on`, or a level such as `high`) and off,
//! the ratios on ÷ off of median latency, median time to the first answer token, median output tokens/s and mean
//! energy per request, as the guide's hand-made baseline asks for ("latency ×2.3, output tokens/s −40 %").

use super::rows::Row;

/// Why the VRAM difference is never given: nothing llmtel records varies with the think mode (docs/report.md).
pub const VRAM_NOT_OBSERVABLE: &str = "not observable: VRAM is recorded per loaded model (Ollama /api/ps) and per \
GPU, not per request, and a model's KV cache is reserved for its whole context window at load, whatever the think mode";

/// Think modes that are not "thinking on": the baseline and the server's default (unknown either way).
const NOT_ON: [&str; 3] = ["off", "default", "-"];

/// One model and thinking mode compared with the same model's think-off requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    /// `gen_ai.request.model`.
    pub model: String,
    /// The thinking mode compared (`on`, `high` …); the baseline is always `off`.
    pub think: String,
    /// Requests with thinking in this mode.
    pub requests_on: f64,
    /// Requests with thinking off.
    pub requests_off: f64,
    /// P50 request latency, on ÷ off.
    pub latency_p50: Option<f64>,
    /// P50 time to the first answer token, on ÷ off.
    pub first_answer_p50: Option<f64>,
    /// P50 output tokens per second, on ÷ off (below 1: thinking generates more slowly).
    pub tokens_per_second_p50: Option<f64>,
    /// Mean GPU energy per request, on ÷ off; `Err` says why there is none.
    pub energy_per_request: Result<f64, &'static str>,
    /// VRAM on minus off, bytes; always `Err` ([`VRAM_NOT_OBSERVABLE`]).
    pub vram_difference: Result<f64, &'static str>,
}

fn ratio(on: Option<f64>, off: Option<f64>) -> Option<f64> {
    let (on, off) = (on?, off?);
    let r = on / off;
    (off > 0.0 && r.is_finite()).then_some(r)
}

/// The price of thinking for every model with think-off rows and rows of some other mode that thinks.
pub fn price(rows: &[Row]) -> Vec<Price> {
    let mut out = Vec::new();
    for off in rows.iter().filter(|r| r.think == "off") {
        for on in rows
            .iter()
            .filter(|r| r.model == off.model && !NOT_ON.contains(&r.think.as_str()))
        {
            let energy_per_request = match (on.energy_mean, off.energy_mean) {
                (None, None) => Err(
                    "no energy recorded (llmtel_gpu_energy_request_joules needs a gpu receiver serving this upstream)",
                ),
                (Some(_), None) | (None, Some(_)) => {
                    Err("energy recorded for only one of the two modes")
                }
                (a, b) => ratio(a, b).ok_or("no measurable energy with thinking off"),
            };
            out.push(Price {
                model: on.model.clone(),
                think: on.think.clone(),
                requests_on: on.requests,
                requests_off: off.requests,
                latency_p50: ratio(on.p50, off.p50),
                first_answer_p50: ratio(on.first_answer_p50, off.first_answer_p50),
                tokens_per_second_p50: ratio(on.tokens_per_second_p50, off.tokens_per_second_p50),
                energy_per_request,
                vram_difference: Err(VRAM_NOT_OBSERVABLE),
            });
        }
    }
    out
}
