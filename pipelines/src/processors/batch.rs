//! Processor `batch`: gathers small batches into larger ones and cuts large ones, with the OpenTelemetry
//! Collector's semantics. Input comes from the previous processor (or the pipeline's queue); output goes to the
//! next processor or the exporters.
//!
//! - A batch is released as soon as `send_batch_size` items are waiting (a trigger, not a cap);
//! - anything waiting is released `timeout` after the first of it arrived;
//! - no released batch holds more than `send_batch_max_size` items (when it is not 0);
//! - `timeout: 0` releases every input at once, only cut by `send_batch_max_size`.

use std::time::Instant;

use llmtel_config::BatchConfig;

use crate::payload::Payload;
use crate::stage::Processor;

/// The batch processor of one pipeline.
#[derive(Debug)]
pub struct BatchProcessor {
    cfg: BatchConfig,
    pending: Option<Payload>,
    pending_items: usize,
    deadline: Option<Instant>,
}

impl BatchProcessor {
    /// A processor with these settings.
    pub fn new(cfg: BatchConfig) -> Self {
        Self {
            cfg,
            pending: None,
            pending_items: 0,
            deadline: None,
        }
    }

    /// Releases up to `n` pending items (all when `n` ≥ pending), cut by the max size.
    fn release(&mut self, n: usize, out: &mut Vec<Payload>) {
        let Some(pending) = self.pending.as_mut() else {
            return;
        };
        let mut left = n.min(self.pending_items);
        while left > 0 {
            let take = match self.cfg.send_batch_max_size {
                0 => left,
                max => left.min(max),
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
        if self.cfg.timeout.get().is_zero() {
            self.release(usize::MAX, out);
            return;
        }
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.cfg.timeout.get());
        }
        while self.pending_items >= self.cfg.send_batch_size {
            let n = match self.cfg.send_batch_max_size {
                0 => self.pending_items,
                max => max,
            };
            self.release(n, out);
            // The Collector restarts its timer after a size-triggered send.
            if self.pending.is_some() {
                self.deadline = Some(Instant::now() + self.cfg.timeout.get());
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
    use std::time::Duration;

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
        let mut p = BatchProcessor::new(cfg(10, 0, 1000));
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
        let mut p = BatchProcessor::new(cfg(10, 10, 1000));
        let mut out = Vec::new();
        p.process(spans(25), &mut out);
        assert_eq!(sizes(&out), vec![10, 10]);
        out.clear();
        p.flush(&mut out);
        assert_eq!(sizes(&out), vec![5]);
    }

    #[test]
    fn releases_on_deadline_and_zero_timeout_passes_through() {
        let mut p = BatchProcessor::new(cfg(100, 0, 50));
        let mut out = Vec::new();
        p.process(spans(3), &mut out);
        let d = p.deadline().unwrap();
        p.on_deadline(d - Duration::from_millis(10), &mut out);
        assert!(out.is_empty(), "not before the deadline");
        p.on_deadline(d, &mut out);
        assert_eq!(sizes(&out), vec![3]);

        let mut p = BatchProcessor::new(cfg(100, 4, 0));
        out.clear();
        p.process(spans(9), &mut out);
        assert_eq!(sizes(&out), vec![4, 4, 1]);
        assert!(p.deadline().is_none());
    }
}
