//! Processor `metric_transform`: renames metrics, their labels and units, keeps only some data points, aggregates
//! labels away, scales values and turns histograms into counters, then keeps or drops metrics by name. It is how
//! llmtel also serves names other tools expect (`config/examples/compat.yaml`).
//!
//! Aggregation combines the points of one batch: every receiver and connector of llmtel sends each collection of a
//! metric as one batch, so the series it makes are complete. Exponential histograms are not combined (their points
//! are kept apart).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as ExemplarValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, HistogramDataPoint, Metric, NumberDataPoint, Sum, Summary,
    SummaryDataPoint,
};

use llmtel_config::{
    Aggregation, Extract, MetricTransform, MetricTransformConfig, TransformAction,
};

use crate::payload::{Payload, any_to_string};
use crate::stage::Processor;

/// A metric name, or a prefix when written with a trailing `*`.
#[derive(Debug, Clone)]
enum NamePattern {
    Exact(String),
    Prefix(String),
}

impl NamePattern {
    fn new(p: &str) -> Self {
        match p.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(p.to_owned()),
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(n) => n == name,
            Self::Prefix(p) => name.starts_with(p.as_str()),
        }
    }
}

/// The metric_transform processor of one pipeline.
#[derive(Debug)]
pub struct MetricTransformProcessor {
    transforms: Vec<(NamePattern, MetricTransform)>,
    keep: Vec<NamePattern>,
    drop: Vec<NamePattern>,
}

impl MetricTransformProcessor {
    /// A processor for these (validated) settings.
    pub fn new(cfg: &MetricTransformConfig) -> Self {
        let patterns = |v: &[String]| v.iter().map(|p| NamePattern::new(p)).collect();
        Self {
            transforms: cfg
                .transforms
                .iter()
                .map(|t| (NamePattern::new(&t.include), t.clone()))
                .collect(),
            keep: patterns(&cfg.keep),
            drop: patterns(&cfg.drop),
        }
    }

    fn passes(&self, name: &str) -> bool {
        (self.keep.is_empty() || self.keep.iter().any(|p| p.matches(name)))
            && !self.drop.iter().any(|p| p.matches(name))
    }

    /// The metrics of one scope, transformed and filtered.
    fn transform_all(&self, mut metrics: Vec<Metric>) -> Vec<Metric> {
        for (pattern, t) in &self.transforms {
            let mut copies = Vec::new();
            for m in metrics.iter_mut().filter(|m| pattern.matches(&m.name)) {
                match t.action {
                    TransformAction::Update => apply(t, m),
                    TransformAction::Insert => {
                        let mut copy = m.clone();
                        apply(t, &mut copy);
                        copies.push(copy);
                    }
                }
            }
            metrics.extend(copies);
        }
        metrics.retain(|m| self.passes(&m.name) && point_count(m) > 0);
        metrics
    }
}

impl Processor for MetricTransformProcessor {
    fn process(&mut self, mut batch: Payload, out: &mut Vec<Payload>) {
        if let Payload::Metrics(resources) = &mut batch {
            for r in resources.iter_mut() {
                for s in r.scope_metrics.iter_mut() {
                    s.metrics = self.transform_all(std::mem::take(&mut s.metrics));
                }
                r.scope_metrics.retain(|s| !s.metrics.is_empty());
            }
            resources.retain(|r| !r.scope_metrics.is_empty());
        }
        if !batch.is_empty() {
            out.push(batch);
        }
    }
}

fn point_count(m: &Metric) -> usize {
    crate::payload::Items::count(m)
}

/// Runs one transform's steps on `m`, in the documented order.
fn apply(t: &MetricTransform, m: &mut Metric) {
    if let Some(data) = m.data.as_mut() {
        if !t.match_labels.is_empty() {
            retain_points(data, |attrs| matches_labels(attrs, &t.match_labels));
        }
        if let Some(what) = t.extract {
            extract(data, what);
        }
        if !t.rename_labels.is_empty() || !t.add_labels.is_empty() {
            for_each_attrs(data, |attrs| {
                rename_and_add(attrs, &t.rename_labels, &t.add_labels)
            });
        }
        if let Some(keep) = &t.keep_labels {
            for_each_attrs(data, |attrs| attrs.retain(|kv| keep.contains(&kv.key)));
            combine(data, t.aggregation);
        }
        if let Some(factor) = t.scale {
            scale(data, factor);
        }
    }
    if let Some(n) = &t.new_name {
        m.name.clone_from(n);
    }
    if let Some(u) = &t.unit {
        m.unit.clone_from(u);
    }
    if let Some(d) = &t.description {
        m.description.clone_from(d);
    }
}

