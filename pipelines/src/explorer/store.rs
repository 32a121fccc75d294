//! The explorer's bounded store of recent GenAI requests, zPages-style: per operation, model and think mode, a
//! count per latency bucket with its most recent samples, plus the slowest and the most recent failed requests.
//! Filled by the `explorer` exporter ([`crate::exporters::explorer`]); read by the admin endpoint's page and JSON.
//!
//! Memory: at most `max_samples` samples in all. Each group holds at most `buckets × samples_per_bucket +
//! slowest + failed` of them, so the store takes `max_samples / that` groups; requests of further groups are
//! counted (`unsampled`) but not kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use llmtel_config::ExplorerExporterConfig;

use super::summary::RequestSummary;

/// Upper bounds of the latency buckets, seconds; one more bucket takes everything above the last.
pub const BUCKETS_S: &[f64] = &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0];

/// How many samples the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most recent samples per bucket.
    pub per_bucket: usize,
    /// Samples in all.
    pub max_samples: usize,
    /// Slowest requests per group.
    pub slowest: usize,
    /// Most recent failed requests per group.
    pub failed: usize,
}

impl Limits {
    /// From the exporter's settings; zeroes become one, so the store never divides by zero.
    pub fn new(cfg: &ExplorerExporterConfig) -> Self {
        Self {
            per_bucket: cfg.samples_per_bucket.max(1),
            max_samples: cfg.max_samples.max(1),
            slowest: cfg.slowest,
            failed: cfg.failed,
        }
    }

    /// Samples one group holds at most.
    pub fn per_group(&self) -> usize {
        (BUCKETS_S.len() + 1) * self.per_bucket + self.slowest + self.failed
    }

    /// Groups the store takes.
    pub fn max_groups(&self) -> usize {
        (self.max_samples / self.per_group()).max(1)
    }
}

/// What identifies a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    /// `gen_ai.operation.name`.
    pub operation: String,
    /// The model.
    pub model: String,
    /// The think mode.
    pub think_mode: String,
}

/// One group's counts and samples.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Requests seen per bucket (index `i` ≤ `BUCKETS_S[i]`, the last one above every bound).
    pub counts: Vec<u64>,
    /// The most recent samples per bucket, oldest first.
    pub samples: Vec<VecDeque<Arc<RequestSummary>>>,
    /// The slowest requests, slowest first.
    pub slowest: Vec<Arc<RequestSummary>>,
    /// The most recent failed requests, oldest first.
    pub failed: VecDeque<Arc<RequestSummary>>,
    /// Failed requests seen.
    pub errors: u64,
}

/// A copy of the store's contents.
#[derive(Debug, Clone, Default)]
pub struct StoreSnapshot {
    /// Each group, in key order.
    pub groups: Vec<(GroupKey, Group)>,
    /// Requests of groups beyond what fits.
    pub unsampled: u64,
    /// The limits.
    pub limits: Option<Limits>,
}

#[derive(Debug, Default)]
struct Inner {
    groups: BTreeMap<GroupKey, Group>,
    unsampled: u64,
}

/// The store; share it with `Arc`.
#[derive(Debug)]
pub struct RequestStore {
    limits: Limits,
    inner: Mutex<Inner>,
}

/// The bucket index of a duration.
pub fn bucket_of(seconds: f64) -> usize {
    BUCKETS_S
        .iter()
        .position(|b| seconds <= *b)
        .unwrap_or(BUCKETS_S.len())
}

impl RequestStore {
    /// An empty store.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            inner: Mutex::default(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Adds requests (one lock for the whole batch).
    pub fn add(&self, requests: Vec<RequestSummary>) {
        if requests.is_empty() {
            return;
        }
        let l = self.limits;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for r in requests {
            let key = GroupKey {
                operation: r.operation.clone(),
                model: r.model.clone(),
                think_mode: r.think_mode.clone(),
            };
            let full = inner.groups.len() >= l.max_groups();
            let group = match inner.groups.get_mut(&key) {
                Some(g) => g,
                None if full => {
                    inner.unsampled += 1;
                    continue;
                }
                None => inner.groups.entry(key).or_insert_with(|| Group {
                    counts: vec![0; BUCKETS_S.len() + 1],
                    samples: vec![VecDeque::new(); BUCKETS_S.len() + 1],
                    ..Group::default()
                }),
            };
            let r = Arc::new(r);
            let b = bucket_of(r.duration_s);
            group.counts[b] += 1;
            push_bounded(&mut group.samples[b], r.clone(), l.per_bucket);
            if r.failed() {
                group.errors += 1;
                push_bounded(&mut group.failed, r.clone(), l.failed);
            }
            if l.slowest > 0 {
                let at = group
                    .slowest
                    .partition_point(|s| s.duration_s >= r.duration_s);
                if at < l.slowest {
                    group.slowest.insert(at, r);
                    group.slowest.truncate(l.slowest);
                }
            }
        }
    }

