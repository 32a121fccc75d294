//! The Prometheus bridge for remote write (`SeriesStore::ingest_for_remote_write` calls [`flatten`]): the same translation as the scrape endpoint (names, suffixes, labels,
//! `job` / `instance`, delta → cumulative, cardinality cap), but instead of rendering text, every point a batch
//! brings becomes a sample of a flat series, as Prometheus would have stored it after scraping the endpoint:
//! counters under their text 0.0.4 sample name, histograms as `_bucket{le}` (cumulative, `+Inf` = count), `_sum` and
//! `_count`, summaries as `{quantile}`, `_sum` and `_count`, plus one `target_info` per job/instance the batch
//! touched. Labels are sorted by name with `__name__` among them and no empty values; one series' samples are in
//! timestamp order, one sample per timestamp.

use std::collections::BTreeMap;

use super::labels::Labels;
use super::render::fmt_f64;
use super::store::{Store, Touched};
use super::value::{Exemplar, Hist, Value};

/// One series of a remote-write request.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSeries {
    /// Sorted by name, `__name__` included, no empty names or values.
    pub labels: Vec<(String, String)>,
    /// `(value, timestamp in ms)`, in timestamp order.
    pub samples: Vec<(f64, i64)>,
    /// Exemplars: `trace_id` / `span_id` labels, value, timestamp in ms.
    pub exemplars: Vec<RemoteExemplar>,
}

/// An exemplar of a remote-write series.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteExemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// The samples and exemplars gathered for one flat series.
type Gathered = (Vec<(f64, i64)>, Vec<RemoteExemplar>);

/// Accumulates the samples of each flat series.
#[derive(Default)]
struct Builder {
    series: BTreeMap<Labels, Gathered>,
}

impl Builder {
    fn add(
        &mut self,
        name: &str,
        base: &Labels,
        extra: Option<(&str, String)>,
        value: f64,
        ts: i64,
        exemplar: Option<&Exemplar>,
    ) {
        let mut labels: Labels = base
            .iter()
            .filter(|(k, v)| !k.is_empty() && !v.is_empty() && k != "__name__")
            .cloned()
            .collect();
        labels.push(("__name__".to_owned(), name.to_owned()));
        if let Some((k, v)) = extra {
            labels.retain(|(n, _)| n != k);
            labels.push((k.to_owned(), v));
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        let entry = self.series.entry(labels).or_default();
        entry.0.push((value, ts));
        if let Some(e) = exemplar {
            let mut el = Vec::new();
            if !e.span_id.is_empty() {
                el.push(("span_id".to_owned(), e.span_id.clone()));
            }
            if !e.trace_id.is_empty() {
                el.push(("trace_id".to_owned(), e.trace_id.clone()));
            }
            let ex = RemoteExemplar {
                labels: el,
                value: e.value,
                timestamp_ms: ns_to_ms(e.time_ns).unwrap_or(ts),
            };
            if !entry.1.contains(&ex) {
                entry.1.push(ex);
            }
        }
    }

    fn finish(self) -> Vec<RemoteSeries> {
        self.series
            .into_iter()
            .map(|(labels, (mut samples, exemplars))| {
                // Stable: of several samples at one timestamp the last (newest state) stays.
                samples.sort_by_key(|s| s.1);
                samples.reverse();
                samples.dedup_by_key(|s| s.1);
                samples.reverse();
                RemoteSeries {
                    labels,
                    samples,
                    exemplars,
                }
            })
            .collect()
    }
}

fn ns_to_ms(ns: u64) -> Option<i64> {
    (ns > 0).then(|| i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX))
}

/// The samples of the points in `journal` (in the order the store took them) as flat series; `now_ms` stamps points
/// without a time of their own.
pub(crate) fn flatten(store: &Store, journal: Vec<Touched>, now_ms: i64) -> Vec<RemoteSeries> {
    let mut b = Builder::default();
    // job/instance of each touched target, with the newest time seen for it.
    let mut targets: BTreeMap<Labels, i64> = BTreeMap::new();
    for t in journal {
        let Some(family) = store.families.get(&t.family) else {
            continue;
        };
        let ts = ns_to_ms(t.time_ns).unwrap_or(now_ms);
        let identity: Labels = ["job", "instance"]
            .iter()
            .filter_map(|k| t.labels.iter().find(|(n, _)| n == k).cloned())
            .collect();
        if !identity.is_empty() {
            let newest = targets.entry(identity).or_insert(ts);
            *newest = (*newest).max(ts);
        }
        let name = t.family.as_str();
        match &t.value {
            Value::Gauge(v) => b.add(name, &t.labels, None, *v, ts, None),
            Value::Counter { value, exemplar } => b.add(
                &family.text_sample,
                &t.labels,
                None,
                *value,
                ts,
                exemplar.as_ref(),
            ),
            Value::Histogram(h) => histogram(&mut b, name, &t.labels, h, ts),
            Value::Expo(e) => {
                let h = Hist::from_expo(e);
                histogram(&mut b, name, &t.labels, &h, ts);
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in quantiles {
                    b.add(
                        name,
                        &t.labels,
                        Some(("quantile", fmt_f64(*q))),
                        *v,
                        ts,
                        None,
                    );
                }
                b.add(&format!("{name}_sum"), &t.labels, None, *sum, ts, None);
                b.add(
                    &format!("{name}_count"),
                    &t.labels,
                    None,
                    *count as f64,
                    ts,
                    None,
                );
            }
        }
    }
    for (identity, ts) in targets {
        if let Some(target) = store.targets.get(&identity) {
            b.add("target_info", &target.labels, None, 1.0, ts, None);
        }
    }
    b.finish()
}

fn histogram(b: &mut Builder, name: &str, labels: &Labels, h: &Hist, ts: i64) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (i, bound) in h.bounds.iter().enumerate() {
        cumulative = cumulative.saturating_add(h.counts.get(i).copied().unwrap_or(0));
        let ex = h.exemplars.get(i).and_then(Option::as_ref);
        b.add(
            &bucket,
            labels,
            Some(("le", fmt_f64(*bound))),
            cumulative as f64,
            ts,
            ex,
        );
    }
    let total = h.count.max(cumulative) as f64;
    let ex = h.exemplars.get(h.bounds.len()).and_then(Option::as_ref);
    b.add(
        &bucket,
        labels,
        Some(("le", "+Inf".to_owned())),
        total,
        ts,
        ex,
    );
    b.add(&format!("{name}_sum"), labels, None, h.sum, ts, None);
    b.add(
        &format!("{name}_count"),
        labels,
        None,
        h.count as f64,
        ts,
        None,
    );
}
