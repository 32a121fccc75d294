//! The series behind [`super::SeriesStore`]: every series last seen, keyed by family name and label set, with delta
//! temporality accumulated into cumulative, a cardinality cap per family, and expiry by wall time. Points come
//! from [`super::SeriesStore::ingest`]; rendering ([`super::render`]) reads the families and targets.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use llmtel_config::PrometheusExporterConfig;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, metric};

use super::labels::{Labels, attribute_labels, fingerprint, label_text, normalize, scope_labels};
use super::naming::{NameKind, family_name, sanitize_label};
use super::value::{Kind, Point, Value, accumulate, increase_since, point_value, temporality};
use crate::payload::any_to_string;

/// One series.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// The labels as exposition text, `a="x",b="y"`, escaped once when the series is created (rendering is the
    /// hot path and a series' labels never change).
    pub(crate) label_text: String,
    pub(crate) value: Value,
    /// Start of the cumulative interval (the `_created` time), ns since the epoch.
    pub(crate) start_ns: u64,
    time_ns: u64,
    updated: Instant,
}

/// All series of one name.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) kind: Kind,
    pub(crate) help: String,
    pub(crate) unit: String,
    /// A counter's sample name in text format 0.0.4.
    pub(crate) text_sample: String,
    pub(crate) series: BTreeMap<Labels, Series>,
    /// Last cumulative value of each label set that went into the overflow series, by fingerprint, so that only
    /// its increase is added. Bounded: cleared when it reaches max(cap, 1024) entries.
    overflow_last: HashMap<u64, Value>,
}

/// `target_info` of one job/instance.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) labels: Labels,
    updated: Instant,
}

/// What one ingest did besides storing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IngestOutcome {
    /// Points dropped: a TYPE conflict with an existing family, or a sum or histogram of unspecified temporality.
    pub(crate) rejected: usize,
    /// Points folded into an overflow series by the cardinality cap.
    pub(crate) overflowed: usize,
}

/// The label marking the overflow series.
pub(crate) const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// Every series.
#[derive(Debug)]
pub(crate) struct Store {
    cfg: PrometheusExporterConfig,
    pub(crate) families: HashMap<String, Family>,
    pub(crate) targets: HashMap<Labels, Target>,
    /// When on, every series a point updates, with its value right after the update (remote write sends each).
    pub(crate) journal: Option<Vec<Touched>>,
}

/// One update of one series, as the journal records it.
#[derive(Debug, Clone)]
pub(crate) struct Touched {
    pub(crate) family: String,
    pub(crate) labels: Labels,
    pub(crate) value: Value,
    pub(crate) time_ns: u64,
}

impl Store {
    pub(crate) fn new(cfg: PrometheusExporterConfig) -> Self {
        Self {
            cfg,
            families: HashMap::new(),
            targets: HashMap::new(),
            journal: None,
        }
    }

    /// Series held now (overflow series included, `target_info` not).
    pub(crate) fn series_count(&self) -> usize {
        self.families.values().map(|f| f.series.len()).sum()
    }

    pub(crate) fn ingest(&mut self, resources: &[ResourceMetrics], now: Instant) -> IngestOutcome {
        let mut outcome = IngestOutcome::default();
        for rm in resources {
            let attrs = rm
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let mut common = self.resource_labels(attrs, now);
            for (k, v) in &self.cfg.const_labels {
                common.push((k.clone(), v.clone()));
            }
            for sm in &rm.scope_metrics {
                let mut base = common.clone();
                base.extend(scope_labels(sm.scope.as_ref()));
                for m in &sm.metrics {
                    self.ingest_metric(m, &base, now, &mut outcome);
                }
            }
        }
        outcome
    }