    /// A copy of every group (samples are shared, not copied).
    pub fn snapshot(&self) -> StoreSnapshot {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        StoreSnapshot {
            groups: inner
                .groups
                .iter()
                .map(|(k, g)| (k.clone(), g.clone()))
                .collect(),
            unsampled: inner.unsampled,
            limits: Some(self.limits),
        }
    }

    /// The sample whose request span id is `span_id` (hex), if the store still holds it.
    pub fn find(&self, span_id: &str) -> Option<Arc<RequestSummary>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.groups.values().find_map(|g| {
            g.samples
                .iter()
                .flatten()
                .chain(&g.slowest)
                .chain(&g.failed)
                .find(|s| s.span_id == span_id)
                .cloned()
        })
    }

    /// Samples held now (a sample in several lists counts once per list).
    pub fn sample_count(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .groups
            .values()
            .map(|g| {
                g.samples.iter().map(VecDeque::len).sum::<usize>()
                    + g.slowest.len()
                    + g.failed.len()
            })
            .sum()
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if cap == 0 {
        return;
    }
    while q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(model: &str, secs: f64, failed: bool, n: usize) -> RequestSummary {
        RequestSummary {
            span_id: format!("{n:016x}"),
            operation: "chat".into(),
            model: model.into(),
            think_mode: "on".into(),
            duration_s: secs,
            error: failed.then(|| "timeout".to_owned()),
            ..RequestSummary::default()
        }
    }

    #[test]
    fn buckets_count_everything_and_keep_only_the_newest_samples() {
        let limits = Limits {
            per_bucket: 2,
            max_samples: 10_000,
            slowest: 3,
            failed: 2,
        };
        let store = RequestStore::new(limits);
        store.add((0..10).map(|n| req("m", 0.3, n % 3 == 0, n)).collect());
        store.add(vec![req("m", 7.0, false, 100), req("m", 250.0, false, 101)]);
        let snap = store.snapshot();
        let (_, g) = &snap.groups[0];
        assert_eq!(g.counts[bucket_of(0.3)], 10);
        assert_eq!(
            g.counts[BUCKETS_S.len()],
            1,
            "250 s goes above the last bound"
        );
        let ids: Vec<&str> = g.samples[1].iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(ids, [format!("{:016x}", 8), format!("{:016x}", 9)]);
        assert_eq!(g.errors, 4);
        assert_eq!(g.failed.len(), 2);
        let slowest: Vec<f64> = g.slowest.iter().map(|s| s.duration_s).collect();
        assert_eq!(slowest, [250.0, 7.0, 0.3]);
        assert!(store.find(&format!("{:016x}", 101)).is_some());
        assert!(store.find(&format!("{:016x}", 1)).is_none(), "evicted");
    }

    #[test]
    fn the_total_bound_holds_however_many_models_arrive() {
        let limits = Limits {
            per_bucket: 3,
            max_samples: 100,
            slowest: 2,
            failed: 2,
        };
        let store = RequestStore::new(limits);
        for n in 0..5_000 {
            let secs = (n % 200) as f64 * 0.7;
            store.add(vec![req(&format!("model-{}", n % 50), secs, n % 7 == 0, n)]);
        }
        assert!(store.sample_count() <= 100, "{}", store.sample_count());
        let snap = store.snapshot();
        assert_eq!(snap.groups.len(), limits.max_groups());
        let counted: u64 = snap.groups.iter().flat_map(|(_, g)| &g.counts).sum();
        assert_eq!(counted + snap.unsampled, 5_000);
    }
}
