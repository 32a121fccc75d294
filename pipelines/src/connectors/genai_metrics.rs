//! Connector `genai_metrics`: spans of LLM calls in, GenAI metrics out, every histogram bucket and counter
//! keeping a recent exemplar that names the trace it came from.
//!
//! Input: trace batches from the pipelines that export to it (the sidecar's spans, or GenAI spans any program sent
//! over OTLP). A span counts when it has `gen_ai.operation.name` (or the older `gen_ai.system`); the sidecar's
//! `think`/`answer` children (`llmtel.phase`) are skipped, their facts being on the request span too. Output:
//! cumulative metrics, every `flush_interval` and at shutdown, to the metrics pipelines that receive from it. The
//! OpenTelemetry Rust SDK records no exemplars, which is why these metrics are derived here and not in the SDK.

use std::collections::HashMap;
use std::time::Duration;

use llmtel_config::GenAiMetricsConfig;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};

use crate::payload::Payload;
use crate::stage::{BoxFuture, Connector, Inbox, Output};
use crate::stats::unix_nanos;

/// Token-count buckets the GenAI conventions advise.
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Duration buckets the GenAI conventions advise (seconds).
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Time-to-first-token buckets the GenAI conventions advise (seconds).
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Time-per-output-token buckets the GenAI conventions advise (seconds).
const TPOT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
/// Output tokens per second of one request (llmtel's own).
const RATE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0,
];

/// One metric the connector produces.
struct Def {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    /// Default buckets; `None` for the request counter.
    buckets: Option<&'static [f64]>,
}

const TOKENS: usize = 0;
const DURATION: usize = 1;
const TTFT: usize = 2;
const TPOT: usize = 3;
const TTFA: usize = 4;
const THINK: usize = 5;
const ANSWER: usize = 6;
const RATE: usize = 7;
const REQUESTS: usize = 8;

const DEFS: [Def; 9] = [
    Def {
        name: "gen_ai.client.token.usage",
        unit: "{token}",
        description: "Tokens per request, by gen_ai.token.type (input, output, reasoning; output includes reasoning)",
        buckets: Some(TOKEN_BUCKETS),
    },
    Def {
        name: "gen_ai.client.operation.duration",
        unit: "s",
        description: "Duration of GenAI operations",
        buckets: Some(DURATION_BUCKETS),
    },
    Def {
        name: "gen_ai.server.time_to_first_token",
        unit: "s",
        description: "Time to the first token, reasoning or answer",
        buckets: Some(TTFT_BUCKETS),
    },
    Def {
        name: "gen_ai.server.time_per_output_token",
        unit: "s",
        description: "Time per output token after the first",
        buckets: Some(TPOT_BUCKETS),
    },
    Def {
        name: "llmtel.client.time_to_first_answer_token",
        unit: "s",
        description: "Time to the first answer token, after any thinking",
        buckets: Some(TTFT_BUCKETS),
    },
    Def {
        name: "llmtel.client.think.duration",
        unit: "s",
        description: "Time spent thinking: first reasoning token to first answer token",
        buckets: Some(DURATION_BUCKETS),
    },
    Def {
        name: "llmtel.client.answer.duration",
        unit: "s",
        description: "Time spent answering: first answer token to the end of the stream",
        buckets: Some(DURATION_BUCKETS),
    },
    Def {
        name: "llmtel.client.output_tokens.rate",
        unit: "{token}/s",
        description: "Output tokens per second of generation, per request",
        buckets: Some(RATE_BUCKETS),
    },
    Def {
        name: "llmtel.client.requests",
        unit: "{request}",
        description: "GenAI requests, by finish reason and error type",
        buckets: None,
    },
];

/// Attributes every metric is split by, with the older names accepted as fallbacks.
const DIMENSIONS: &[(&str, &[&str])] = &[
    ("gen_ai.operation.name", &[]),
    ("gen_ai.provider.name", &["gen_ai.system"]),
    ("gen_ai.request.model", &[]),
    ("gen_ai.response.model", &[]),
    ("error.type", &[]),
    ("server.address", &[]),
    ("llmtel.think.mode", &[]),
];

/// Resources kept apart, at most; spans of further resources are counted under an empty resource.
const MAX_RESOURCES: usize = 64;

/// A sorted attribute set, as strings.
type Key = Vec<(String, String)>;

