//! Self-telemetry counters kept by the engine for every component: what each receiver accepted and refused, what
//! each exporter sent, failed to send or dropped, and how full its queue is.
//!
//! The engine only counts (atomics, no locks on the hot path); `collector` reads [`Stats::snapshot`] from
//! observable OTel instruments and serves them on the admin endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::payload::Signal;

/// Which stage a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Takes data in from outside.
    Receiver,
    /// A pipeline's input queue and processors.
    Pipeline,
    /// Sends data out.
    Exporter,
    /// Joins two pipelines.
    Connector,
}

impl Stage {
    /// Lowercase name, used as a metric attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Receiver => "receiver",
            Stage::Pipeline => "pipeline",
            Stage::Exporter => "exporter",
            Stage::Connector => "connector",
        }
    }
}

/// Counters of one component (one receiver, one pipeline, one exporter…) for one signal.
#[derive(Debug)]
pub struct ComponentStats {
    /// The stage.
    pub stage: Stage,
    /// The component or pipeline id.
    pub id: String,
    /// The signal counted.
    pub signal: Signal,
    /// Items taken in (receivers: accepted into a pipeline).
    pub accepted: AtomicU64,
    /// Items refused because a queue was full or a memory limiter refused (the sender was told to retry).
    pub refused: AtomicU64,
    /// Of `refused`, the items a `memory_limiter` refused.
    pub refused_memory: AtomicU64,
    /// Items handed on successfully (exporters: sent).
    pub sent: AtomicU64,
    /// Items an exporter gave up on after its own retries (receivers: items rejected as invalid).
    pub failed: AtomicU64,
    /// Items folded into an overflow series by a cardinality cap.
    pub overflowed: AtomicU64,
    /// Items dropped: a full exporter queue while other exporters took the batch, or still queued when the
    /// shutdown timeout ran out.
    pub dropped: AtomicU64,
    /// Receivers' own events, indexed by [`ReceiverEvent`].
    pub events: [AtomicU64; ReceiverEvent::ALL.len()],
    /// Exporters: when an export last succeeded (or the exporter started), in milliseconds since the Unix epoch.
    pub last_success_ms: AtomicU64,
    last_warning: LogLimiter,
    /// The last failure or drop, with when it happened (ms since the Unix epoch): the explorer's pipeline view.
    last_error: Mutex<Option<(u64, String)>>,
}

/// Events a receiver counts besides items: what the LLM proxy sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// A request forwarded by the LLM proxy.
    ProxyRequest,
    /// A response frame the LLM proxy could not parse.
    StreamParseError,
}

impl ReceiverEvent {
    /// Every event, in index order.
    pub const ALL: [ReceiverEvent; 2] =
        [ReceiverEvent::ProxyRequest, ReceiverEvent::StreamParseError];

    /// Metric name and description.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Self::ProxyRequest => (
                "llmtel.receiver.proxy_requests",
                "Requests the LLM proxy forwarded.",
            ),
            Self::StreamParseError => (
                "llmtel.receiver.stream_parse_errors",
                "Response frames the LLM proxy forwarded but could not parse.",
            ),
        }
    }
}

/// Sees every export as it completes; llmtel's self-telemetry records latency and batch size from it.
pub trait ExportObserver: Send + Sync + std::fmt::Debug {
    /// `exporter` sent (or failed to send, `ok` false) a batch of `items` of `signal` in `duration`.
    fn exported(
        &self,
        exporter: &str,
        signal: Signal,
        items: usize,
        duration: std::time::Duration,
        ok: bool,
    );
}

impl ComponentStats {
    fn new(stage: Stage, id: &str, signal: Signal) -> Self {
        Self {
            stage,
            id: id.to_owned(),
            signal,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refused_memory: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
            events: Default::default(),
            // Counted from creation: an exporter that never succeeded is stalled since it started.
            last_success_ms: AtomicU64::new(unix_millis()),
            last_warning: LogLimiter::default(),
            last_error: Mutex::new(None),
        }
    }

