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

use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar as OtlpExemplar, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    Summary, SummaryDataPoint, exemplar, metric, number_data_point, summary_data_point,
};

use super::otlp::stale;
use super::parse::{Exemplar, Family, Kind, Sample};
use super::series::{CUMULATIVE, NO_RECORDED_VALUE, STALE_NAN, Seen, Shape, key, kvs};
pub use super::series::{Target, Tracker};

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

#[cfg(test)]
mod tests;
