//! Exposition: N series (40 % counters, 40 % gauges, 20 % histograms of 8 buckets, over 10 metric names) rendered
//! by llmtel's Prometheus series store (`llmtel_pipelines::prometheus::SeriesStore`, what the `prometheus` exporter
//! serves), text 0.0.4 and OpenMetrics, against the `prometheus` crate's registry and text encoder (the Rust client
//! that `opentelemetry-prometheus` uses) holding the same series.

use std::time::Instant;

use llmtel_config::PrometheusExporterConfig;
use llmtel_pipelines::prometheus::{Format, SeriesStore};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum,
};

use crate::alloc;

const BOUNDS: [f64; 7] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

fn labels(i: usize) -> Vec<KeyValue> {
    vec![
        kv("gen_ai.request.model", format!("model-{}", i % 50)),
        kv(
            "server.address",
            format!("10.0.{}.{}", (i / 250) % 250, i % 250),
        ),
        kv("series", i.to_string()),
    ]
}

/// The OTLP batch of `n` series.
pub fn batch(n: usize) -> Vec<ResourceMetrics> {
    let per_name = n / 10;
    let mut metrics = Vec::new();
    for m in 0..10 {
        let range = (m * per_name)..((m + 1) * per_name);
        let data = match m {
            0..=3 => Data::Sum(Sum {
                data_points: range.map(|i| number(i, i as f64)).collect(),
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
            4..=7 => Data::Gauge(Gauge {
                data_points: range.map(|i| number(i, i as f64 / 7.0)).collect(),
            }),
            _ => Data::Histogram(Histogram {
                data_points: range
                    .map(|i| HistogramDataPoint {
                        attributes: labels(i),
                        start_time_unix_nano: 1,
                        time_unix_nano: 2,
                        count: 36,
                        sum: Some(i as f64),
                        bucket_counts: vec![1, 2, 3, 4, 5, 6, 7, 8],
                        explicit_bounds: BOUNDS.to_vec(),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: 2,
            }),
        };
        metrics.push(Metric {
            name: format!("bench.metric{m}"),
            unit: "s".into(),
            description: "A benchmark metric.".into(),
            data: Some(data),
            ..Default::default()
        });
    }
    vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn number(i: usize, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: labels(i),
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        value: Some(Number::AsDouble(v)),
        ..Default::default()
    }
}

/// One measurement: median render time of 5, bytes held by the series, peak extra bytes while rendering, output size.
pub struct Render {
    pub ms: f64,
    pub held_mib: f64,
    pub peak_render_mib: f64,
    pub output_mib: f64,
}

fn measure(mut render: impl FnMut() -> usize, held: usize) -> Render {
    let mut times = Vec::new();
    let mut peak = 0;
    let mut size = 0;
    for _ in 0..5 {
        alloc::reset_peak();
        let base = alloc::current();
        let t = Instant::now();
        size = render();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        peak = peak.max(alloc::peak().saturating_sub(base));
    }
    times.sort_by(f64::total_cmp);
    Render {
        ms: times[2],
        held_mib: held as f64 / 1048576.0,
        peak_render_mib: peak as f64 / 1048576.0,
        output_mib: size as f64 / 1048576.0,
    }
}

/// llmtel's store: (text, OpenMetrics).
pub fn llmtel(n: usize) -> (Render, Render) {
    let input = batch(n);
    let before = alloc::current();
    let mut store = SeriesStore::new(&PrometheusExporterConfig {
        max_series_per_metric: 0,
        ..Default::default()
    });
    store.ingest(&input);
    drop(input);
    let held = alloc::current().saturating_sub(before);
    assert_eq!(store.series_count(), n, "every series is kept");
    let text = measure(|| store.render(Format::Text).len(), held);
    let om = measure(|| store.render(Format::OpenMetrics).len(), held);
    (text, om)
}

/// The `prometheus` crate with the same series, text format.
pub fn baseline(n: usize) -> Render {
    use prometheus::{Encoder, HistogramOpts, Opts, Registry, TextEncoder};
    let before = alloc::current();
    let per_name = n / 10;
    let names = ["gen_ai_request_model", "server_address", "series"];
    let registry = Registry::new();
    for m in 0..10 {
        let name = format!("bench_metric{m}_seconds");
        let range = (m * per_name)..((m + 1) * per_name);
        let values = |i: usize| -> Vec<String> {
            labels(i)
                .into_iter()
                .map(|kv| match kv.value {
                    Some(AnyValue {
                        value: Some(any_value::Value::StringValue(s)),
                    }) => s,
                    _ => String::new(),
                })
                .collect()
        };
        match m {
            0..=3 => {
                let c = prometheus::CounterVec::new(Opts::new(name, "A benchmark metric."), &names)
                    .expect("counter");
                for i in range {
                    let v = values(i);
                    let r: Vec<&str> = v.iter().map(String::as_str).collect();
                    c.with_label_values(&r).inc_by(i as f64);
                }
                registry.register(Box::new(c)).expect("register");
            }
            4..=7 => {
                let g = prometheus::GaugeVec::new(Opts::new(name, "A benchmark metric."), &names)
                    .expect("gauge");
                for i in range {
                    let v = values(i);
                    let r: Vec<&str> = v.iter().map(String::as_str).collect();
                    g.with_label_values(&r).set(i as f64 / 7.0);
                }
                registry.register(Box::new(g)).expect("register");
            }
            _ => {
                let h = prometheus::HistogramVec::new(
                    HistogramOpts::new(name, "A benchmark metric.").buckets(BOUNDS.to_vec()),
                    &names,
                )
                .expect("histogram");
                for i in range {
                    let v = values(i);
                    let r: Vec<&str> = v.iter().map(String::as_str).collect();
                    let hist = h.with_label_values(&r);
                    for (b, value) in [0.005, 0.03, 0.07, 0.3, 0.7, 3.0, 7.0, 20.0]
                        .iter()
                        .enumerate()
                    {
                        for _ in 0..=b {
                            hist.observe(*value);
                        }
                    }
                }
                registry.register(Box::new(h)).expect("register");
            }
        }
    }
    let held = alloc::current().saturating_sub(before);
    measure(
        || {
            let mut out = Vec::new();
            TextEncoder::new()
                .encode(&registry.gather(), &mut out)
                .expect("encode");
            out.len()
        },
        held,
    )
}