    /// job / instance (and the attributes chosen by `resource_to_labels`) as labels; records `target_info`.
    fn resource_labels(&mut self, attrs: &[KeyValue], now: Instant) -> Labels {
        let get = |k: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == k)
                .map(|kv| any_to_string(kv.value.as_ref()))
        };
        let mut labels = Labels::new();
        let job = match (get("service.namespace"), get("service.name")) {
            (Some(ns), Some(name)) if !ns.is_empty() => Some(format!("{ns}/{name}")),
            (_, Some(name)) => Some(name),
            _ => None,
        };
        if let Some(job) = job {
            labels.push(("job".to_owned(), job));
        }
        if let Some(instance) = get("service.instance.id").filter(|i| !i.is_empty()) {
            labels.push(("instance".to_owned(), instance));
        }
        let identity = labels.clone();
        let others: Vec<&KeyValue> = attrs
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .collect();
        if !others.is_empty() {
            let mut info = identity.clone();
            info.extend(attribute_labels(others.iter().copied()));
            self.targets.insert(
                identity,
                Target {
                    labels: normalize(info),
                    updated: now,
                },
            );
        }
        for key in &self.cfg.resource_to_labels {
            if let Some(v) = get(key) {
                labels.push((sanitize_label(key), v));
            }
        }
        labels
    }

    fn ingest_metric(
        &mut self,
        m: &Metric,
        base: &Labels,
        now: Instant,
        outcome: &mut IngestOutcome,
    ) {
        use metric::Data;
        let Some(data) = &m.data else { return };
        // (kind, naming kind, delta?, points)
        // Delta or cumulative; a sum or histogram of unspecified temporality cannot be exported: its points are
        // counted as rejected.
        let mut temporal = |t: i32, points: usize| {
            let delta = temporality(t);
            if delta.is_none() {
                outcome.rejected += points;
            }
            delta
        };
        let (kind, naming, delta, points): (Kind, NameKind, bool, Vec<Point<'_>>) = match data {
            Data::Gauge(g) => (
                Kind::Gauge,
                NameKind::Gauge,
                false,
                g.data_points.iter().map(Point::Number).collect(),
            ),
            Data::Sum(s) => {
                let Some(delta) = temporal(s.aggregation_temporality, s.data_points.len()) else {
                    return;
                };
                let (kind, naming) = if s.is_monotonic {
                    (Kind::Counter, NameKind::Counter)
                } else {
                    (Kind::Gauge, NameKind::Gauge)
                };
                (
                    kind,
                    naming,
                    delta,
                    s.data_points.iter().map(Point::Number).collect(),
                )
            }
            Data::Histogram(h) => {
                let Some(delta) = temporal(h.aggregation_temporality, h.data_points.len()) else {
                    return;
                };
                (
                    Kind::Histogram,
                    NameKind::Other,
                    delta,
                    h.data_points.iter().map(Point::Histogram).collect(),
                )
            }
            Data::ExponentialHistogram(h) => {
                let Some(delta) = temporal(h.aggregation_temporality, h.data_points.len()) else {
                    return;
                };
                (
                    Kind::Histogram,
                    NameKind::Other,
                    delta,
                    h.data_points.iter().map(Point::Expo).collect(),
                )
            }
            Data::Summary(s) => (
                Kind::Summary,
                NameKind::Other,
                false,
                s.data_points.iter().map(Point::Summary).collect(),
            ),
        };
        let naming = family_name(
            &self.cfg.namespace,
            &m.name,
            &m.unit,
            naming,
            self.cfg.add_metric_suffixes,
        );
        let cap = self.cfg.max_series_per_metric;
        let family_name = naming.family.clone();
        let family = self
            .families
            .entry(naming.family)
            .or_insert_with(|| Family {
                kind,
                // Prometheus tooling wants a HELP on every family; without a description, the OTel name is the help.
                help: if m.description.trim().is_empty() {
                    m.name.clone()
                } else {
                    m.description.clone()
                },
                unit: naming.unit,
                text_sample: naming.text_sample,
                series: BTreeMap::new(),
                overflow_last: HashMap::new(),
            });
        if family.kind != kind {
            // TYPE conflict: the first family keeps the name; these points are dropped (and counted).
            outcome.rejected += points.len();
            return;
        }
        for p in points {
            let (attrs, start_ns, time_ns, flags) = match p {
                Point::Number(p) => (
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    p.flags,
                ),
                Point::Histogram(p) => (
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    p.flags,
                ),
                Point::Expo(p) => (
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    p.flags,
                ),
                Point::Summary(p) => (
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    p.flags,
                ),
            };
            // FLAG_NO_RECORDED_VALUE: the series has no value for this interval; it ages out by expiry.
            if flags & 1 == 1 {
                continue;
            }
            let Some(value) = point_value(&p, kind) else {
                outcome.rejected += 1;
                continue;
            };
            let mut labels = base.clone();
            labels.extend(attribute_labels(attrs.iter()).into_iter().map(|(k, v)| {
                match (kind, k.as_str()) {
                    // `le` and `quantile` are the exposition's own labels: an attribute of that name would make a
                    // duplicate label and break the whole scrape, so it is exported under another name.
                    (Kind::Histogram, "le") | (Kind::Summary, "quantile") => {
                        (format!("exported_{k}"), v)
                    }
                    _ => (k, v),
                }
            }));
            let labels = normalize(labels);
            let over_cap =
                cap > 0 && !family.series.contains_key(&labels) && family.series.len() >= cap;
            if over_cap {
                outcome.overflowed += 1;
                family.add_overflow(&labels, value, delta, start_ns, time_ns, now, cap);
                if let Some(journal) = &mut self.journal {
                    let key = vec![(OVERFLOW_LABEL.to_owned(), "true".to_owned())];
                    note(journal, &family_name, family, key);
                }
                continue;
            }
            let journal_key = self.journal.is_some().then(|| labels.clone());
            match family.series.get_mut(&labels) {
                Some(s) if delta => {
                    s.value = accumulate(&s.value, &value);
                    s.time_ns = s.time_ns.max(time_ns);
                    s.updated = now;
                }
                Some(s) => {
                    // Cumulative or gauge: the newest point wins; an older one arriving late is ignored.
                    if time_ns >= s.time_ns {
                        s.value = value;
                        s.start_ns = start_ns;
                        s.time_ns = time_ns;
                    }
                    s.updated = now;
                }
                None => {
                    let label_text = label_text(&labels);
                    family.series.insert(
                        labels,
                        Series {
                            label_text,
                            value,
                            start_ns,
                            time_ns,
                            updated: now,
                        },
                    );
                }
            }
            if let (Some(journal), Some(key)) = (&mut self.journal, journal_key) {
                note(journal, &family_name, family, key);
            }
        }
    }

    /// Removes series, families and targets not updated within `metric_expiration`; returns series removed.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let ttl = self.cfg.metric_expiration.get();
        let fresh = |t: Instant| now.saturating_duration_since(t) < ttl;
        let mut removed = 0;
        self.families.retain(|_, f| {
            let before = f.series.len();
            f.series.retain(|_, s| fresh(s.updated));
            removed += before - f.series.len();
            if f.series.is_empty() {
                f.overflow_last.clear();
            }
            !f.series.is_empty()
        });
        self.targets.retain(|_, t| fresh(t.updated));
        removed
    }

    /// How often expiry should run.
    pub(crate) fn expiry_interval(&self) -> Duration {
        (self.cfg.metric_expiration.get() / 10)
            .clamp(Duration::from_millis(100), Duration::from_secs(30))
    }
}

