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
    pub(crate) fn from_point(p: &ExponentialHistogramDataPoint) -> Self {
        let collect = |b: &Option<
            opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets,
        >| {
            let mut m = BTreeMap::new();
            if let Some(b) = b {
                for (i, c) in b.bucket_counts.iter().enumerate() {
                    if *c > 0 {
                        m.insert(b.offset + i as i32, *c);
                    }
                }
            }
            m
        };
        Self {
            scale: p.scale,
            zero_threshold: p.zero_threshold,
            zero_count: p.zero_count,
            positive: collect(&p.positive),
            negative: collect(&p.negative),
            sum: p.sum.unwrap_or(0.0),
            count: p.count,
        }
    }

    /// Adds `other` (a delta) into this one, at the coarser of the two scales.
    pub(crate) fn merge(&mut self, other: &Expo) {
        let scale = self.scale.min(other.scale);
        self.downscale_to(scale);
        let mut o = other.clone();
        o.downscale_to(scale);
        for (i, c) in o.positive {
            *self.positive.entry(i).or_default() += c;
        }
        for (i, c) in o.negative {
            *self.negative.entry(i).or_default() += c;
        }
        self.zero_count += o.zero_count;
        self.zero_threshold = self.zero_threshold.max(o.zero_threshold);
        self.sum += o.sum;
        self.count += o.count;
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

    /// Classic buckets: `(upper bound, count in this bucket)` in ascending order, without `+Inf`.
    pub(crate) fn classic(&self) -> Vec<(f64, u64)> {
        let base = 2f64.powf(2f64.powi(-self.scale));
        let mut out = Vec::with_capacity(self.negative.len() + self.positive.len() + 1);
        // Most negative first: index idx covers [-base^(idx+1), -base^idx).
        for (i, c) in self.negative.iter().rev() {
            out.push((-base.powi(*i), *c));
        }
        if self.zero_count > 0 || !out.is_empty() || !self.positive.is_empty() {
            out.push((self.zero_threshold.max(0.0), self.zero_count));
        }
        for (i, c) in &self.positive {
            out.push((base.powi(i + 1), *c));
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
        let e = Expo::from_point(&point(0, 1, vec![3, 5]));
        assert_eq!(e.classic(), vec![(0.0, 0), (4.0, 3), (8.0, 5)]);
    }

    #[test]
    fn deltas_merge_at_the_coarser_scale() {
        let mut a = Expo::from_point(&point(1, 2, vec![1, 1])); // indexes 2, 3 at scale 1
        a.merge(&Expo::from_point(&point(0, 1, vec![4]))); // index 1 at scale 0
        // At scale 0, indexes 2 and 3 of scale 1 both become 1: 1 + 1 + 4.
        assert_eq!(a.classic(), vec![(0.0, 0), (4.0, 6)]);
        assert_eq!((a.count, a.sum), (6, 20.0));
    }
}
