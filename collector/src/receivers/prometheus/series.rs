//! What the scrape mapping shares: the target, the series a [`Tracker`] remembers between scrapes, and OTLP
//! attribute helpers.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;

/// Prometheus's stale marker, a NaN with this bit pattern.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// OTLP's `FLAG_NO_RECORDED_VALUE`.
pub const NO_RECORDED_VALUE: u32 = 1;
pub const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

/// Who was scraped: what goes on the resource and on every point.
#[derive(Debug, Clone)]
pub struct Target {
    /// `job_name`.
    pub job: String,
    /// `host:port`.
    pub instance: String,
    /// The host.
    pub host: String,
    /// The port.
    pub port: u16,
    /// `http` or `https`.
    pub scheme: String,
    /// The labels configured for this target.
    pub labels: Vec<(String, String)>,
}

/// The shape of a series, to send its stale point with the right metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Gauge,
    Sum { monotonic: bool },
    Histogram,
    Summary,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub name: String,
    pub shape: Shape,
    pub attrs: Vec<(String, String)>,
    /// Start time of a cumulative series, and its last value (count for histograms and summaries).
    pub start_ns: u64,
    pub last: f64,
}

/// What one target's earlier scrapes left: start times, last values, and the series of the last scrape.
#[derive(Debug, Default)]
pub struct Tracker {
    pub(super) series: HashMap<String, Seen>,
}

pub fn key(name: &str, attrs: &[(String, String)]) -> String {
    let mut k = name.to_owned();
    for (a, v) in attrs {
        k.push('\0');
        k.push_str(a);
        k.push('=');
        k.push_str(v);
    }
    k
}

pub fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

pub fn kvs(attrs: &[(String, String)]) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| kv(k, any_value::Value::StringValue(v.clone())))
        .collect()
}
