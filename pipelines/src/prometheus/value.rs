//! What one series holds: its Prometheus kind and value (gauge, counter with its exemplar, classic or exponential
//! histogram, summary), made from an OTLP data point, and the arithmetic the store needs to turn deltas into
//! cumulative values ([`accumulate`]) and to fold cumulative values into an overflow series ([`increase_since`]).
//! Used by the store when it ingests and by rendering when it writes.

use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, NumberDataPoint, number_data_point,
};

use super::expo::Expo;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// A trace a sample points to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) value: f64,
    pub(crate) time_ns: u64,
}

/// A classic histogram: per-bucket (not cumulative) counts, `counts.len() == bounds.len() + 1` (the last is +Inf).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hist {
    pub(crate) bounds: Vec<f64>,
    pub(crate) counts: Vec<u64>,
    pub(crate) sum: f64,
    pub(crate) count: u64,
    pub(crate) exemplars: Vec<Option<Exemplar>>,
}

impl Hist {
    /// The classic buckets of an exponential histogram (see `expo.rs`), the count above the last bound in `+Inf`.
    pub(crate) fn from_expo(e: &Expo) -> Self {
        let buckets = e.classic();
        let inside = buckets
            .iter()
            .fold(0u64, |acc, (_, c)| acc.saturating_add(*c));
        Self {
            bounds: buckets.iter().map(|(bound, _)| *bound).collect(),
            counts: buckets
                .iter()
                .map(|(_, c)| *c)
                .chain([e.count.saturating_sub(inside)])
                .collect(),
            sum: e.sum,
            count: e.count,
            exemplars: Vec::new(),
        }
    }
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Gauge(f64),
    Counter {
        value: f64,
        exemplar: Option<Exemplar>,
    },
    Histogram(Hist),
    Expo(Expo),
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

/// A point after its metric's kind is known.
pub(crate) enum Point<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    Expo(&'a opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint),
    Summary(&'a opentelemetry_proto::tonic::metrics::v1::SummaryDataPoint),
}

/// `Some(true)` for delta, `Some(false)` for cumulative, `None` for unspecified (which cannot be exported).
pub(crate) fn temporality(t: i32) -> Option<bool> {
    match AggregationTemporality::try_from(t) {
        Ok(AggregationTemporality::Delta) => Some(true),
        Ok(AggregationTemporality::Cumulative) => Some(false),
        _ => None,
    }
}

pub(crate) fn point_value(p: &Point<'_>, kind: Kind) -> Option<Value> {
    Some(match p {
        Point::Number(p) => {
            let v = match p.value? {
                number_data_point::Value::AsDouble(d) => d,
                number_data_point::Value::AsInt(i) => i as f64,
            };
            match kind {
                Kind::Counter => Value::Counter {
                    value: v,
                    exemplar: last_exemplar(&p.exemplars, None),
                },
                _ => Value::Gauge(v),
            }
        }
        Point::Histogram(p) => {
            let mut counts = p.bucket_counts.clone();
            counts.resize(p.explicit_bounds.len() + 1, 0);
            let mut exemplars = vec![None; counts.len()];
            for e in &p.exemplars {
                let v = exemplar_value(e);
                let bucket = p
                    .explicit_bounds
                    .iter()
                    .position(|b| v <= *b)
                    .unwrap_or(p.explicit_bounds.len());
                exemplars[bucket] =
                    last_exemplar(std::slice::from_ref(e), exemplars[bucket].clone());
            }
            Value::Histogram(Hist {
                bounds: p.explicit_bounds.clone(),
                counts,
                sum: p.sum.unwrap_or(0.0),
                count: p.count,
                exemplars,
            })
        }
        Point::Expo(p) => Value::Expo(Expo::from_point(p)?),
        Point::Summary(p) => Value::Summary {
            quantiles: p
                .quantile_values
                .iter()
                .map(|q| (q.quantile, q.value))
                .collect(),
            sum: p.sum,
            count: p.count,
        },
    })
}

fn exemplar_value(e: &opentelemetry_proto::tonic::metrics::v1::Exemplar) -> f64 {
    use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as V;
    match e.value {
        Some(V::AsDouble(d)) => d,
        Some(V::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// The newest exemplar among `list` and `current` that names a trace.
fn last_exemplar(
    list: &[opentelemetry_proto::tonic::metrics::v1::Exemplar],
    current: Option<Exemplar>,
) -> Option<Exemplar> {
    let mut best = current;
    for e in list
        .iter()
        .filter(|e| e.trace_id.len() == 16 && e.span_id.len() == 8)
    {
        if best.as_ref().is_none_or(|b| e.time_unix_nano >= b.time_ns) {
            best = Some(Exemplar {
                trace_id: hex::encode(&e.trace_id),
                span_id: hex::encode(&e.span_id),
                value: exemplar_value(e),
                time_ns: e.time_unix_nano,
            });
        }
    }
    best
}

/// `prev` + `delta` for counters, histograms (same bounds; otherwise the new one replaces) and gauges.
pub(crate) fn accumulate(prev: &Value, delta: &Value) -> Value {
    match (prev, delta) {
        (Value::Gauge(a), Value::Gauge(b)) => Value::Gauge(a + b),
        (
            Value::Counter {
                value: a,
                exemplar: ea,
            },
            Value::Counter {
                value: b,
                exemplar: eb,
            },
        ) => Value::Counter {
            value: a + b,
            exemplar: eb.clone().or_else(|| ea.clone()),
        },
        (Value::Histogram(a), Value::Histogram(b)) if a.bounds == b.bounds => {
            let mut h = a.clone();
            for (c, d) in h.counts.iter_mut().zip(&b.counts) {
                *c = c.saturating_add(*d);
            }
            for (e, d) in h.exemplars.iter_mut().zip(&b.exemplars) {
                if d.is_some() {
                    *e = d.clone();
                }
            }
            h.sum += b.sum;
            h.count = h.count.saturating_add(b.count);
            Value::Histogram(h)
        }
        (Value::Expo(a), Value::Expo(b)) => {
            let mut e = a.clone();
            e.merge(b);
            Value::Expo(e)
        }
        (_, new) => new.clone(),
    }
}

/// How much a cumulative value grew since `prev` (a reset counts from zero).
pub(crate) fn increase_since(prev: &Value, now: &Value) -> Value {
    match (prev, now) {
        (Value::Counter { value: a, .. }, Value::Counter { value: b, exemplar }) => {
            Value::Counter {
                value: if b >= a { b - a } else { *b },
                exemplar: exemplar.clone(),
            }
        }
        (Value::Histogram(a), Value::Histogram(b))
            if a.bounds == b.bounds && b.count >= a.count =>
        {
            let mut h = b.clone();
            for (c, p) in h.counts.iter_mut().zip(&a.counts) {
                *c = c.saturating_sub(*p);
            }
            h.count -= a.count;
            h.sum -= a.sum;
            Value::Histogram(h)
        }
        (_, new) => new.clone(),
    }
}