fn matches_labels(attrs: &[KeyValue], want: &BTreeMap<String, Vec<String>>) -> bool {
    want.iter().all(|(key, values)| {
        attrs
            .iter()
            .find(|kv| &kv.key == key)
            .is_some_and(|kv| values.contains(&any_to_string(kv.value.as_ref())))
    })
}

fn rename_and_add(
    attrs: &mut Vec<KeyValue>,
    rename: &BTreeMap<String, String>,
    add: &BTreeMap<String, String>,
) {
    for kv in attrs.iter_mut() {
        if let Some(new) = rename.get(&kv.key) {
            kv.key.clone_from(new);
        }
    }
    for (key, value) in add {
        attrs.retain(|kv| &kv.key != key);
        attrs.push(KeyValue {
            key: key.clone(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.clone())),
            }),
            ..Default::default()
        });
    }
}

fn retain_points(data: &mut Data, keep: impl Fn(&[KeyValue]) -> bool) {
    match data {
        Data::Gauge(g) => g.data_points.retain(|p| keep(&p.attributes)),
        Data::Sum(s) => s.data_points.retain(|p| keep(&p.attributes)),
        Data::Histogram(h) => h.data_points.retain(|p| keep(&p.attributes)),
        Data::ExponentialHistogram(h) => h.data_points.retain(|p| keep(&p.attributes)),
        Data::Summary(s) => s.data_points.retain(|p| keep(&p.attributes)),
    }
}

fn for_each_attrs(data: &mut Data, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match data {
        Data::Gauge(g) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Sum(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Histogram(h) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::ExponentialHistogram(h) => {
            h.data_points.iter_mut().for_each(|p| f(&mut p.attributes))
        }
        Data::Summary(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
    }
}

/// A histogram or summary becomes a monotonic sum of its sum or count; other kinds are left as they are.
fn extract(data: &mut Data, what: Extract) {
    // (labels, start, time, flags, sum, count) of each point, whatever the kind.
    type Parts = (Vec<KeyValue>, u64, u64, u32, Option<f64>, u64);
    let (parts, temporality): (Vec<Parts>, i32) = match data {
        Data::Histogram(h) => (
            std::mem::take(&mut h.data_points)
                .into_iter()
                .map(|p| {
                    let (start, time) = (p.start_time_unix_nano, p.time_unix_nano);
                    (p.attributes, start, time, p.flags, p.sum, p.count)
                })
                .collect(),
            h.aggregation_temporality,
        ),
        Data::ExponentialHistogram(h) => (
            std::mem::take(&mut h.data_points)
                .into_iter()
                .map(|p| {
                    let (start, time) = (p.start_time_unix_nano, p.time_unix_nano);
                    (p.attributes, start, time, p.flags, p.sum, p.count)
                })
                .collect(),
            h.aggregation_temporality,
        ),
        Data::Summary(Summary { data_points }) => (
            std::mem::take(data_points)
                .into_iter()
                .map(|p: SummaryDataPoint| {
                    let (start, time) = (p.start_time_unix_nano, p.time_unix_nano);
                    (p.attributes, start, time, p.flags, Some(p.sum), p.count)
                })
                .collect(),
            // Summaries are cumulative.
            AggregationTemporality::Cumulative as i32,
        ),
        Data::Gauge(_) | Data::Sum(_) => return,
    };
    let data_points = parts
        .into_iter()
        .filter_map(|(attributes, start, time, flags, sum, count)| {
            let value = match what {
                Extract::Sum => sum?,
                Extract::Count => count as f64,
            };
            Some(NumberDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: time,
                flags,
                value: Some(Number::AsDouble(value)),
                ..Default::default()
            })
        })
        .collect();
    *data = Data::Sum(Sum {
        data_points,
        aggregation_temporality: temporality,
        is_monotonic: true,
    });
}

/// A label set as sorted `(key, value text)` pairs (the text the Prometheus exporter gives the value), so the order
/// labels come in does not matter.
fn label_key(attrs: &[KeyValue]) -> Vec<(String, String)> {
    let mut key: Vec<(String, String)> = attrs
        .iter()
        .map(|kv| (kv.key.clone(), any_to_string(kv.value.as_ref())))
        .collect();
    key.sort();
    key
}

/// Groups points by label set, keeping the order in which each set first appeared.
fn group<P>(points: Vec<P>, attrs: impl Fn(&P) -> &[KeyValue]) -> Vec<Vec<P>> {
    let mut index: BTreeMap<Vec<(String, String)>, usize> = BTreeMap::new();
    let mut groups: Vec<Vec<P>> = Vec::new();
    for p in points {
        let key = label_key(attrs(&p));
        match index.get(&key) {
            Some(&i) => groups[i].push(p),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![p]);
            }
        }
    }
    groups
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(Number::AsDouble(d)) => d,
        Some(Number::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

fn combine_numbers(points: Vec<NumberDataPoint>, how: Aggregation) -> Vec<NumberDataPoint> {
    group(points, |p| &p.attributes)
        .into_iter()
        .filter_map(|g| {
            if g.len() == 1 {
                return g.into_iter().next();
            }
            let all_int = g.iter().all(|p| matches!(p.value, Some(Number::AsInt(_))));
            let values: Vec<f64> = g.iter().map(number).collect();
            let v = match how {
                Aggregation::Sum => values.iter().sum(),
                Aggregation::Mean => values.iter().sum::<f64>() / values.len() as f64,
                Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            };
            let start = g.iter().map(|p| p.start_time_unix_nano).min().unwrap_or(0);
            let time = g.iter().map(|p| p.time_unix_nano).max().unwrap_or(0);
            let mut first = g.into_iter().next()?;
            first.start_time_unix_nano = start;
            first.time_unix_nano = time;
            first.exemplars.clear();
            first.value = Some(if all_int && how != Aggregation::Mean {
                Number::AsInt(v as i64)
            } else {
                Number::AsDouble(v)
            });
            Some(first)
        })
        .collect()
}

/// Adds histogram points with the same bounds; a point with other bounds stays a point of its own.
fn combine_histograms(points: Vec<HistogramDataPoint>) -> Vec<HistogramDataPoint> {
    let mut out = Vec::new();
    for g in group(points, |p| &p.attributes) {
        let mut merged: Vec<HistogramDataPoint> = Vec::new();
        for p in g {
            match merged
                .iter_mut()
                .find(|m| m.explicit_bounds == p.explicit_bounds)
            {
                Some(m) => add_histogram(m, p),
                None => merged.push(p),
            }
        }
        out.extend(merged);
    }
    out
}

fn add_histogram(into: &mut HistogramDataPoint, p: HistogramDataPoint) {
    into.start_time_unix_nano = into.start_time_unix_nano.min(p.start_time_unix_nano);
    into.time_unix_nano = into.time_unix_nano.max(p.time_unix_nano);
    into.count = into.count.saturating_add(p.count);
    into.sum = match (into.sum, p.sum) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    into.min = match (into.min, p.min) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    };
    into.max = match (into.max, p.max) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    if into.bucket_counts.len() < p.bucket_counts.len() {
        into.bucket_counts.resize(p.bucket_counts.len(), 0);
    }
    for (a, b) in into.bucket_counts.iter_mut().zip(p.bucket_counts) {
        *a = a.saturating_add(b);
    }
    // The newest exemplar of each side is still a real request in that bucket; keep them all.
    into.exemplars.extend(p.exemplars);
}

