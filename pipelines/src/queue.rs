//! The bounded queues between stages: a pipeline's input queue and the queue in front of each exporter or
//! connector. Bounded by batches always, and optionally by items and by the memory the batches hold (an estimate of
//! their decoded size, [`crate::memsize`]), without ever splitting a batch. Space is reserved before a batch is
//! sent, so a sender can try several queues and deliver to all or none. A pipeline's input queue may also have a
//! memory gate (a `memory_limiter`), consulted before any space is reserved.

use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::memory_gate::{MemoryGate, OverLimit};
use crate::memsize::mem_size;
use crate::payload::Payload;
use crate::stats::QueueGauge;

/// A batch in a queue, with the weight it was admitted under.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) batch: Payload,
    weight: Weight,
}

/// What a batch counts against a queue's limits.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Weight {
    items: u32,
    kib: u32,
}

/// One limit of a queue, in units (items or KiB), shared by its two ends.
#[derive(Debug, Clone)]
struct Limit {
    sem: Arc<Semaphore>,
    max: u32,
}

impl Limit {
    fn new(max: u64) -> Option<Self> {
        let max = u32::try_from(max)
            .unwrap_or(u32::MAX)
            .min(Semaphore::MAX_PERMITS as u32);
        (max > 0).then(|| Self {
            sem: Arc::new(Semaphore::new(max as usize)),
            max,
        })
    }

    /// A batch larger than the whole limit is admitted alone, when the queue is empty.
    fn units(&self, n: u32) -> u32 {
        n.min(self.max)
    }
}

/// The sending end of a queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueSender {
    pub(crate) id: String,
    tx: mpsc::Sender<Queued>,
    pub(crate) gauge: Arc<QueueGauge>,
    items: Option<Limit>,
    kib: Option<Limit>,
    gate: Option<Arc<MemoryGate>>,
}

/// The receiving end of a queue; counts each batch off the queue as it is taken.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Queued>,
    gauge: Arc<QueueGauge>,
    items: Option<Limit>,
    kib: Option<Limit>,
}

/// Why a reservation failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    Full,
    /// A memory gate refuses: llmtel's RSS is at or above its soft limit.
    OverMemory(OverLimit),
    Closed,
}

/// Space reserved in a queue for one batch.
#[derive(Debug)]
pub(crate) struct Reserved<'a> {
    permit: mpsc::Permit<'a, Queued>,
    items: Option<OwnedSemaphorePermit>,
    kib: Option<OwnedSemaphorePermit>,
    gauge: &'a QueueGauge,
    weight: Weight,
}

/// A queue of `batches` batches (a channel of none could never take one), at most `max_items` items and
/// `max_kib` KiB of memory held (0: no such bound).
pub(crate) fn queue(
    id: &str,
    gauge: Arc<QueueGauge>,
    batches: NonZeroUsize,
    max_items: u64,
    max_kib: u64,
) -> (QueueSender, Inbox) {
    let (tx, rx) = mpsc::channel(batches.get());
    let items = Limit::new(max_items);
    let kib = Limit::new(max_kib);
    let sender = QueueSender {
        id: id.to_owned(),
        tx,
        gauge: gauge.clone(),
        items: items.clone(),
        kib: kib.clone(),
        gate: None,
    };
    (
        sender,
        Inbox {
            rx,
            gauge,
            items,
            kib,
        },
    )
}