    /// Notes that an export just succeeded (what wedge detection measures from).
    pub fn record_success(&self) {
        self.last_success_ms.store(unix_millis(), Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` dropped items; warns on the first drop and then at most once a minute with the running total,
    /// never once per item.
    pub fn record_drop(&self, n: usize, reason: &str) {
        let total = self.dropped.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.note_error(|| format!("dropped: {reason}"));
        if self.may_warn() {
            tracing::warn!(
                stage = self.stage.as_str(),
                id = %self.id,
                signal = %self.signal,
                dropped_total = total,
                reason,
                "telemetry dropped (logged at most once a minute)"
            );
        }
    }

    /// Counts `n` items an exporter gave up on, warning like [`ComponentStats::record_drop`].
    pub fn record_failure(&self, n: usize, error: &dyn std::fmt::Display) {
        let total = self.failed.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.note_error(|| error.to_string());
        if self.may_warn() {
            tracing::warn!(
                stage = self.stage.as_str(),
                id = %self.id,
                signal = %self.signal,
                failed_total = total,
                %error,
                "export failed (logged at most once a minute)"
            );
        }
    }

    /// Keeps `message` as the last error; at most once a second, so a burst costs no formatting per batch.
    fn note_error(&self, message: impl FnOnce() -> String) {
        let now = unix_millis();
        let Ok(mut last) = self.last_error.try_lock() else {
            return;
        };
        if last
            .as_ref()
            .is_none_or(|(at, _)| now.saturating_sub(*at) >= 1000)
        {
            *last = Some((now, message()));
        }
    }

    /// The last failure or drop: when (ms since the Unix epoch) and what.
    pub fn last_error(&self) -> Option<(u64, String)> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn may_warn(&self) -> bool {
        self.last_warning.allow()
    }
}

/// Lets a warning through the first time and then at most once a minute, so a hot path never logs per item.
#[derive(Debug, Default)]
pub struct LogLimiter(Mutex<Option<Instant>>);

impl LogLimiter {
    /// Whether to log now.
    pub fn allow(&self) -> bool {
        let Ok(mut last) = self.0.lock() else {
            return false;
        };
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
            *last = Some(now);
            true
        } else {
            false
        }
    }
}

/// How full one queue is: a pipeline's input queue, or the queue in front of an exporter or connector.
#[derive(Debug)]
pub struct QueueGauge {
    /// The stage owning the queue.
    pub stage: Stage,
    /// The component or pipeline id.
    pub id: String,
    /// Capacity, in batches.
    pub capacity: usize,
    batches: AtomicU64,
    items: AtomicU64,
}

impl QueueGauge {
    /// Records a batch of `items` entering the queue.
    pub fn pushed(&self, items: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items as u64, Ordering::Relaxed);
    }

    /// Records a batch of `items` leaving the queue.
    pub fn popped(&self, items: usize) {
        self.batches.fetch_sub(1, Ordering::Relaxed);
        self.items.fetch_sub(items as u64, Ordering::Relaxed);
    }

    /// Batches queued now.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Items queued now.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }
}

/// A plain copy of one component's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stage.
    pub stage: Stage,
    /// The component or pipeline id.
    pub id: String,
    /// The signal.
    pub signal: Signal,
    /// See [`ComponentStats::accepted`].
    pub accepted: u64,
    /// See [`ComponentStats::refused`].
    pub refused: u64,
    /// See [`ComponentStats::refused_memory`].
    pub refused_memory: u64,
    /// See [`ComponentStats::sent`].
    pub sent: u64,
    /// See [`ComponentStats::failed`].
    pub failed: u64,
    /// See [`ComponentStats::dropped`].
    pub dropped: u64,
    /// See [`ComponentStats::overflowed`].
    pub overflowed: u64,
    /// See [`ComponentStats::events`].
    pub events: [u64; ReceiverEvent::ALL.len()],
    /// See [`ComponentStats::last_error`].
    pub last_error: Option<(u64, String)>,
}

/// Every component's counters.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    all: Arc<Mutex<Vec<Arc<ComponentStats>>>>,
    queues: Arc<Mutex<Vec<Arc<QueueGauge>>>>,
    observer: Arc<std::sync::OnceLock<Arc<dyn ExportObserver>>>,
}

impl Stats {
    /// The counters of (`stage`, `id`, `signal`), created on first use.
    pub fn component(&self, stage: Stage, id: &str, signal: Signal) -> Arc<ComponentStats> {
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = all
            .iter()
            .find(|c| c.stage == stage && c.id == id && c.signal == signal)
        {
            return c.clone();
        }
        let c = Arc::new(ComponentStats::new(stage, id, signal));
        all.push(c.clone());
        c
    }

    /// Sets the observer of every export (once; later calls are ignored). Set it before the graph starts.
    pub fn set_export_observer(&self, observer: Arc<dyn ExportObserver>) {
        let _ = self.observer.set(observer);
    }

    /// The export observer, if one is set.
    pub fn export_observer(&self) -> Option<Arc<dyn ExportObserver>> {
        self.observer.get().cloned()
    }

    /// Exporters whose queue is full and that have not exported successfully for `stalled_for`: wedged.
    pub fn wedged_exporters(&self, stalled_for: std::time::Duration) -> Vec<String> {
        let now = unix_millis();
        let limit = stalled_for.as_millis() as u64;
        let all = self.all.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.queues()
            .iter()
            .filter(|q| q.stage == Stage::Exporter && q.batches() >= q.capacity as u64)
            .filter(|q| {
                let last = all
                    .iter()
                    .filter(|c| c.stage == Stage::Exporter && c.id == q.id)
                    .map(|c| c.last_success_ms.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0);
                now.saturating_sub(last) > limit
            })
            .map(|q| q.id.clone())
            .collect()
    }

    /// A new gauge for a queue of `capacity` batches.
    pub fn queue(&self, stage: Stage, id: &str, capacity: usize) -> Arc<QueueGauge> {
        let q = Arc::new(QueueGauge {
            stage,
            id: id.to_owned(),
            capacity,
            batches: AtomicU64::new(0),
            items: AtomicU64::new(0),
        });
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        // A reload builds the same queue again: the new one replaces the old one's gauge (one series per queue).
        queues.retain(|o| !(o.stage == stage && o.id == id));
        queues.push(q.clone());
        q
    }

    /// Every queue gauge.
    pub fn queues(&self) -> Vec<Arc<QueueGauge>> {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Vec<Snapshot> {
        let all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|c| Snapshot {
                stage: c.stage,
                id: c.id.clone(),
                signal: c.signal,
                accepted: c.accepted.load(Ordering::Relaxed),
                refused: c.refused.load(Ordering::Relaxed),
                refused_memory: c.refused_memory.load(Ordering::Relaxed),
                sent: c.sent.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
                overflowed: c.overflowed.load(Ordering::Relaxed),
                events: std::array::from_fn(|i| c.events[i].load(Ordering::Relaxed)),
                last_error: c.last_error(),
            })
            .collect()
    }

    /// The snapshot of one component, if it exists.
    pub fn get(&self, stage: Stage, id: &str, signal: Signal) -> Option<Snapshot> {
        self.snapshot()
            .into_iter()
            .find(|s| s.stage == stage && s.id == id && s.signal == signal)
    }
}

/// Now, in nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn unix_millis() -> u64 {
    unix_nanos() / 1_000_000
}
