//! Parsed families → OTLP metrics, as the Collector's `prometheusreceiver` maps them.
//!
//! counter → monotonic cumulative Sum; gauge, unknown → Gauge; histogram → cumulative Histogram (cumulative `le`
//! counts become per-bucket counts, the `+Inf` bound is left out, a point without `+Inf` or `_count` is dropped);
//! summary → Summary; info, stateset → non-monotonic Sum; gaugehistogram dropped. Start times come from `_created`
//! or from the first scrape that saw the series, and move to the scrape of a counter reset. A series that was in the
//! previous scrape and is not in this one (or whose target is down) is sent once with the NoRecordedValue flag,
//! which is how Prometheus staleness travels in OTLP. `job` and `instance` go to the resource (with
//! `server.address`, `server.port`, `url.scheme` and the labels of `target_info`); every other label is a data
//! point attribute, the target's own labels included. Pure: the caller owns the [`Tracker`] of each target.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as OtlpExemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint, exemplar,
    metric, number_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::parse::{Exemplar, Family, Kind, Sample};

/// Prometheus's stale marker, a NaN with this bit pattern.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// OTLP's `FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

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
enum Shape {
    Gauge,
    Sum { monotonic: bool },
    Histogram,
    Summary,
}

#[derive(Debug, Clone)]
struct Seen {
    name: String,
    shape: Shape,
    attrs: Vec<(String, String)>,
    /// Start time of a cumulative series, and its last value (count for histograms and summaries).
    start_ns: u64,
    last: f64,
}

/// What one target's earlier scrapes left: start times, last values, and the series of the last scrape.
#[derive(Debug, Default)]
pub struct Tracker {
    series: HashMap<String, Seen>,
}

/// What a scrape became.
#[derive(Debug)]
pub struct Mapped {
    /// The metrics, stale points included.
    pub metrics: Vec<Metric>,
    /// `target_info`'s labels, for the resource.
    pub info: Vec<(String, String)>,
    /// Samples in the exposition (`scrape_samples_scraped`).
    pub samples: usize,
    /// Series not in the previous scrape (`scrape_series_added`).
    pub added: usize,
}

fn key(name: &str, attrs: &[(String, String)]) -> String {
    let mut k = name.to_owned();
    for (a, v) in attrs {
        k.push('\0');
        k.push_str(a);
        k.push('=');
        k.push_str(v);
    }
    k
}

/// A sample's attributes: its labels but `skip` (`le`, `quantile`), exposed labels that clash with `job`,
/// `instance` or a target label renamed `exported_…` (Prometheus's `honor_labels: false`), then the target's
/// labels; sorted by name.
fn attributes(sample: &Sample, skip: &str, target: &Target) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        Vec::with_capacity(sample.labels.len() + target.labels.len());
    for (k, v) in &sample.labels {
        if k == skip {
            continue;
        }
        let clash = k == "job" || k == "instance" || target.labels.iter().any(|(t, _)| t == k);
        out.push((
            if clash {
                format!("exported_{k}")
            } else {
                k.clone()
            },
            v.clone(),
        ));
    }
    out.extend(target.labels.iter().cloned());
    out.sort();
    out
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn kvs(attrs: &[(String, String)]) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| kv(k, any_value::Value::StringValue(v.clone())))
        .collect()
}

fn hex_id<const N: usize>(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16);
    s.chunks(2)
        .map(|p| Some((nib(p[0])? * 16 + nib(p[1])?) as u8))
        .collect()
}

fn to_exemplar(e: &Exemplar, now_ns: u64) -> OtlpExemplar {
    let mut out = OtlpExemplar {
        time_unix_nano: e.timestamp_ns.map_or(now_ns, |t| t.max(0) as u64),
        value: Some(exemplar::Value::AsDouble(e.value)),
        ..Default::default()
    };
    let mut rest = Vec::new();
    for (k, v) in &e.labels {
        match (k.as_str(), hex_id::<16>(v), hex_id::<8>(v)) {
            ("trace_id", Some(id), _) => out.trace_id = id,
            ("span_id", _, Some(id)) => out.span_id = id,
            _ => rest.push((k.clone(), v.clone())),
        }
    }
    out.filtered_attributes = kvs(&rest);
    out
}

/// Maps one scrape of `target` taken at `now_ns`.
pub fn map(families: &[Family], target: &Target, now_ns: u64, tracker: &mut Tracker) -> Mapped {
    let mut m = Mapper {
        target,
        now_ns,
        old: std::mem::take(&mut tracker.series),
        new: HashMap::new(),
        added: 0,
    };
    let mut metrics = Vec::new();
    let mut info = Vec::new();
    let mut samples = 0;
    for f in families {
        samples += f.samples.len();
        if let Some(s) = f.samples.iter().find(|s| s.name == "target_info") {
            info = s
                .labels
                .iter()
                .filter(|(k, _)| k != "job" && k != "instance")
                .cloned()
                .collect();
            continue;
        }
        if let Some(metric) = m.family(f) {
            metrics.push(metric);
        }
    }
    let added = m.added;
    let old = std::mem::take(&mut m.old);
    tracker.series = m.new;
    metrics.extend(stale(old.into_values(), now_ns));
    Mapped {
        metrics,
        info,
        samples,
        added,
    }
}