fn combine(data: &mut Data, how: Aggregation) {
    match data {
        Data::Gauge(g) => g.data_points = combine_numbers(std::mem::take(&mut g.data_points), how),
        Data::Sum(s) => s.data_points = combine_numbers(std::mem::take(&mut s.data_points), how),
        Data::Histogram(h) => {
            h.data_points = combine_histograms(std::mem::take(&mut h.data_points))
        }
        Data::ExponentialHistogram(_) | Data::Summary(_) => {}
    }
}

fn scale_exemplars(exemplars: &mut [Exemplar], factor: f64) {
    for e in exemplars {
        e.value = match e.value {
            Some(ExemplarValue::AsInt(i)) => Some(ExemplarValue::AsDouble(i as f64 * factor)),
            Some(ExemplarValue::AsDouble(d)) => Some(ExemplarValue::AsDouble(d * factor)),
            None => None,
        };
    }
}

fn scale_number(p: &mut NumberDataPoint, factor: f64) {
    p.value = Some(Number::AsDouble(number(p) * factor));
    scale_exemplars(&mut p.exemplars, factor);
}

fn scale(data: &mut Data, factor: f64) {
    match data {
        Data::Gauge(g) => g
            .data_points
            .iter_mut()
            .for_each(|p| scale_number(p, factor)),
        Data::Sum(s) => s
            .data_points
            .iter_mut()
            .for_each(|p| scale_number(p, factor)),
        Data::Histogram(h) => {
            for p in h.data_points.iter_mut() {
                p.explicit_bounds.iter_mut().for_each(|b| *b *= factor);
                p.sum = p.sum.map(|s| s * factor);
                p.min = p.min.map(|s| s * factor);
                p.max = p.max.map(|s| s * factor);
                scale_exemplars(&mut p.exemplars, factor);
            }
        }
        // Scaling an exponential histogram moves its buckets off their base; summaries scale cleanly.
        Data::ExponentialHistogram(_) => {}
        Data::Summary(s) => {
            for p in s.data_points.iter_mut() {
                p.sum *= factor;
                p.quantile_values.iter_mut().for_each(|q| q.value *= factor);
            }
        }
    }
}

#[cfg(test)]
mod tests;
