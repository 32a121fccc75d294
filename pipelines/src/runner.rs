//! Runs one exporter: takes batches from its queue and exports up to `num_consumers` of them at a time, counting
//! what was sent, rejected or given up on. With `sending_queue.storage`, batches go through the persistent queue
//! on disk ([`crate::persist`]) first, and a file is deleted only once its batch is done.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use llmtel_config::QueueConfig;

use crate::build_error::{BuildError, non_zero};
use crate::payload::{Payload, Signal};
use crate::persist::{self, DiskQueue};
use crate::queue::Inbox;
use crate::stage::{BoxFuture, ExportError, Exported, Exporter};
use crate::stats::ComponentStats;

/// One export's result, with what is needed to count it and clean up after it.
struct Done {
    signal: Signal,
    items: usize,
    took: std::time::Duration,
    result: Result<Exported, ExportError>,
    file: Option<PathBuf>,
}

/// The task behind one exporter.
pub(crate) struct ExporterRunner {
    name: String,
    exporter: Arc<dyn Exporter>,
    per_signal: [Arc<ComponentStats>; 3],
    /// Exports at a time; at least one, or nothing would ever be taken from the queue.
    consumers: NonZeroUsize,
    /// The persistent queue and how many batches it may hold (at least one, or it would never take the next).
    disk: Option<(DiskQueue, NonZeroUsize)>,
    observer: Option<Arc<dyn crate::stats::ExportObserver>>,
}

impl ExporterRunner {
    pub(crate) fn new(
        name: &str,
        exporter: Box<dyn Exporter>,
        per_signal: [Arc<ComponentStats>; 3],
        queue: &QueueConfig,
        observer: Option<Arc<dyn crate::stats::ExportObserver>>,
    ) -> Result<Self, BuildError> {
        let consumers = non_zero(name, "sending_queue.num_consumers", queue.num_consumers)?;
        let capacity = non_zero(name, "sending_queue.queue_size", queue.queue_size)?;
        let disk = match &queue.storage {
            None => None,
            Some(dir) => {
                let q = DiskQueue::open(std::path::Path::new(dir)).map_err(|message| {
                    BuildError::Component {
                        component: name.to_owned(),
                        message: format!("sending_queue.storage: {message}"),
                    }
                })?;
                if q.len() > 0 {
                    tracing::info!(exporter = name, batches = q.len(), dir = %dir, "persistent queue: sending batches left from the last run first");
                }
                Some((q, capacity))
            }
        };
        Ok(Self {
            name: name.to_owned(),
            exporter: Arc::from(exporter),
            per_signal,
            consumers,
            disk,
            observer,
        })
    }

    pub(crate) async fn run(mut self, inbox: Inbox) {
        match self.disk.take() {
            None => self.run_in_memory(inbox).await,
            Some((disk, capacity)) => self.run_on_disk(inbox, disk, capacity).await,
        }
        self.exporter.shutdown().await;
    }

    async fn run_in_memory(&self, mut inbox: Inbox) {
        let mut inflight = FuturesUnordered::new();
        let mut open = true;
        while open || !inflight.is_empty() {
            tokio::select! {
                Some(done) = inflight.next(), if !inflight.is_empty() => self.record(done),
                next = inbox.recv_held(), if open && inflight.len() < self.consumers.get() => match next {
                    // The batch's memory stays counted against the queue until its export and retries end.
                    Some((batch, held)) => {
                        let export = self.export(batch, None);
                        inflight.push(Box::pin(async move {
                            let done = export.await;
                            drop(held);
                            done
                        }) as BoxFuture<'static, Done>);
                    }
                    None => open = false,
                },
            }
        }
    }

    async fn run_on_disk(&self, mut inbox: Inbox, mut disk: DiskQueue, capacity: NonZeroUsize) {
        let capacity = capacity.get();
        let mut inflight = FuturesUnordered::new();
        let mut open = true;
        loop {
            while inflight.len() < self.consumers.get() {
                let Some(path) = disk.pop() else { break };
                let read_path = path.clone();
                match tokio::task::spawn_blocking(move || persist::read(&read_path)).await {
                    Ok(Ok(batch)) => inflight.push(self.export(batch, Some(path))),
                    Ok(Err(e)) => {
                        tracing::warn!(exporter = %self.name, error = %e, "persistent queue: skipping a damaged batch file (renamed *.corrupt)");
                        persist::quarantine(&path);
                    }
                    Err(e) => {
                        tracing::error!(exporter = %self.name, error = %e, "persistent queue: read task failed")
                    }
                }
            }
            if !open && inflight.is_empty() && disk.len() == 0 {
                break;
            }
            tokio::select! {
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    if let Some(file) = &done.file {
                        persist::remove(file);
                    }
                    self.record(done);
                }
                next = inbox.recv(), if open && disk.len() < capacity => match next {
                    Some(batch) => {
                        let (signal, items) = (batch.signal(), batch.item_count());
                        let path = disk.next_path();
                        let write_path = path.clone();
                        match tokio::task::spawn_blocking(move || persist::write(&write_path, batch)).await {
                            Ok(Ok(())) => disk.push(path),
                            Ok(Err(e)) => self.stats(signal).record_drop(items, &format!("persistent queue: {e}")),
                            Err(e) => self.stats(signal).record_drop(items, &format!("persistent queue: {e}")),
                        }
                    }
                    None => open = false,
                },
                else => break,
            }
        }
    }

    fn export(&self, batch: Payload, file: Option<PathBuf>) -> BoxFuture<'static, Done> {
        let exporter = self.exporter.clone();
        let (signal, items) = (batch.signal(), batch.item_count());
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = exporter.export(batch).await;
            Done {
                signal,
                items,
                took: started.elapsed(),
                result,
                file,
            }
        })
    }

    fn stats(&self, signal: Signal) -> &ComponentStats {
        &self.per_signal[signal.index()]
    }

    fn record(&self, done: Done) {
        let stats = self.stats(done.signal);
        if let Some(o) = &self.observer {
            o.exported(
                &self.name,
                done.signal,
                done.items,
                done.took,
                done.result.is_ok(),
            );
        }
        if done.result.is_ok() {
            stats.record_success();
        }
        match done.result {
            Ok(Exported {
                rejected,
                overflowed,
            }) => {
                ComponentStats::add(&stats.overflowed, overflowed);
                let rejected = rejected.min(done.items);
                ComponentStats::add(&stats.sent, done.items - rejected);
                if rejected > 0 {
                    stats.record_failure(
                        rejected,
                        &"rejected by the backend (partial success; not retried)",
                    );
                }
            }
            Err(e) => stats.record_failure(done.items, &e),
        }
    }
}