/// The target did not answer: every series of the last scrape goes stale once.
pub fn down(tracker: &mut Tracker, now_ns: u64) -> Vec<Metric> {
    let old = std::mem::take(&mut tracker.series);
    stale(old.into_values(), now_ns)
}

/// One point with the NoRecordedValue flag per series, grouped into metrics by name.
fn stale(series: impl Iterator<Item = Seen>, now_ns: u64) -> Vec<Metric> {
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

struct Mapper<'a> {
    target: &'a Target,
    now_ns: u64,
    old: HashMap<String, Seen>,
    new: HashMap<String, Seen>,
    added: usize,
}

impl Mapper<'_> {
    fn time(&self, s: &Sample) -> u64 {
        s.timestamp_ns.map_or(self.now_ns, |t| t.max(0) as u64)
    }

    /// Records a series and returns its start time: `_created` if known, else the first sight, moved to now when
    /// the value went down (a reset; `cumulative` only).
    fn track(
        &mut self,
        name: &str,
        shape: Shape,
        attrs: &[(String, String)],
        value: f64,
        created_ns: Option<u64>,
        cumulative: bool,
    ) -> u64 {
        let k = key(name, attrs);
        let prev = self.old.remove(&k);
        if prev.is_none() && !self.new.contains_key(&k) {
            self.added += 1;
        }
        let start = match (created_ns, prev) {
            (Some(c), _) => c,
            (None, Some(p)) if !cumulative || value >= p.last || p.last.is_nan() => p.start_ns,
            _ => self.now_ns,
        };
        self.new.insert(
            k,
            Seen {
                name: name.to_owned(),
                shape,
                attrs: attrs.to_vec(),
                start_ns: start,
                last: value,
            },
        );
        start
    }

    fn family(&mut self, f: &Family) -> Option<Metric> {
        let (name, data) = match f.kind {
            Kind::Counter => self.sums(f, true)?,
            Kind::Info | Kind::StateSet => self.sums(f, false)?,
            Kind::Gauge | Kind::Unknown => (f.name.clone(), self.gauge(f)),
            Kind::Histogram => (f.name.clone(), self.histogram(f)),
            Kind::Summary => (f.name.clone(), self.summary(f)),
            Kind::GaugeHistogram => return None,
        };
        Some(Metric {
            name,
            description: f.help.clone(),
            unit: f.unit.clone(),
            data: Some(data),
            ..Default::default()
        })
    }

    fn number(&self, s: &Sample, attrs: &[(String, String)], start: u64) -> NumberDataPoint {
        let stale = s.value.to_bits() == STALE_NAN;
        NumberDataPoint {
            attributes: kvs(attrs),
            start_time_unix_nano: start,
            time_unix_nano: self.time(s),
            flags: if stale { NO_RECORDED_VALUE } else { 0 },
            value: Some(number_data_point::Value::AsDouble(if stale {
                0.0
            } else {
                s.value
            })),
            exemplars: s
                .exemplar
                .iter()
                .map(|e| to_exemplar(e, self.now_ns))
                .collect(),
            ..Default::default()
        }
    }

    fn gauge(&mut self, f: &Family) -> metric::Data {
        let mut points = Vec::new();
        for s in &f.samples {
            let attrs = attributes(s, "", self.target);
            self.track(&f.name, Shape::Gauge, &attrs, s.value, None, false);
            points.push(self.number(s, &attrs, 0));
        }
        metric::Data::Gauge(Gauge {
            data_points: points,
        })
    }

    /// Counters (monotonic) and info / stateset (not): the sample name is the metric name (`x_total`, or a
    /// counter's bare name when the exposer left `_total` off), `_created` gives start times.
    fn sums(&mut self, f: &Family, monotonic: bool) -> Option<(String, metric::Data)> {
        let created: HashMap<String, u64> = f
            .samples
            .iter()
            .filter(|s| s.name.ends_with("_created") && s.name != f.name)
            .map(|s| {
                let attrs = attributes(s, "", self.target);
                (key("", &attrs), (s.value * 1e9).max(0.0) as u64)
            })
            .collect();
        let values: Vec<&Sample> = f
            .samples
            .iter()
            .filter(|s| !(s.name.ends_with("_created") && s.name != f.name))
            .collect();
        let name = values.first()?.name.clone();
        let shape = Shape::Sum { monotonic };
        let mut points = Vec::new();
        for s in values {
            let attrs = attributes(s, "", self.target);
            let c = created.get(&key("", &attrs)).copied();
            let start = self.track(&name, shape, &attrs, s.value, c, monotonic);
            points.push(self.number(s, &attrs, start));
        }
        Some((
            name,
            metric::Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: CUMULATIVE,
                is_monotonic: monotonic,
            }),
        ))
    }

    fn histogram(&mut self, f: &Family) -> metric::Data {
        #[derive(Default)]
        struct Point {
            buckets: Vec<(f64, f64, Option<OtlpExemplar>)>,
            count: Option<f64>,
            sum: Option<f64>,
            created: Option<u64>,
            time: u64,
            stale: bool,
        }
        let mut points: BTreeMap<Vec<(String, String)>, Point> = BTreeMap::new();
        for s in &f.samples {
            let attrs = attributes(s, "le", self.target);
            let time = self.time(s);
            let p = points.entry(attrs).or_default();
            p.time = p.time.max(time);
            p.stale |= s.value.to_bits() == STALE_NAN;
            match s.name.strip_prefix(f.name.as_str()) {
                Some("_bucket") => {
                    let le = s
                        .labels
                        .iter()
                        .find(|(k, _)| k == "le")
                        .and_then(|(_, v)| v.parse::<f64>().ok());
                    if let Some(le) = le {
                        let ex = s.exemplar.as_ref().map(|e| to_exemplar(e, self.now_ns));
                        p.buckets.push((le, s.value, ex));
                    }
                }
                Some("_count") => p.count = Some(s.value),
                Some("_sum") => p.sum = Some(s.value),
                Some("_created") => p.created = Some((s.value * 1e9).max(0.0) as u64),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (attrs, mut p) in points {
            p.buckets
                .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            let has_inf = p.buckets.last().is_some_and(|b| b.0 == f64::INFINITY);
            let Some(count) = p.count.filter(|_| has_inf) else {
                continue;
            };
            let mut counts = Vec::with_capacity(p.buckets.len());
            let mut prev = 0.0;
            let mut monotone = true;
            for (_, cum, _) in &p.buckets {
                monotone &= *cum >= prev;
                counts.push((cum - prev).max(0.0) as u64);
                prev = *cum;
            }
            if !monotone && !p.stale {
                continue;
            }
            let start = self.track(&f.name, Shape::Histogram, &attrs, count, p.created, true);
            let bounds = p
                .buckets
                .iter()
                .map(|b| b.0)
                .filter(|b| b.is_finite())
                .collect();
            out.push(HistogramDataPoint {
                attributes: kvs(&attrs),
                start_time_unix_nano: start,
                time_unix_nano: p.time,
                count: if p.stale { 0 } else { count.max(0.0) as u64 },
                sum: p.sum.filter(|_| !p.stale),
                bucket_counts: if p.stale { Vec::new() } else { counts },
                explicit_bounds: if p.stale { Vec::new() } else { bounds },
                exemplars: p.buckets.into_iter().filter_map(|b| b.2).collect(),
                flags: if p.stale { NO_RECORDED_VALUE } else { 0 },
                ..Default::default()
            });
        }
        metric::Data::Histogram(Histogram {
            data_points: out,
            aggregation_temporality: CUMULATIVE,
        })
    }

    fn summary(&mut self, f: &Family) -> metric::Data {
        #[derive(Default)]
        struct Point {
            quantiles: Vec<summary_data_point::ValueAtQuantile>,
            count: Option<f64>,
            sum: Option<f64>,
            created: Option<u64>,
            time: u64,
            stale: bool,
        }
        let mut points: BTreeMap<Vec<(String, String)>, Point> = BTreeMap::new();
        for s in &f.samples {
            let attrs = attributes(s, "quantile", self.target);
            let time = self.time(s);
            let p = points.entry(attrs).or_default();
            p.time = p.time.max(time);
            p.stale |= s.value.to_bits() == STALE_NAN;
            match s.name.strip_prefix(f.name.as_str()) {
                Some("") => {
                    let q = s
                        .labels
                        .iter()
                        .find(|(k, _)| k == "quantile")
                        .and_then(|(_, v)| v.parse::<f64>().ok());
                    if let Some(quantile) = q {
                        p.quantiles.push(summary_data_point::ValueAtQuantile {
                            quantile,
                            value: s.value,
                        });
                    }
                }
                Some("_count") => p.count = Some(s.value),
                Some("_sum") => p.sum = Some(s.value),
                Some("_created") => p.created = Some((s.value * 1e9).max(0.0) as u64),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (attrs, p) in points {
            let Some(count) = p.count else { continue };
            let start = self.track(&f.name, Shape::Summary, &attrs, count, p.created, true);
            out.push(SummaryDataPoint {
                attributes: kvs(&attrs),
                start_time_unix_nano: start,
                time_unix_nano: p.time,
                count: if p.stale { 0 } else { count.max(0.0) as u64 },
                sum: if p.stale { 0.0 } else { p.sum.unwrap_or(0.0) },
                quantile_values: if p.stale { Vec::new() } else { p.quantiles },
                flags: if p.stale { NO_RECORDED_VALUE } else { 0 },
            });
        }
        metric::Data::Summary(Summary { data_points: out })
    }
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

#[cfg(test)]
mod tests;