impl QueueSender {
    /// Puts a memory gate in front of this queue: while it refuses, nothing is admitted.
    pub(crate) fn gated(mut self, gate: Arc<MemoryGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The weight of `batch` in this queue (its size in memory is only estimated when the queue bounds it).
    pub(crate) fn weigh(&self, batch: &Payload) -> Weight {
        let items = u32::try_from(batch.item_count()).unwrap_or(u32::MAX);
        let kib = match &self.kib {
            Some(_) => u32::try_from(mem_size(batch).div_ceil(1024)).unwrap_or(u32::MAX),
            None => 0,
        };
        Weight { items, kib }
    }

    /// Reserves space now, or says why not.
    pub(crate) fn try_reserve(&self, weight: Weight) -> Result<Reserved<'_>, Unavailable> {
        if let Some(g) = &self.gate {
            g.admit().map_err(Unavailable::OverMemory)?;
        }
        let permit = self.tx.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => Unavailable::Full,
            mpsc::error::TrySendError::Closed(()) => Unavailable::Closed,
        })?;
        let items = try_take(&self.items, weight.items)?;
        let kib = try_take(&self.kib, weight.kib)?;
        Ok(Reserved {
            permit,
            items,
            kib,
            gauge: &self.gauge,
            weight,
        })
    }

    /// Reserves space, waiting for it (and for a memory gate to admit again).
    pub(crate) async fn reserve(&self, weight: Weight) -> Result<Reserved<'_>, Unavailable> {
        if let Some(g) = &self.gate {
            while g.admit().is_err() {
                if self.tx.is_closed() {
                    return Err(Unavailable::Closed);
                }
                tokio::time::sleep(g.check_interval()).await;
            }
        }
        let permit = self.tx.reserve().await.map_err(|_| Unavailable::Closed)?;
        let items = take(&self.items, weight.items).await?;
        let kib = take(&self.kib, weight.kib).await?;
        Ok(Reserved {
            permit,
            items,
            kib,
            gauge: &self.gauge,
            weight,
        })
    }
}

fn try_take(limit: &Option<Limit>, n: u32) -> Result<Option<OwnedSemaphorePermit>, Unavailable> {
    match limit {
        None => Ok(None),
        Some(l) => l
            .sem
            .clone()
            .try_acquire_many_owned(l.units(n))
            .map(Some)
            .map_err(|_| Unavailable::Full),
    }
}

async fn take(limit: &Option<Limit>, n: u32) -> Result<Option<OwnedSemaphorePermit>, Unavailable> {
    match limit {
        None => Ok(None),
        Some(l) => l
            .sem
            .clone()
            .acquire_many_owned(l.units(n))
            .await
            .map(Some)
            .map_err(|_| Unavailable::Closed),
    }
}

impl Reserved<'_> {
    /// Puts `batch` in the reserved space. Its units stay taken until the batch leaves the queue.
    pub(crate) fn send(self, batch: Payload) {
        if let Some(p) = self.items {
            p.forget();
        }
        if let Some(p) = self.kib {
            p.forget();
        }
        self.gauge.pushed(self.weight.items as usize);
        self.permit.send(Queued {
            batch,
            weight: self.weight,
        });
    }
}

/// Sends a copy of `batch` into each reservation, moving the original into the last.
pub(crate) fn deliver(mut reserved: Vec<Reserved<'_>>, batch: Payload) {
    let Some(last) = reserved.pop() else {
        return;
    };
    for r in reserved {
        r.send(batch.clone());
    }
    last.send(batch);
}

/// Senders waiting for item or byte room must not wait for ever on a queue nobody reads any more (its stage
/// ended or crashed): closing the limits turns their wait into `Closed`.
impl Drop for Inbox {
    fn drop(&mut self) {
        for l in [&self.items, &self.kib].into_iter().flatten() {
            l.sem.close();
        }
    }
}

impl Inbox {
    /// Refuses further sends while keeping what is queued for [`Inbox::recv`].
    pub fn close(&mut self) {
        self.rx.close();
    }

    /// The next batch, or `None` once every sender is gone (or the inbox is closed) and the queue is empty.
    pub async fn recv(&mut self) -> Option<Payload> {
        let (batch, held) = self.recv_held().await?;
        drop(held);
        Some(batch)
    }

    /// [`Inbox::recv`], but the memory the batch holds stays counted against the queue's `max_size_mib` until
    /// the returned [`Held`] is dropped: an exporter keeps it through its export and retries, so a queue's
    /// memory bound covers the batches being exported too, not only those waiting.
    pub(crate) async fn recv_held(&mut self) -> Option<(Payload, Held)> {
        let q = self.rx.recv().await?;
        if let Some(l) = &self.items {
            l.sem.add_permits(l.units(q.weight.items) as usize);
        }
        self.gauge.popped(q.weight.items as usize);
        let held = Held {
            kib: self.kib.clone().map(|l| (l, q.weight.kib)),
        };
        Some((q.batch, held))
    }
}

