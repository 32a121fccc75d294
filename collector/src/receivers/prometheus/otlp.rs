//! The OTLP that does not come from the exposition: stale points, the per-target `up` and `scrape_*` gauges, and
//! the resource of a target.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, SummaryDataPoint, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::series::{CUMULATIVE, NO_RECORDED_VALUE, Seen, Shape, Target, kv, kvs};

/// One point with the NoRecordedValue flag per series, grouped into metrics by name.
pub fn stale(series: impl Iterator<Item = Seen>, now_ns: u64) -> Vec<Metric> {
    let mut by_name: BTreeMap<(String, u8), (Shape, Vec<Seen>)> = BTreeMap::new();
    for s in series {
        let tag = match s.shape {
            Shape::Gauge => 0,
            Shape::Sum { .. } => 1,
            Shape::Histogram => 2,
            Shape::Summary => 3,
        };
        by_name
            .entry((s.name.clone(), tag))
            .or_insert_with(|| (s.shape, Vec::new()))
            .1
            .push(s);
    }
    by_name
        .into_iter()
        .map(|((name, _), (shape, list))| {
            let number = |s: &Seen| NumberDataPoint {
                attributes: kvs(&s.attrs),
                start_time_unix_nano: s.start_ns,
                time_unix_nano: now_ns,
                flags: NO_RECORDED_VALUE,
                value: Some(number_data_point::Value::AsDouble(0.0)),
                ..Default::default()
            };
            let data = match shape {
                Shape::Gauge => metric::Data::Gauge(Gauge {
                    data_points: list.iter().map(number).collect(),
                }),
                Shape::Sum { monotonic } => metric::Data::Sum(Sum {
                    data_points: list.iter().map(number).collect(),
                    aggregation_temporality: CUMULATIVE,
                    is_monotonic: monotonic,
                }),
                Shape::Histogram => metric::Data::Histogram(Histogram {
                    data_points: list
                        .iter()
                        .map(|s| HistogramDataPoint {
                            attributes: kvs(&s.attrs),
                            start_time_unix_nano: s.start_ns,
                            time_unix_nano: now_ns,
                            flags: NO_RECORDED_VALUE,
                            ..Default::default()
                        })
                        .collect(),
                    aggregation_temporality: CUMULATIVE,
                }),
                Shape::Summary => metric::Data::Summary(Summary {
                    data_points: list
                        .iter()
                        .map(|s| SummaryDataPoint {
                            attributes: kvs(&s.attrs),
                            start_time_unix_nano: s.start_ns,
                            time_unix_nano: now_ns,
                            flags: NO_RECORDED_VALUE,
                            ..Default::default()
                        })
                        .collect(),
                }),
            };
            Metric {
                name,
                data: Some(data),
                ..Default::default()
            }
        })
        .collect()
}

/// The scrape's own gauges: `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling`, `scrape_series_added`.
pub fn synthetic(
    target: &Target,
    now_ns: u64,
    up: bool,
    duration_s: f64,
    samples: usize,
    added: usize,
) -> Vec<Metric> {
    let attrs = kvs(&target.labels);
    let gauge = |name: &str, unit: &str, help: &str, v: f64| Metric {
        name: name.to_owned(),
        description: help.to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes: attrs.clone(),
                time_unix_nano: now_ns,
                value: Some(number_data_point::Value::AsDouble(v)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    vec![
        gauge(
            "up",
            "",
            "1 if the target answered the scrape, 0 if not",
            f64::from(u8::from(up)),
        ),
        gauge(
            "scrape_duration_seconds",
            "s",
            "Time the scrape took",
            duration_s,
        ),
        gauge(
            "scrape_samples_scraped",
            "",
            "Samples the target exposed",
            samples as f64,
        ),
        gauge(
            "scrape_samples_post_metric_relabeling",
            "",
            "Samples left after relabelling (no relabelling: the same)",
            samples as f64,
        ),
        gauge(
            "scrape_series_added",
            "",
            "Series not in the previous scrape",
            added as f64,
        ),
    ]
}

/// The resource of a target's metrics.
pub fn resource_metrics(
    target: &Target,
    info: &[(String, String)],
    metrics: Vec<Metric>,
) -> ResourceMetrics {
    let s = any_value::Value::StringValue;
    let mut attributes = vec![
        kv("service.name", s(target.job.clone())),
        kv("service.instance.id", s(target.instance.clone())),
        kv("server.address", s(target.host.clone())),
        kv(
            "server.port",
            any_value::Value::IntValue(i64::from(target.port)),
        ),
        kv("url.scheme", s(target.scheme.clone())),
    ];
    for (k, v) in info {
        attributes.retain(|a| &a.key != k);
        attributes.push(kv(k, s(v.clone())));
    }
    ResourceMetrics {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "llmtel.receiver.prometheus".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}