/// One cumulative series.
#[derive(Debug, Clone)]
enum Series {
    Hist {
        start: u64,
        counts: Vec<u64>,
        sum: f64,
        count: u64,
        min: f64,
        max: f64,
        /// The newest exemplar per bucket.
        exemplars: Vec<Option<Exemplar>>,
    },
    Counter {
        start: u64,
        value: f64,
        exemplar: Option<Exemplar>,
    },
}

/// One metric's series, capped.
#[derive(Debug)]
struct Family {
    bounds: Vec<f64>,
    series: HashMap<Key, Series>,
    overflow: Option<Series>,
}

/// The metrics of one resource.
#[derive(Debug)]
struct PerResource {
    resource: Option<Resource>,
    families: Vec<Family>,
}

/// The connector.
#[derive(Debug)]
pub struct GenAiMetricsConnector {
    cfg: GenAiMetricsConfig,
    resources: Vec<(Key, PerResource)>,
    overflow_warned: bool,
}

/// The value of `key` in `attrs`.
fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn as_f64(v: &Any) -> Option<f64> {
    match v {
        Any::IntValue(i) => Some(*i as f64),
        Any::DoubleValue(d) => Some(*d),
        Any::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_label(v: &Any) -> Option<String> {
    Some(match v {
        Any::StringValue(s) => s.clone(),
        Any::BoolValue(b) => b.to_string(),
        Any::IntValue(i) => i.to_string(),
        Any::DoubleValue(d) => d.to_string(),
        // A list (finish reasons): its first element.
        Any::ArrayValue(a) => return a.values.first()?.value.as_ref().and_then(as_label),
        _ => return None,
    })
}

/// The first of `keys` present on the span, as a number.
fn number(attrs: &[KeyValue], keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| find(attrs, k).and_then(as_f64))
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// What one span contributes.
struct Observation {
    dims: Key,
    finish: Option<String>,
    values: [Option<f64>; 8],
    tokens: [Option<f64>; 3],
    exemplar: Exemplar,
}

impl GenAiMetricsConnector {
    /// A connector with `cfg`.
    pub fn new(cfg: GenAiMetricsConfig) -> Self {
        Self {
            cfg,
            resources: Vec::new(),
            overflow_warned: false,
        }
    }

    fn families(&self) -> Vec<Family> {
        DEFS.iter()
            .map(|d| Family {
                bounds: self
                    .cfg
                    .buckets
                    .get(d.name)
                    .cloned()
                    .or_else(|| d.buckets.map(<[f64]>::to_vec))
                    .unwrap_or_default(),
                series: HashMap::new(),
                overflow: None,
            })
            .collect()
    }

    /// Takes one batch of spans.
    pub fn add(&mut self, batch: &[ResourceSpans]) {
        let now = unix_nanos();
        for rs in batch {
            let observations: Vec<Observation> = rs
                .scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .filter_map(|s| self.observe(s))
                .collect();
            if observations.is_empty() {
                continue;
            }
            let idx = self.resource_index(rs.resource.as_ref());
            let cap = self.cfg.max_series_per_metric;
            let mut overflowed = false;
            let per = &mut self.resources[idx].1;
            for o in observations {
                overflowed |= record(per, &o, cap, now);
            }
            if overflowed && !self.overflow_warned {
                self.overflow_warned = true;
                tracing::warn!(
                    max_series_per_metric = cap,
                    "genai_metrics: more attribute sets than the cap; the rest are counted in the otel.metric.overflow series"
                );
            }
        }
    }

    fn resource_index(&mut self, resource: Option<&Resource>) -> usize {
        let mut key: Key = resource
            .map(|r| {
                r.attributes
                    .iter()
                    .filter_map(|kv| {
                        Some((
                            kv.key.clone(),
                            as_label(kv.value.as_ref()?.value.as_ref()?)?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        key.sort();
        if let Some(i) = self.resources.iter().position(|(k, _)| *k == key) {
            return i;
        }
        let (key, resource) = if self.resources.len() >= MAX_RESOURCES {
            (Key::new(), None)
        } else {
            (key, resource.cloned())
        };
        if let Some(i) = self.resources.iter().position(|(k, _)| *k == key) {
            return i;
        }
        let families = self.families();
        self.resources
            .push((key, PerResource { resource, families }));
        self.resources.len() - 1
    }

    fn observe(&self, span: &Span) -> Option<Observation> {
        let a = &span.attributes;
        let is_genai =
            find(a, "gen_ai.operation.name").is_some() || find(a, "gen_ai.system").is_some();
        if !is_genai || find(a, "llmtel.phase").is_some() {
            return None;
        }
        let mut dims: Key = Vec::new();
        for (key, fallbacks) in DIMENSIONS {
            let v = std::iter::once(*key)
                .chain(fallbacks.iter().copied())
                .find_map(|k| find(a, k).and_then(as_label));
            if let Some(v) = v {
                dims.push(((*key).to_owned(), v));
            }
        }
        for key in &self.cfg.dimensions {
            if let Some(v) = find(a, key).and_then(as_label) {
                dims.push((key.clone(), v));
            }
        }
        dims.sort();
        dims.dedup_by(|x, y| x.0 == y.0);
        let duration = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e9;
        let input = number(
            a,
            &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
        );
        let output = number(
            a,
            &[
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
            ],
        );
        let reasoning = number(
            a,
            &[
                "gen_ai.usage.reasoning.output_tokens",
                "llmtel.usage.reasoning.output_tokens",
            ],
        );
        let ttft = number(
            a,
            &[
                "llmtel.time_to_first_token",
                "gen_ai.response.time_to_first_chunk",
                "gen_ai.latency.time_to_first_token",
            ],
        );
        // After the first token, how long generation took.
        let generating = ttft.map_or(duration, |t| duration - t).max(0.0);
        let tpot = match (ttft, output) {
            (Some(_), Some(n)) if n > 1.0 => Some(generating / (n - 1.0)),
            _ => None,
        };
        let rate = output
            .filter(|n| *n > 0.0 && generating > 0.0)
            .map(|n| n / generating);
        let finish = find(a, "gen_ai.response.finish_reasons").and_then(as_label);
        let time = span.end_time_unix_nano;
        // Indexed by metric; TOKENS has its own three values.
        let mut values = [None; 8];
        values[DURATION] = Some(duration);
        values[TTFT] = ttft;
        values[TPOT] = tpot;
        values[TTFA] = number(a, &["llmtel.time_to_first_answer_token"]);
        values[THINK] = number(a, &["llmtel.think.duration"]);
        values[ANSWER] = number(a, &["llmtel.answer.duration"]);
        values[RATE] = rate;
        Some(Observation {
            dims,
            finish,
            values,
            tokens: [input, output, reasoning],
            exemplar: Exemplar {
                filtered_attributes: Vec::new(),
                time_unix_nano: if time == 0 { unix_nanos() } else { time },
                span_id: span.span_id.clone(),
                trace_id: span.trace_id.clone(),
                value: None,
            },
        })
    }

    /// Every series, cumulative, as of `now`.
    pub fn snapshot(&self, now: u64) -> Vec<ResourceMetrics> {
        self.resources
            .iter()
            .map(|(_, per)| ResourceMetrics {
                resource: per.resource.clone(),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "llmtel.genai_metrics".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    metrics: DEFS
                        .iter()
                        .zip(&per.families)
                        .filter(|(_, f)| !f.series.is_empty() || f.overflow.is_some())
                        .map(|(d, f)| to_metric(d, f, now))
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .filter(|rm| rm.scope_metrics.iter().any(|s| !s.metrics.is_empty()))
            .collect()
    }
}

/// Adds one observation; whether any series overflowed the cap.
fn record(per: &mut PerResource, o: &Observation, cap: usize, now: u64) -> bool {
    let mut overflowed = false;
    let mut put = |idx: usize, extra: Option<(&str, &str)>, value: f64| {
        let mut key = o.dims.clone();
        if let Some((k, v)) = extra {
            key.push((k.to_owned(), v.to_owned()));
            key.sort();
        }
        let f = &mut per.families[idx];
        let exemplar = Exemplar {
            value: Some(exemplar::Value::AsDouble(value)),
            ..o.exemplar.clone()
        };
        let fresh = || match DEFS[idx].buckets {
            Some(_) => Series::Hist {
                start: now,
                counts: vec![0; f.bounds.len() + 1],
                sum: 0.0,
                count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                exemplars: vec![None; f.bounds.len() + 1],
            },
            None => Series::Counter {
                start: now,
                value: 0.0,
                exemplar: None,
            },
        };
        let series = if f.series.contains_key(&key) || cap == 0 || f.series.len() < cap {
            f.series.entry(key).or_insert_with(fresh)
        } else {
            overflowed = true;
            let fresh_series = fresh();
            f.overflow.get_or_insert(fresh_series)
        };
        match series {
            Series::Hist {
                counts,
                sum,
                count,
                min,
                max,
                exemplars,
                ..
            } => {
                // Bucket i holds values ≤ bounds[i] (and above bounds[i-1]); the last is +Inf.
                let i = f.bounds.partition_point(|b| *b < value);
                counts[i] += 1;
                *sum += value;
                *count += 1;
                *min = min.min(value);
                *max = max.max(value);
                exemplars[i] = Some(exemplar);
            }
            Series::Counter {
                value: v,
                exemplar: e,
                ..
            } => {
                *v += value;
                *e = Some(exemplar);
            }
        }
    };
    for (i, token_type) in ["input", "output", "reasoning"].iter().enumerate() {
        if let Some(n) = o.tokens[i] {
            put(TOKENS, Some(("gen_ai.token.type", token_type)), n);
        }
    }
    for (idx, v) in o.values.iter().enumerate() {
        if let Some(v) = v {
            put(idx, None, *v);
        }
    }
    let finish = o.finish.as_deref().unwrap_or("");
    put(
        REQUESTS,
        (!finish.is_empty()).then_some(("gen_ai.response.finish_reason", finish)),
        1.0,
    );
    overflowed
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(AnyValue {
                value: Some(Any::StringValue(v.clone())),
            }),
            ..Default::default()
        })
        .collect()
}

fn to_metric(def: &Def, f: &Family, now: u64) -> Metric {
    let overflow_key: Key = vec![("otel.metric.overflow".to_owned(), "true".to_owned())];
    let all = f
        .series
        .iter()
        .map(|(k, s)| (attributes(k), s))
        .chain(f.overflow.iter().map(|s| (attributes(&overflow_key), s)));
    let data = match def.buckets {
        Some(_) => metric::Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: all
                .filter_map(|(attributes, s)| match s {
                    Series::Hist {
                        start,
                        counts,
                        sum,
                        count,
                        min,
                        max,
                        exemplars,
                    } => Some(HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: *start,
                        time_unix_nano: now,
                        count: *count,
                        sum: Some(*sum),
                        bucket_counts: counts.clone(),
                        explicit_bounds: f.bounds.clone(),
                        exemplars: exemplars.iter().flatten().cloned().collect(),
                        flags: 0,
                        min: Some(*min),
                        max: Some(*max),
                    }),
                    Series::Counter { .. } => None,
                })
                .collect(),
        }),
        None => metric::Data::Sum(Sum {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
            data_points: all
                .filter_map(|(attributes, s)| match s {
                    Series::Counter {
                        start,
                        value,
                        exemplar,
                    } => Some(NumberDataPoint {
                        attributes,
                        start_time_unix_nano: *start,
                        time_unix_nano: now,
                        exemplars: exemplar.iter().cloned().collect(),
                        flags: 0,
                        value: Some(number_data_point::Value::AsDouble(*value)),
                    }),
                    Series::Hist { .. } => None,
                })
                .collect(),
        }),
    };
    Metric {
        name: def.name.to_owned(),
        description: def.description.to_owned(),
        unit: def.unit.to_owned(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

impl Connector for GenAiMetricsConnector {
    fn run(mut self: Box<Self>, mut input: Inbox, output: Output) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let period = self.cfg.flush_interval.get().max(Duration::from_millis(10));
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut changed = false;
            loop {
                tokio::select! {
                    batch = input.recv() => match batch {
                        Some(Payload::Traces(rs)) => {
                            self.add(&rs);
                            changed = true;
                        }
                        Some(_) => {}
                        None => break,
                    },
                    _ = tick.tick() => {
                        // Cumulative series are sent again even when unchanged, so that the Prometheus exporter does
                        // not expire a quiet model's series.
                        if !self.resources.is_empty() && !self.flush(&output).await {
                            return;
                        }
                        changed = false;
                    }
                }
            }
            if changed {
                self.flush(&output).await;
            }
        })
    }
}

impl GenAiMetricsConnector {
    /// Sends the snapshot on; false when the downstream pipelines are gone.
    async fn flush(&self, output: &Output) -> bool {
        let metrics = self.snapshot(unix_nanos());
        if metrics.is_empty() {
            return true;
        }
        match output.send(Payload::Metrics(metrics)).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(connector = output.component(), error = %e, "genai_metrics connector stopped");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
