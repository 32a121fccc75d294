//! A level's figures from its requests' [`Outcome`]s: rates over the level's wall time, percentiles (nearest
//! rank) of every latency, the queue-wait estimate, and the GPU's state while the level ran; and the **knee** of
//! a sweep (the level after which throughput stops rising while latency climbs). The table, CSV, JSON and SVG
//! ([`super::output`], [`super::svg`]) all print these same numbers.

use std::time::Duration;

use serde::Serialize;

use super::client::{End, Outcome};
use super::gpu::GpuFigures;

/// Percentiles of one quantity, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dist {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Mean.
    pub mean: f64,
}

impl Dist {
    /// Nearest-rank percentiles of `values`; `None` when there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let n = values.len();
            let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            values[i]
        };
        Some(Self {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            mean: values.iter().sum::<f64>() / values.len() as f64,
        })
    }
}

/// One level of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    /// The think mode.
    pub think: String,
    /// Concurrent streams (a concurrency sweep), else `None`.
    pub concurrency: Option<u32>,
    /// Requests started per second (a rate sweep), else `None`.
    pub rate: Option<f64>,
    /// The level's tag (`8`, `2.5/s`), as in the requests' `llmtel.load.level`.
    pub level: String,
    /// Requests that ended with a whole answer.
    pub ok: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests past `--timeout`.
    pub timeouts: u64,
    /// The first error's message, when there was one.
    pub first_error: Option<String>,
    /// Whether Ctrl-C or `--max-time` cut the level short.
    pub interrupted: bool,
    /// The level's wall time, from its first request sent to its last answer ended, in seconds.
    pub wall_s: f64,
    /// Whole answers per second of wall time.
    pub requests_per_s: f64,
    /// Output tokens of all whole answers per second of wall time.
    pub output_tokens_per_s: f64,
    /// Per request: output tokens after the first ÷ time from the first token to the last (decode speed).
    pub tokens_per_s_per_request: Option<Dist>,
    /// Whether token counts are chunk counts (the server reported none).
    pub tokens_estimated: bool,
    /// Time to the first token, reasoning or answer (TTFT).
    pub ttft: Option<Dist>,
    /// Time to the first answer token.
    pub ttfat: Option<Dist>,
    /// Think duration (requests that thought).
    pub think_s: Option<Dist>,
    /// Answer duration.
    pub answer_s: Option<Dist>,
    /// Inter-token latency: per request, (last token − first token) ÷ (token chunks − 1).
    pub itl: Option<Dist>,
    /// Time per output token: per request, (end − first token) ÷ (output tokens − 1).
    pub tpot: Option<Dist>,
    /// End-to-end latency.
    pub e2e: Option<Dist>,
    /// The queue-wait estimate from the server's timings.
    pub queue_wait: Option<Dist>,
    /// The server's decode speed, tokens/s per request, from its own timings.
    pub server_tokens_per_s: Option<Dist>,
    /// Time to first token by the server's timings (queue wait, load, prefill, one decoded token), to set beside
    /// [`Level::ttft`].
    pub server_ttft: Option<Dist>,
    /// The GPU while the level ran (from `--metrics`).
    pub gpu: Option<GpuFigures>,
}

/// The figures of a level from its outcomes. `wall` is the level's wall time.
pub fn level(
    think: &str,
    concurrency: Option<u32>,
    rate: Option<f64>,
    tag: &str,
    outcomes: &[Outcome],
    wall: Duration,
) -> Level {
    let ok: Vec<&Outcome> = outcomes.iter().filter(|o| o.end == End::Ok).collect();
    let timeouts = outcomes.iter().filter(|o| o.end == End::Timeout).count() as u64;
    let errors = (outcomes.len() - ok.len()) as u64 - timeouts;
    let wall_s = wall.as_secs_f64();
    let per_s = |n: f64| if wall_s > 0.0 { n / wall_s } else { 0.0 };
    let secs = |f: fn(&Outcome) -> Option<Duration>| {
        Dist::of(
            ok.iter()
                .filter_map(|o| f(o))
                .map(|d| d.as_secs_f64())
                .collect(),
        )
    };
    let tokens: u64 = ok.iter().map(|o| o.output_tokens).sum();
    let per_request =
        |f: &dyn Fn(&Outcome) -> Option<f64>| Dist::of(ok.iter().filter_map(|o| f(o)).collect());
    Level {
        think: think.to_owned(),
        concurrency,
        rate,
        level: tag.to_owned(),
        ok: ok.len() as u64,
        errors,
        timeouts,
        first_error: outcomes.iter().find_map(|o| match &o.end {
            End::Error(e) => Some(e.clone()),
            _ => None,
        }),
        interrupted: false,
        wall_s,
        requests_per_s: per_s(ok.len() as f64),
        output_tokens_per_s: per_s(tokens as f64),
        tokens_per_s_per_request: per_request(&|o| {
            let span = o.last_token?.checked_sub(o.first_token?)?.as_secs_f64();
            (o.output_tokens > 1 && span > 0.0).then(|| (o.output_tokens - 1) as f64 / span)
        }),
        tokens_estimated: ok.iter().any(|o| o.tokens_estimated),
        ttft: secs(|o| o.first_token),
        ttfat: secs(|o| o.first_answer),
        think_s: secs(|o| o.think),
        answer_s: secs(|o| o.answer),
        itl: per_request(&|o| {
            let span = o.last_token?.checked_sub(o.first_token?)?.as_secs_f64();
            (o.token_chunks > 1).then(|| span / (o.token_chunks - 1) as f64)
        }),
        tpot: per_request(&|o| {
            let span = o.e2e.checked_sub(o.first_token?)?.as_secs_f64();
            (o.output_tokens > 1).then(|| span / (o.output_tokens - 1) as f64)
        }),
        e2e: secs(|o| Some(o.e2e)),
        queue_wait: secs(|o| o.queue_wait),
        server_tokens_per_s: per_request(&|o| {
            let d = o.server_decode?.as_secs_f64();
            let n = o.server_decode_tokens?;
            (d > 0.0).then(|| n as f64 / d)
        }),
        server_ttft: secs(|o| o.server_first_token),
        gpu: None,
    }
}

/// The x value of a level: its concurrency, or its rate.
pub fn x(l: &Level) -> f64 {
    l.concurrency.map_or(l.rate.unwrap_or(0.0), f64::from)
}

/// The knee of one think mode's levels (in sweep order): the first level after which throughput rises by less
/// than a quarter of the load's rise (doubling the streams adds under 25 %) while the median end-to-end latency
/// climbs by more than 10 %. `None` when throughput kept rising to the last level.
pub fn knee(levels: &[&Level]) -> Option<usize> {
    levels.windows(2).position(|w| {
        let (a, b) = (w[0], w[1]);
        let load_rise = x(b) / x(a) - 1.0;
        let tput_rise = b.output_tokens_per_s / a.output_tokens_per_s - 1.0;
        let lat = |l: &Level| l.e2e.map_or(f64::NAN, |d| d.p50);
        load_rise > 0.0
            && a.output_tokens_per_s > 0.0
            && tput_rise < 0.25 * load_rise
            && lat(b) > 1.10 * lat(a)
    })
}
