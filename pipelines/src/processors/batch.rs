//! Processor `batch`: gathers small batches into larger ones and cuts large ones, with the OpenTelemetry
//! Collector's semantics. Input comes from the previous processor (or the pipeline's queue); output goes to the
//! next processor or the exporters.
//!
//! - A batch is released as soon as `send_batch_size` items are waiting (a trigger, not a cap);
//! - anything waiting is released `timeout` after the first of it arrived;
//! - no released batch holds more than `send_batch_max_size` items (when it is not 0);
//! - `timeout: 0` releases every input at once, only cut by `send_batch_max_size`.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use llmtel_config::BatchConfig;

use crate::payload::Payload;
use crate::stage::Processor;

/// Why a batch processor cannot be built from its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBatch {
    /// A size of 0 would never be reached by any number of items, and releasing "every 0 items" never ends.
    #[error("send_batch_size must be at least 1")]
    ZeroSize,
    /// A cap below the trigger would release a batch without the trigger ever being met.
    #[error("send_batch_max_size must not be less than send_batch_size ({max} < {size})")]
    MaxBelowSize {
        /// `send_batch_size`.
        size: usize,
        /// `send_batch_max_size`.
        max: usize,
    },
}

/// The batch processor of one pipeline.
#[derive(Debug)]
pub struct BatchProcessor {
    /// Release once this many items wait (a trigger, not a cap); never 0, so the release loop always ends.
    size: NonZeroUsize,
    /// No released batch holds more; `None`: no bound. Never below `size`.
    max: Option<NonZeroUsize>,
    timeout: Duration,
    pending: Option<Payload>,
    pending_items: usize,
    deadline: Option<Instant>,
}

impl BatchProcessor {
    /// A processor with these settings, or why they cannot work.
    pub fn try_new(cfg: &BatchConfig) -> Result<Self, InvalidBatch> {
        let size = NonZeroUsize::new(cfg.send_batch_size).ok_or(InvalidBatch::ZeroSize)?;
        // 0 is the config's word for "no bound".
        let max = NonZeroUsize::new(cfg.send_batch_max_size);
        if let Some(max) = max
            && max < size
        {
            return Err(InvalidBatch::MaxBelowSize {
                size: size.get(),
                max: max.get(),
            });
        }
        Ok(Self {
            size,
            max,
            timeout: cfg.timeout.get(),
            pending: None,
            pending_items: 0,
            deadline: None,
        })
    }

    /// Releases up to `n` pending items (all when `n` ≥ pending), cut by the max size.
    fn release(&mut self, n: usize, out: &mut Vec<Payload>) {
        let Some(pending) = self.pending.as_mut() else {
            return;
        };
        let mut left = n.min(self.pending_items);
        while left > 0 {
            let take = match self.max {
                None => left,
                Some(max) => left.min(max.get()),
            };
            let chunk = if take == self.pending_items {
                std::mem::replace(pending, Payload::empty(pending.signal()))
            } else {
                pending.split_front(take)
            };
            self.pending_items -= take;
            left -= take;
            out.push(chunk);
        }
        if self.pending_items == 0 {
            self.pending = None;
            self.deadline = None;
        }
    }
}

impl Processor for BatchProcessor {
    fn process(&mut self, batch: Payload, out: &mut Vec<Payload>) {
        let items = batch.item_count();
        if items == 0 {
            return;
        }
        match self.pending.as_mut() {
            None => self.pending = Some(batch),
            Some(p) => {
                if let Err(other) = p.append(batch) {
                    // A pipeline carries one signal, so this cannot happen; pass the batch on rather than lose it.
                    out.push(other);
                    return;
                }
            }
        }
        self.pending_items += items;
        if self.timeout.is_zero() {
            self.release(usize::MAX, out);
            return;
        }
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.timeout);
        }
        // Each round releases at least `size` ≥ 1 items (`max` is never below `size`), so the loop ends.
        while self.pending_items >= self.size.get() {
            let n = self.max.map_or(self.pending_items, NonZeroUsize::get);
            self.release(n, out);
            // The Collector restarts its timer after a size-triggered send.
            if self.pending.is_some() {
                self.deadline = Some(Instant::now() + self.timeout);
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Payload>) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.release(usize::MAX, out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Payload>) {
        self.release(usize::MAX, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::tests::spans;

    fn cfg(size: usize, max: usize, timeout_ms: u64) -> BatchConfig {
        BatchConfig {
            send_batch_size: size,
            send_batch_max_size: max,
            timeout: llmtel_config::Duration::from_millis(timeout_ms),
        }
    }

    fn sizes(out: &[Payload]) -> Vec<usize> {
        out.iter().map(Payload::item_count).collect()
    }

    #[test]
    fn holds_until_size_then_releases_whole() {
        let mut p = BatchProcessor::try_new(&cfg(10, 0, 1000)).unwrap();
        let mut out = Vec::new();
        p.process(spans(4), &mut out);
        p.process(spans(4), &mut out);
        assert!(out.is_empty());
        assert!(p.deadline().is_some());
        p.process(spans(5), &mut out);
        assert_eq!(sizes(&out), vec![13], "size is a trigger, not a cap");
        assert!(p.deadline().is_none());
    }

    #[test]
    fn cuts_at_max_size_and_keeps_the_rest() {
        let mut p = BatchProcessor::try_new(&cfg(10, 10, 1000)).unwrap();
        let mut out = Vec::new();
        p.process(spans(25), &mut out);
        assert_eq!(sizes(&out), vec![10, 10]);
        out.clear();
        p.flush(&mut out);
        assert_eq!(sizes(&out), vec![5]);
    }

    #[test]
    fn releases_on_deadline_and_zero_timeout_passes_through() {
        let mut p = BatchProcessor::try_new(&cfg(100, 0, 50)).unwrap();
        let mut out = Vec::new();
        p.process(spans(3), &mut out);
        let d = p.deadline().unwrap();
        p.on_deadline(d - Duration::from_millis(10), &mut out);
        assert!(out.is_empty(), "not before the deadline");
        p.on_deadline(d, &mut out);
        assert_eq!(sizes(&out), vec![3]);

        let mut p = BatchProcessor::try_new(&cfg(4, 4, 0)).unwrap();
        out.clear();
        p.process(spans(9), &mut out);
        assert_eq!(sizes(&out), vec![4, 4, 1]);
        assert!(p.deadline().is_none());
    }

    #[test]
    fn settings_that_cannot_work_are_refused_at_construction() {
        assert_eq!(
            BatchProcessor::try_new(&cfg(0, 0, 1000)).unwrap_err(),
            InvalidBatch::ZeroSize
        );
        let err = BatchProcessor::try_new(&cfg(10, 5, 1000)).unwrap_err();
        assert_eq!(err, InvalidBatch::MaxBelowSize { size: 10, max: 5 });
        assert_eq!(
            err.to_string(),
            "send_batch_max_size must not be less than send_batch_size (5 < 10)"
        );
        assert!(BatchProcessor::try_new(&cfg(10, 10, 0)).is_ok());
    }
}
