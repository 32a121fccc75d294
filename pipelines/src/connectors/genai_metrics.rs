//! Connector `genai_metrics`: spans of LLM calls in, GenAI metrics out, every histogram bucket and counter
//! keeping a recent exemplar that names the trace it came from.
//!
//! Input: trace batches from the pipelines that export to it (the sidecar's spans, or GenAI spans any program sent
//! over OTLP). A span counts when it has `gen_ai.operation.name` (or the older `gen_ai.system`); the sidecar's
//! `think`/`answer` children (`llmtel.phase`) are skipped, their facts being on the request span too. Output:
//! cumulative metrics, every `flush_interval` and at shutdown, to the metrics pipelines that receive from it. The
//! OpenTelemetry Rust SDK records no exemplars, which is why these metrics are derived here and not in the SDK.
//! The metrics of the server's view (queue wait, cold loads, prefill and decode rates), the context window and
//! GPU energy come from their own attributes ([`server`]), whoever wrote them; attributes are read leniently
//! ([`read`]).

use std::collections::HashMap;
use std::sync::Arc;
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

use llmtel_config::semconv::{GenAiMetric, Instrument, attr, label, token_type};

use self::read::{as_label, find, number};
use crate::events::{self, Event, EventCounter};
use crate::payload::Payload;
use crate::stage::{BoxFuture, Connector, Inbox, Output};
use crate::stats::unix_nanos;

mod read;
mod server;

/// Attributes every metric is split by, with the older names accepted as fallbacks.
const DIMENSIONS: &[(&str, &[&str])] = &[
    (attr::OPERATION_NAME, &[]),
    (attr::PROVIDER_NAME, &[attr::SYSTEM]),
    (attr::REQUEST_MODEL, &[]),
    (attr::RESPONSE_MODEL, &[]),
    (attr::ERROR_TYPE, &[]),
    (attr::SERVER_ADDRESS, &[]),
    (attr::THINK_MODE, &[]),
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
    metric: GenAiMetric,
    /// Bucket boundaries (histograms only): the config's, else the advised ones.
    bounds: Vec<f64>,
    series: HashMap<Key, Series>,
    overflow: Option<Series>,
}

/// The metrics of one resource.
#[derive(Debug)]
struct PerResource {
    resource: Option<Resource>,
    /// One family per metric, in [`GenAiMetric::ALL`] order.
    families: Vec<Family>,
}

/// The connector.
#[derive(Debug)]
pub struct GenAiMetricsConnector {
    cfg: GenAiMetricsConfig,
    resources: Vec<(Key, PerResource)>,
    /// Points folded into an overflow series, counted and warned about.
    overflow: Arc<EventCounter>,
}

/// One value a span gives one metric, with the attribute that metric adds to the span's dimensions.
struct Point {
    metric: GenAiMetric,
    extra: Option<(&'static str, String)>,
    value: f64,
}

/// What one span contributes.
struct Observation {
    dims: Key,
    points: Vec<Point>,
    exemplar: Exemplar,
}

impl GenAiMetricsConnector {
    /// The connector `id` with `cfg`.
    pub fn new(id: &str, cfg: GenAiMetricsConfig) -> Self {
        Self {
            cfg,
            resources: Vec::new(),
            overflow: events::counter(id, Event::CardinalityOverflow),
        }
    }