/// Records the value series `key` of `family` holds now.
fn note(journal: &mut Vec<Touched>, name: &str, family: &Family, key: Labels) {
    if let Some(s) = family.series.get(&key) {
        journal.push(Touched {
            family: name.to_owned(),
            value: s.value.clone(),
            time_ns: s.time_ns,
            labels: key,
        });
    }
}

impl Family {
    /// Folds a point of a label set beyond the cap into the one overflow series.
    #[allow(clippy::too_many_arguments)]
    fn add_overflow(
        &mut self,
        labels: &Labels,
        value: Value,
        delta: bool,
        start_ns: u64,
        time_ns: u64,
        now: Instant,
        cap: usize,
    ) {
        let increase = if delta {
            value
        } else if matches!(value, Value::Counter { .. } | Value::Histogram(_)) {
            // Cumulative: add only what this label set grew by since it was last seen here.
            let key = fingerprint(labels);
            let inc = match self.overflow_last.get(&key) {
                Some(prev) => increase_since(prev, &value),
                None => {
                    // Bounded memory: forget every remembered label set rather than grow past the limit (a set
                    // seen again after that is counted again from its start).
                    if self.overflow_last.len() >= cap.max(1024) {
                        self.overflow_last.clear();
                    }
                    value.clone()
                }
            };
            self.overflow_last.insert(key, value);
            inc
        } else {
            value
        };
        let key = vec![(OVERFLOW_LABEL.to_owned(), "true".to_owned())];
        match self.series.get_mut(&key) {
            Some(s) => {
                s.value = match (&s.value, &increase) {
                    _ if delta => accumulate(&s.value, &increase),
                    // Cumulative counters and histograms arrive here as their increase: add it.
                    (Value::Counter { .. }, Value::Counter { .. })
                    | (Value::Histogram(_), Value::Histogram(_)) => accumulate(&s.value, &increase),
                    // Gauges, summaries and cumulative exponential histograms: the latest point stands.
                    _ => increase,
                };
                s.time_ns = s.time_ns.max(time_ns);
                s.updated = now;
            }
            None => {
                let label_text = label_text(&key);
                self.series.insert(
                    key,
                    Series {
                        label_text,
                        value: increase,
                        start_ns,
                        time_ns,
                        updated: now,
                    },
                );
            }
        }
    }
}