/// The memory of a batch taken from a queue, still counted against it until dropped.
#[derive(Debug)]
pub(crate) struct Held {
    kib: Option<(Limit, u32)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((l, kib)) = &self.kib {
            l.sem.add_permits(l.units(*kib) as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memsize::encoded_len;
    use crate::payload::tests::spans;
    use crate::stats::{Stage, Stats};

    fn n(batches: usize) -> NonZeroUsize {
        NonZeroUsize::new(batches).unwrap()
    }

    #[tokio::test]
    async fn items_bound_a_queue_without_splitting_batches() {
        let stats = Stats::default();
        let (tx, mut rx) = queue("q", stats.queue(Stage::Exporter, "q", 100), n(100), 10, 0);
        let w6 = tx.weigh(&spans(6));
        tx.try_reserve(w6).unwrap().send(spans(6));
        assert_eq!(
            tx.try_reserve(w6).unwrap_err(),
            Unavailable::Full,
            "6 + 6 items > 10"
        );
        let w4 = tx.weigh(&spans(4));
        tx.try_reserve(w4).unwrap().send(spans(4));
        assert_eq!(rx.recv().await.unwrap().item_count(), 6);
        tx.try_reserve(w6).unwrap().send(spans(6));
        rx.recv().await.unwrap();
        rx.recv().await.unwrap();
        // A batch larger than the whole bound still goes in, alone.
        let w50 = tx.weigh(&spans(50));
        tx.try_reserve(w50).unwrap().send(spans(50));
        assert!(tx.try_reserve(tx.weigh(&spans(1))).is_err());
        assert_eq!(rx.recv().await.unwrap().item_count(), 50);
        assert!(tx.try_reserve(tx.weigh(&spans(10))).is_ok());
    }

    #[tokio::test]
    async fn a_dropped_inbox_releases_senders_waiting_for_room() {
        let stats = Stats::default();
        let (tx, rx) = queue("q", stats.queue(Stage::Exporter, "q", 10), n(10), 5, 0);
        tx.try_reserve(tx.weigh(&spans(5))).unwrap().send(spans(5));
        let w = tx.weigh(&spans(5));
        let waiting = tokio::spawn(async move { tx.reserve(w).await.map(|_| ()) });
        tokio::task::yield_now().await;
        drop(rx);
        let r = tokio::time::timeout(std::time::Duration::from_secs(1), waiting).await;
        assert_eq!(r.expect("the wait ends").unwrap(), Err(Unavailable::Closed));
    }

    #[tokio::test]
    async fn a_batch_being_exported_still_counts_against_the_memory_bound() {
        let stats = Stats::default();
        let (tx, mut rx) = queue("q", stats.queue(Stage::Exporter, "q", 100), n(100), 0, 40);
        let w = tx.weigh(&spans(100));
        tx.try_reserve(w).unwrap().send(spans(100));
        let (_batch, held) = rx.recv_held().await.unwrap();
        assert_eq!(stats.queues()[0].batches(), 0, "the batch left the queue");
        assert!(tx.try_reserve(w).is_err(), "its memory is still held");
        drop(held);
        assert!(tx.try_reserve(w).is_ok());
    }

    #[tokio::test]
    async fn memory_held_bounds_a_queue() {
        let stats = Stats::default();
        let (tx, mut rx) = queue("q", stats.queue(Stage::Exporter, "q", 100), n(100), 0, 40);
        let big = spans(100); // about 5 KiB encoded, over 20 KiB in memory
        let w = tx.weigh(&big);
        assert!(w.kib >= 20, "{w:?}");
        assert!(w.kib as usize > 3 * encoded_len(&big) / 1024, "{w:?}");
        tx.try_reserve(w).unwrap().send(big.clone());
        assert!(tx.try_reserve(w).is_err(), "two would exceed 40 KiB");
        rx.recv().await.unwrap();
        assert!(tx.try_reserve(w).is_ok());
    }
}
