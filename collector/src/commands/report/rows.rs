//! Samples into rows: per model and think mode, request and error counts, percentiles interpolated inside buckets
//! the way PromQL's `histogram_quantile` does, the thinking share and the mean energy per request.

use std::collections::BTreeMap;

use super::names::{
    DURATION, ENERGY, FIRST_ANSWER, HISTOGRAMS, MODEL, REQUESTS, THINK, THINK_TIME, TOKENS_RATE,
    TTFT,
};
use super::source::{Sample, parse_value};

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `gen_ai.request.model`.
    pub model: String,
    /// `llmtel.think.mode` (`-` where the span had none).
    pub think: String,
    /// Requests, failed ones included.
    pub requests: f64,
    /// Failed requests.
    pub errors: f64,
    /// Request duration percentiles, seconds.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// Median time to first token (reasoning or answer), seconds.
    pub ttft_p50: Option<f64>,
    /// Median time to the first answer token, seconds.
    pub first_answer_p50: Option<f64>,
    /// Median output tokens per second of generation.
    pub tokens_per_second_p50: Option<f64>,
    /// Time spent thinking over all request time, 0..1.
    pub think_share: Option<f64>,
    /// Mean GPU energy per request, joules (an estimate); `None` where no energy histogram exists.
    pub energy_mean: Option<f64>,
}

type Key = (String, String);

fn key_of(s: &Sample) -> Option<Key> {
    let model = s.labels.get(MODEL)?.clone();
    let think = s
        .labels
        .get(THINK)
        .cloned()
        .unwrap_or_else(|| "-".to_owned());
    Some((model, think))
}

/// Cumulative bucket counts by upper bound, summed over every series of a group.
#[derive(Debug, Default)]
struct Buckets(Vec<(f64, f64)>);

impl Buckets {
    fn add(&mut self, le: f64, count: f64) {
        match self.0.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => self.0.push((le, count)),
        }
    }

    /// The count of every observation (the `+Inf` bucket); `None` without one.
    fn total(&mut self) -> Option<f64> {
        self.0.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.0
            .last()
            .filter(|(le, _)| le.is_infinite())
            .map(|b| b.1)
    }

    /// The `q` quantile, interpolated linearly within the bucket it falls in (as `histogram_quantile`).
    fn quantile(&mut self, q: f64) -> Option<f64> {
        let total = self.total()?;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut prev_bound = 0.0;
        let mut prev_count = 0.0;
        for &(le, count) in &self.0 {
            if count >= rank {
                if le.is_infinite() {
                    return Some(prev_bound);
                }
                let in_bucket = count - prev_count;
                if in_bucket <= 0.0 {
                    return Some(le);
                }
                return Some(prev_bound + (le - prev_bound) * (rank - prev_count) / in_bucket);
            }
            prev_bound = le;
            prev_count = count;
        }
        None
    }
}

/// Turns samples into rows, sorted by model and think mode.
pub fn compute(samples: &[Sample]) -> Vec<Row> {
    let mut requests: BTreeMap<Key, (f64, f64)> = BTreeMap::new();
    let mut buckets: BTreeMap<(&str, Key), Buckets> = BTreeMap::new();
    let mut sums: BTreeMap<(&str, Key), f64> = BTreeMap::new();
    for s in samples {
        let Some(key) = key_of(s) else { continue };
        if s.name == REQUESTS {
            let e = requests.entry(key).or_default();
            e.0 += s.value;
            if s.labels.get("error_type").is_some_and(|t| !t.is_empty()) {
                e.1 += s.value;
            }
            continue;
        }
        for h in HISTOGRAMS {
            if s.name.strip_suffix("_bucket") == Some(h) {
                if let Some(le) = s.labels.get("le").and_then(|l| parse_value(l)) {
                    buckets
                        .entry((h, key.clone()))
                        .or_default()
                        .add(le, s.value);
                }
            } else if s.name.strip_suffix("_sum") == Some(h) {
                *sums.entry((h, key.clone())).or_default() += s.value;
            }
        }
    }
    let mut rows = Vec::new();
    for (key, (total, errors)) in requests {
        if total <= 0.0 {
            continue;
        }
        let mut q = |h: &'static str, q: f64| {
            buckets
                .get_mut(&(h, key.clone()))
                .and_then(|b| b.quantile(q))
        };
        let (p50, p95) = (q(DURATION, 0.5), q(DURATION, 0.95));
        let (ttft_p50, first_answer_p50) = (q(TTFT, 0.5), q(FIRST_ANSWER, 0.5));
        let tokens_per_second_p50 = q(TOKENS_RATE, 0.5);
        let busy = sums.get(&(DURATION, key.clone())).copied().unwrap_or(0.0);
        let thinking = sums.get(&(THINK_TIME, key.clone())).copied().unwrap_or(0.0);
        let think_share = (busy > 0.0).then(|| (thinking / busy).clamp(0.0, 1.0));
        let energy_mean = buckets
            .get_mut(&(ENERGY, key.clone()))
            .and_then(|b| b.total())
            .filter(|n| *n > 0.0)
            .and_then(|n| Some(sums.get(&(ENERGY, key.clone()))? / n));
        rows.push(Row {
            model: key.0,
            think: key.1,
            requests: total,
            errors,
            p50,
            p95,
            ttft_p50,
            first_answer_p50,
            tokens_per_second_p50,
            think_share,
            energy_mean,
        });
    }
    rows
}
