//! Exponential histograms: accumulated in their own form (deltas merge by bringing both sides to the coarser
//! scale), and converted to classic `le` buckets for the text formats, which cannot carry native histograms.
//!
//! Conversion: with `base = 2^(2^-scale)`, positive bucket `i` (index `offset + i`) covers `(base^idx, base^(idx+1)]`
//! and becomes a bucket with `le = base^(idx+1)`; negative buckets mirror it (`le = -base^idx`); the zero bucket
//! becomes `le = zero_threshold` (or `0`). Buckets are emitted in ascending `le` order with cumulative counts, so
//! `histogram_quantile` works on them as on any classic histogram (with the exponential buckets' resolution).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint;

/// An exponential histogram being accumulated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expo {
    scale: i32,
    zero_threshold: f64,
    zero_count: u64,
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl Expo {
    /// The accumulator for one data point, or `None` when its scale is outside the OTLP range [-10, 20] (such a
    /// point cannot be converted faithfully; the caller counts it as rejected).
    pub(crate) fn from_point(p: &ExponentialHistogramDataPoint) -> Option<Self> {
        if !(-10..=20).contains(&p.scale) {
            return None;
        }
        let collect = |b: &Option<
            opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets,
        >| {
            let mut m = BTreeMap::new();
            if let Some(b) = b {
                for (i, c) in b.bucket_counts.iter().enumerate() {
                    let index = i32::try_from(i).ok().and_then(|i| b.offset.checked_add(i));
                    if let (Some(index), true) = (index, *c > 0) {
                        *m.entry(index).or_default() += *c;
                    }
                }
            }
            m
        };
        Some(Self {
            scale: p.scale,
            zero_threshold: p.zero_threshold,
            zero_count: p.zero_count,
            positive: collect(&p.positive),
            negative: collect(&p.negative),
            sum: p.sum.unwrap_or(0.0),
            count: p.count,
        })
    }

    /// Adds `other` (a delta) into this one, at the coarser of the two scales.
    pub(crate) fn merge(&mut self, other: &Expo) {
        let scale = self.scale.min(other.scale);
        self.downscale_to(scale);
        let mut o = other.clone();
        o.downscale_to(scale);
        for (i, c) in o.positive {
            let e = self.positive.entry(i).or_default();
            *e = e.saturating_add(c);
        }
        for (i, c) in o.negative {
            let e = self.negative.entry(i).or_default();
            *e = e.saturating_add(c);
        }
        self.zero_count = self.zero_count.saturating_add(o.zero_count);
        self.zero_threshold = self.zero_threshold.max(o.zero_threshold);
        self.sum += o.sum;
        self.count = self.count.saturating_add(o.count);
    }

    fn downscale_to(&mut self, scale: i32) {
        let shift = self.scale - scale;
        if shift <= 0 {
            return;
        }
        let down = |m: &BTreeMap<i32, u64>| {
            let mut out = BTreeMap::new();
            for (i, c) in m {
                *out.entry(i >> shift).or_default() += c;
            }
            out
        };
        self.positive = down(&self.positive);
        self.negative = down(&self.negative);
        self.scale = scale;
    }

    /// Classic buckets: `(upper bound, count in this bucket)` in ascending order, without `+Inf`. Bounds too
    /// large for an f64 are left out: their counts fall into `+Inf`, which holds every observation.
    pub(crate) fn classic(&self) -> Vec<(f64, u64)> {
        // base^i = 2^(i * 2^-scale), computed in f64 to stay finite as long as the bound itself is.
        let bound = |i: i32| 2f64.powf(f64::from(i) * 2f64.powi(-self.scale));
        let mut out = Vec::with_capacity(self.negative.len() + self.positive.len() + 1);
        // Most negative first: index idx covers [-base^(idx+1), -base^idx).
        for (i, c) in self.negative.iter().rev() {
            let b = -bound(*i);
            if b.is_finite() {
                out.push((b, *c));
            }
        }
        if self.zero_count > 0 || !out.is_empty() || !self.positive.is_empty() {
            out.push((self.zero_threshold.max(0.0), self.zero_count));
        }
        for (i, c) in &self.positive {
            let b = bound(i.saturating_add(1));
            if b.is_finite() {
                out.push((b, *c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;

    fn point(scale: i32, offset: i32, counts: Vec<u64>) -> ExponentialHistogramDataPoint {
        ExponentialHistogramDataPoint {
            scale,
            count: counts.iter().sum(),
            sum: Some(10.0),
            positive: Some(Buckets {
                offset,
                bucket_counts: counts,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn converts_to_ascending_classic_buckets() {
        // scale 0: base 2; offset 1 → buckets (2,4], (4,8].
        let e = Expo::from_point(&point(0, 1, vec![3, 5])).unwrap();
        assert_eq!(e.classic(), vec![(0.0, 0), (4.0, 3), (8.0, 5)]);
        // At scale -10, base is 2^1024: no finite bound, everything in +Inf rather than a second +Inf line.
        let coarse = Expo::from_point(&point(-10, 0, vec![4])).unwrap();
        assert!(
            coarse.classic().iter().all(|(b, _)| b.is_finite()),
            "{:?}",
            coarse.classic()
        );
        assert!(
            Expo::from_point(&point(21, 0, vec![1])).is_none(),
            "scales outside [-10, 20] are refused"
        );
    }

    #[test]
    fn deltas_merge_at_the_coarser_scale() {
        let mut a = Expo::from_point(&point(1, 2, vec![1, 1])).unwrap(); // indexes 2, 3 at scale 1
        a.merge(&Expo::from_point(&point(0, 1, vec![4])).unwrap()); // index 1 at scale 0
        // At scale 0, indexes 2 and 3 of scale 1 both become 1: 1 + 1 + 4.
        assert_eq!(a.classic(), vec![(0.0, 0), (4.0, 6)]);
        assert_eq!((a.count, a.sum), (6, 20.0));
    }
}