    fn families(&self) -> Vec<Family> {
        GenAiMetric::ALL
            .into_iter()
            .map(|metric| Family {
                metric,
                bounds: self
                    .cfg
                    .buckets
                    .get(metric.name())
                    .cloned()
                    .or_else(|| metric.advised_buckets().map(<[f64]>::to_vec))
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
            let mut overflowed = 0;
            let per = &mut self.resources[idx].1;
            for o in observations {
                overflowed += record(per, &o, cap, now);
            }
            if overflowed > 0 {
                self.overflow
                    .emit(overflowed, &format_args!("max_series_per_metric is {cap}"));
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
        let is_genai = find(a, attr::OPERATION_NAME).is_some() || find(a, attr::SYSTEM).is_some();
        if !is_genai || find(a, attr::PHASE).is_some() {
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
        let input = number(a, &[attr::USAGE_INPUT_TOKENS, attr::USAGE_PROMPT_TOKENS]);
        let output = number(
            a,
            &[attr::USAGE_OUTPUT_TOKENS, attr::USAGE_COMPLETION_TOKENS],
        );
        let reasoning = number(
            a,
            &[
                attr::USAGE_REASONING_OUTPUT_TOKENS,
                attr::USAGE_REASONING_OUTPUT_TOKENS_ESTIMATE,
            ],
        );
        let cache_read = number(a, &[attr::USAGE_CACHE_READ_INPUT_TOKENS]);
        let ttft = number(
            a,
            &[
                attr::TIME_TO_FIRST_TOKEN,
                attr::RESPONSE_TIME_TO_FIRST_CHUNK,
                attr::LATENCY_TIME_TO_FIRST_TOKEN,
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
        let finish = find(a, attr::RESPONSE_FINISH_REASONS)
            .and_then(as_label)
            .filter(|f| !f.is_empty());
        let server = server::Values::of(a, output);
        let time = span.end_time_unix_nano;
        let tokens = |kind: &'static str| Some((label::TOKEN_TYPE, kind.to_owned()));
        let candidates = [
            (GenAiMetric::TokenUsage, tokens(token_type::INPUT), input),
            (GenAiMetric::TokenUsage, tokens(token_type::OUTPUT), output),
            (
                GenAiMetric::TokenUsage,
                tokens(token_type::REASONING),
                reasoning,
            ),
            (
                GenAiMetric::TokenUsage,
                tokens(token_type::CACHE_READ),
                cache_read,
            ),
            (GenAiMetric::OperationDuration, None, Some(duration)),
            (GenAiMetric::TimeToFirstToken, None, ttft),
            (GenAiMetric::TimePerOutputToken, None, tpot),
            (
                GenAiMetric::TimeToFirstAnswerToken,
                None,
                number(a, &[attr::TIME_TO_FIRST_ANSWER_TOKEN]),
            ),
            (
                GenAiMetric::ThinkDuration,
                None,
                number(a, &[attr::THINK_DURATION]),
            ),
            (
                GenAiMetric::AnswerDuration,
                None,
                number(a, &[attr::ANSWER_DURATION]),
            ),
            (GenAiMetric::OutputTokenRate, None, rate),
            (GenAiMetric::QueueWait, None, server.queue_wait),
            (GenAiMetric::QueuedRequests, None, server.queued),
            (GenAiMetric::ColdLoads, None, server.cold_load),
            (GenAiMetric::LoadDuration, None, server.load_duration),
            (GenAiMetric::PrefillRate, None, server.prefill_rate),
            (GenAiMetric::DecodeRate, None, server.decode_rate),
            (
                GenAiMetric::ContextUtilization,
                None,
                server.context_utilization,
            ),
            (GenAiMetric::ContextFilled, None, server.context_filled),
            (GenAiMetric::EnergyPerRequest, None, server.energy),
            (
                GenAiMetric::EnergyPerOutputToken,
                None,
                server.energy_per_output_token,
            ),
            (
                GenAiMetric::Requests,
                finish.map(|f| (label::RESPONSE_FINISH_REASON, f)),
                Some(1.0),
            ),
        ];
        let points = candidates
            .into_iter()
            .filter_map(|(metric, extra, value)| {
                Some(Point {
                    metric,
                    extra,
                    value: value?,
                })
            })
            .collect();
        Some(Observation {
            dims,
            points,
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
                    metrics: per
                        .families
                        .iter()
                        .filter(|f| !f.series.is_empty() || f.overflow.is_some())
                        .map(|f| to_metric(f, now))
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .filter(|rm| rm.scope_metrics.iter().any(|s| !s.metrics.is_empty()))
            .collect()
    }
}

/// Adds one observation; how many of its points went to an overflow series.
fn record(per: &mut PerResource, o: &Observation, cap: usize, now: u64) -> u64 {
    let mut overflowed = 0;
    for p in &o.points {
        let mut key = o.dims.clone();
        if let Some((k, v)) = &p.extra {
            key.push(((*k).to_owned(), v.clone()));
            key.sort();
        }
        let f = &mut per.families[p.metric.index()];
        let exemplar = Exemplar {
            value: Some(exemplar::Value::AsDouble(p.value)),
            ..o.exemplar.clone()
        };
        let fresh = || match f.metric.advised_buckets() {
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
            overflowed += 1;
            let fresh_series = fresh();
            f.overflow.get_or_insert(fresh_series)
        };
        let value = p.value;
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
    }
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

fn to_metric(f: &Family, now: u64) -> Metric {
    let def = f.metric.def();
    let overflow_key: Key = vec![(label::OVERFLOW.to_owned(), "true".to_owned())];
    let all = f
        .series
        .iter()
        .map(|(k, s)| (attributes(k), s))
        .chain(f.overflow.iter().map(|s| (attributes(&overflow_key), s)));
    let data = match def.instrument {
        Instrument::Histogram(_) => metric::Data::Histogram(Histogram {
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
        Instrument::Counter => metric::Data::Sum(Sum {
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
