//! Exposition benchmark: time to render 10k and 100k series as text 0.0.4 and OpenMetrics, against the
//! `prometheus` crate's text encoder rendering the same series in the same run (the baseline).
//!
//! Run: `cargo bench -p llmtel-pipelines --bench exposition`. Prints a table; the ratio is ours / baseline.

// A benchmark over constant inputs: a failure here is a bug to see at once, not a user error to report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use llmtel_config::PrometheusExporterConfig;
use llmtel_pipelines::prometheus::{Format, PromStore};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};

const FAMILIES: usize = 100;

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

/// `series` series: FAMILIES families, half counters and half gauges, labels model / gpu / route.
fn otlp(series: usize) -> Vec<ResourceMetrics> {
    let per = series / FAMILIES;
    let metrics = (0..FAMILIES)
        .map(|f| {
            let points: Vec<NumberDataPoint> = (0..per)
                .map(|i| NumberDataPoint {
                    attributes: vec![
                        kv("model", format!("model-{}", i % 50)),
                        kv("gpu", format!("{}", i % 8)),
                        kv("route", format!("r{i}")),
                    ],
                    time_unix_nano: 1,
                    value: Some(number_data_point::Value::AsDouble(i as f64 * 1.5)),
                    ..Default::default()
                })
                .collect();
            let data = if f % 2 == 0 {
                metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })
            } else {
                metric::Data::Gauge(Gauge {
                    data_points: points,
                })
            };
            Metric {
                name: format!("bench.family.{f}"),
                description: "Benchmark family.".into(),
                data: Some(data),
                ..Default::default()
            }
        })
        .collect();
    vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn baseline_registry(series: usize) -> prometheus::Registry {
    let registry = prometheus::Registry::new();
    let per = series / FAMILIES;
    for f in 0..FAMILIES {
        if f % 2 == 0 {
            let c = prometheus::CounterVec::new(
                prometheus::Opts::new(format!("bench_family_{f}_total"), "Benchmark family."),
                &["gpu", "model", "route"],
            )
            .unwrap();
            for i in 0..per {
                c.with_label_values(&[
                    &format!("{}", i % 8),
                    &format!("model-{}", i % 50),
                    &format!("r{i}"),
                ])
                .inc_by(i as f64 * 1.5);
            }
            registry.register(Box::new(c)).unwrap();
        } else {
            let g = prometheus::GaugeVec::new(
                prometheus::Opts::new(format!("bench_family_{f}"), "Benchmark family."),
                &["gpu", "model", "route"],
            )
            .unwrap();
            for i in 0..per {
                g.with_label_values(&[
                    &format!("{}", i % 8),
                    &format!("model-{}", i % 50),
                    &format!("r{i}"),
                ])
                .set(i as f64 * 1.5);
            }
            registry.register(Box::new(g)).unwrap();
        }
    }
    registry
}

fn median(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..7 {
        let t = Instant::now();
        size = f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], size)
}

fn main() {
    println!(
        "{:>8} {:>12} {:>12} {:>14} {:>8} {:>10}",
        "series", "format", "llmtel ms", "baseline ms", "ratio", "bytes"
    );
    for series in [10_000, 100_000] {
        let store = PromStore::new(&PrometheusExporterConfig {
            max_series_per_metric: 0,
            ..Default::default()
        });
        let t = Instant::now();
        store.ingest(&otlp(series));
        let ingest = t.elapsed();
        assert_eq!(store.series_count(), series);
        let registry = baseline_registry(series);
        let (base, _) = median(|| {
            let mut s = String::new();
            prometheus::TextEncoder::new()
                .encode_utf8(&registry.gather(), &mut s)
                .unwrap();
            s.len()
        });
        for (name, format) in [("text", Format::Text), ("openmetrics", Format::OpenMetrics)] {
            let (ours, bytes) = median(|| store.render(format).len());
            println!(
                "{:>8} {:>12} {:>12.1} {:>14.1} {:>8.2} {:>10}",
                series,
                name,
                ours.as_secs_f64() * 1e3,
                base.as_secs_f64() * 1e3,
                ours.as_secs_f64() / base.as_secs_f64(),
                bytes
            );
        }
        println!(
            "{:>8} {:>12} {:>12.1}   (OTLP → store, once)",
            series,
            "ingest",
            ingest.as_secs_f64() * 1e3
        );
    }
}
