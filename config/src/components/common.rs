//! Settings several component types share: the sending queue in front of exporters and connectors, and attribute
//! maps.

use std::collections::BTreeMap;

use crate::config_struct;
use crate::decode::{Check, Ctx, child};

config_struct! {
    /// The bounded queue in front of every exporter and connector. A pipeline hands each exporter its own copy
    /// of each batch. When this queue is full: with `block_on_overflow` the pipeline waits for room, so its own
    /// input queue fills and receivers refuse with UNAVAILABLE / 503 (nothing accepted is lost); without it, this
    /// exporter's copy is dropped (counted, logged once a minute) while the others still get it, and only when
    /// every exporter of the pipeline is full does the pipeline wait. Batches are never split by the queue.
    pub struct QueueConfig {
        /// Batches waiting to be exported, at most.
        queue_size: usize = 64,
        /// Items (spans, data points, log records) waiting, at most; 0 means no bound beyond `queue_size`. A
        /// single batch larger than this is still taken when the queue is empty.
        max_items: usize = 0,
        /// Memory the waiting batches hold, in MiB, at most (an estimate of their decoded size, several times
        /// their encoded size); 0 means no bound. What bounds memory during an outage. A single batch larger than
        /// this is still taken when the queue is empty.
        max_size_mib: u64 = 16,
        /// When the queue is full, make the pipeline wait (back-pressure to the receivers, which refuse) instead
        /// of dropping this exporter's copy. On by default for exporters that send to a backend (`otlp`,
        /// `otlp_http`, `prometheusremotewrite`), off for the local ones (`debug`, `explorer`, `prometheus`) and
        /// connectors, so a slow log never costs the backend's copy and a down backend never turns into drops.
        block_on_overflow: bool = false,
        /// Batches exported at the same time.
        num_consumers: usize = 1,
        /// A directory: batches are written there as they enter the queue and deleted once sent (or given up on),
        /// so they survive a restart of llmtel. Unset: the queue lives in memory only.
        storage: Option<String> = None,
    }
}

impl Check for QueueConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.queue_size == 0 {
            ctx.error(&child(path, "queue_size"), "0: expected at least 1");
        }
        if self.num_consumers == 0 || self.num_consumers > 256 {
            ctx.error(
                &child(path, "num_consumers"),
                format!("{}: expected 1 to 256", self.num_consumers),
            );
        }
        if self.storage.as_deref().is_some_and(|s| s.trim().is_empty()) {
            ctx.error(&child(path, "storage"), "empty: expected a directory path");
        }
    }
}

/// Map from attribute key to value, for resource attributes.
pub type Attributes = BTreeMap<String, String>;
