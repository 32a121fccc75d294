//! The four stage traits and the handle receivers push into.
//!
//! Data flows receiver → [`Output`] → pipeline input queue → processors → one bounded queue per exporter or
//! connector → [`Exporter`] / [`Connector`]. Every queue is bounded. Receivers never block on a full queue: they get
//! [`SendError::Full`] and turn it into a refusal the client retries. Connectors, which sit inside the graph, wait
//! instead, so backpressure travels upstream to the receivers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::payload::{Payload, Signal};
pub use crate::queue::Inbox;
use crate::queue::{QueueSender, Unavailable, deliver};
use crate::stats::ComponentStats;

/// A boxed, sendable future; stages are built from config at run time, so their futures are boxed at that edge.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A receiver brings data in from outside (a network listener, a sampler, the LLM proxy).
///
/// Contract:
/// - [`Receiver::start`] is called once, at start-up, after every pipeline and exporter is running. It binds what it
///   needs and returns `Err` (naming the address or resource) if it cannot: llmtel then exits with that error.
/// - On success it returns the future that serves. That future pushes into `output` with [`Output::try_send`] and
///   turns [`SendError::Full`] and [`SendError::OverMemory`] into a refusal the client can retry (gRPC UNAVAILABLE, HTTP 503 + Retry-After). It
///   must not wait for queue space, and must not drop data silently.
/// - When `shutdown` is cancelled it stops accepting, finishes requests in flight, drops every clone of `output`,
///   and returns. Dropping the outputs is what lets the pipelines drain and end.
pub trait Receiver: Send + 'static {
    /// Binds and returns the serving future.
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>>;
}

/// A processor transforms batches inside one pipeline.
///
/// Contract: synchronous and free of I/O; called by one pipeline task only, never concurrently; each pipeline gets
/// its own instance. It may hold data back (batching) and release it from [`Processor::on_deadline`] or
/// [`Processor::flush`]. Whatever it pushes into `out` goes on to the next processor, then to the exporters.
pub trait Processor: Send + 'static {
    /// Handles one batch; pushes zero or more batches to `out`.
    fn process(&mut self, batch: Payload, out: &mut Vec<Payload>);

    /// When the processor next wants [`Processor::on_deadline`] called, if it holds data.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Called at or after [`Processor::deadline`].
    fn on_deadline(&mut self, _now: Instant, _out: &mut Vec<Payload>) {}

    /// Called once at shutdown: release everything held.
    fn flush(&mut self, _out: &mut Vec<Payload>) {}
}

/// An exporter sends batches out of llmtel.
///
/// Contract: the engine takes batches from the exporter's own bounded queue and calls [`Exporter::export`] for up
/// to `sending_queue.num_consumers` batches at a time (so `export` takes `&self`). The exporter owns its timeouts
/// and retries: when `export` returns, the batch is done. `Ok` may report items the backend rejected (an OTLP
/// partial success); `Err` means the whole batch was given up on. The engine counts both as failed items and logs,
/// rate limited. An export future may be dropped before it completes (shutdown with a persistent queue): the batch
/// is then sent again after the restart. [`Exporter::shutdown`] is called once after the queue has drained.
pub trait Exporter: Send + Sync + 'static {
    /// Sends one batch.
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>>;

    /// Releases resources; called once, after the last export.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The result of a successful export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Items the backend accepted the request for but rejected (OTLP partial success). Not retried.
    pub rejected: usize,
    /// Items folded into an overflow series by a cardinality cap (they are not lost, but lose their labels).
    pub overflowed: usize,
}

/// A connector is an exporter in one pipeline and a receiver in another (it may change the signal).
///
/// Contract: [`Connector::run`] is spawned once. It reads batches from `input` until it yields `None` (every
/// upstream pipeline has ended), pushes what it produces with [`Output::send`] (which waits for queue space, so
/// backpressure reaches the upstream receivers), flushes anything it holds, and returns. Dropping `output` at the
/// end lets the downstream pipelines end.
pub trait Connector: Send + 'static {
    /// Runs until the input closes.
    fn run(self: Box<Self>, input: Inbox, output: Output) -> BoxFuture<'static, ()>;
}

/// A receiver could not start.
#[derive(Debug, thiserror::Error)]
#[error("{component}: {message}")]
pub struct StartError {
    /// The component id.
    pub component: String,
    /// What failed, e.g. `bind 127.0.0.1:4317: address already in use`.
    pub message: String,
}

/// An exporter gave up on a batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(pub String);

/// Why [`Output::try_send`] did not take a batch.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// A pipeline's input queue is full: refuse, the client should retry later.
    #[error("pipeline {pipeline} is full ({capacity} batches queued); retry later")]
    Full {
        /// The pipeline whose queue is full.
        pipeline: String,
        /// Its capacity in batches.
        capacity: usize,
    },
    /// A `memory_limiter` of a pipeline refuses: llmtel's memory is above its soft limit; retry later.
    #[error("pipeline {pipeline}: {over}; retry later")]
    OverMemory {
        /// The pipeline whose memory limiter refused.
        pipeline: String,
        /// The memory seen and the limit.
        over: crate::memory_gate::OverLimit,
    },
    /// No pipeline takes this signal from this receiver.
    #[error("no pipeline takes {0} from this receiver")]
    NoPipeline(Signal),
    /// llmtel is shutting down.
    #[error("llmtel is shutting down")]
    Closed,
}

/// Where a receiver or connector sends data: the input queues of every pipeline that lists it, by signal.
///
/// A batch goes into all of that signal's pipelines or into none: space is reserved in every queue first, so a
/// refusal never leaves a partial delivery behind.
#[derive(Debug, Clone)]
pub struct Output {
    component: Arc<str>,
    routes: Arc<[Route]>,
}

/// The pipelines of one signal that an [`Output`] feeds, and the counters of that output for the signal.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) signal: Signal,
    pub(crate) inlets: Vec<QueueSender>,
    pub(crate) stats: Arc<ComponentStats>,
}

impl Output {
    pub(crate) fn new(component: &str, routes: Vec<Route>) -> Self {
        Self {
            component: component.into(),
            routes: routes.into(),
        }
    }

    /// The id of the component this output belongs to.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// How many handles to this output exist, this one included. A receiver that has stopped holds none (its
    /// contract above): a leaked one would keep its pipelines waiting. The receiver compliance test checks it.
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.routes)
    }

    /// Whether some pipeline takes `signal` from this component.
    pub fn accepts(&self, signal: Signal) -> bool {
        self.routes.iter().any(|r| r.signal == signal)
    }

    fn route(&self, signal: Signal) -> Result<(&[QueueSender], &ComponentStats), SendError> {
        self.routes
            .iter()
            .find(|r| r.signal == signal)
            .map(|r| (r.inlets.as_slice(), r.stats.as_ref()))
            .ok_or(SendError::NoPipeline(signal))
    }

    /// Counts one receiver event (proxy requests, stream parse errors) for llmtel's own metrics.
    pub fn record_event(&self, event: crate::stats::ReceiverEvent) {
        if let Some(r) = self.routes.first() {
            let i = crate::stats::ReceiverEvent::ALL
                .iter()
                .position(|e| *e == event)
                .unwrap_or(0);
            r.stats.events[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Counts `n` items of `signal` that the receiver rejected as invalid (never retried by the sender).
    pub fn record_rejected(&self, signal: Signal, n: usize) {
        if let Some(r) = self.routes.iter().find(|r| r.signal == signal) {
            ComponentStats::add(&r.stats.failed, n);
        }
    }

    /// Hands `batch` to every pipeline of its signal, or to none if any of their queues is full. Never waits.
    pub fn try_send(&self, batch: Payload) -> Result<(), SendError> {
        let (inlets, stats) = self.route(batch.signal())?;
        let items = batch.item_count();
        let mut reserved = Vec::with_capacity(inlets.len());
        for inlet in inlets {
            match inlet.try_reserve(inlet.weigh(&batch)) {
                Ok(r) => reserved.push(r),
                Err(why) => {
                    ComponentStats::add(&stats.refused, items);
                    return Err(match why {
                        Unavailable::Full => SendError::Full {
                            pipeline: inlet.id.clone(),
                            capacity: inlet.gauge.capacity,
                        },
                        Unavailable::OverMemory(over) => {
                            ComponentStats::add(&stats.refused_memory, items);
                            SendError::OverMemory {
                                pipeline: inlet.id.clone(),
                                over,
                            }
                        }
                        Unavailable::Closed => SendError::Closed,
                    });
                }
            }
        }
        deliver(reserved, batch);
        ComponentStats::add(&stats.accepted, items);
        Ok(())
    }

    /// Hands `batch` to every pipeline of its signal, waiting for queue space. For connectors and other stages
    /// inside the graph, where waiting is how backpressure travels upstream.
    pub async fn send(&self, batch: Payload) -> Result<(), SendError> {
        let (inlets, stats) = self.route(batch.signal())?;
        let items = batch.item_count();
        let mut reserved = Vec::with_capacity(inlets.len());
        for inlet in inlets {
            match inlet.reserve(inlet.weigh(&batch)).await {
                Ok(r) => reserved.push(r),
                Err(_) => {
                    ComponentStats::add(&stats.refused, items);
                    return Err(SendError::Closed);
                }
            }
        }
        deliver(reserved, batch);
        ComponentStats::add(&stats.accepted, items);
        Ok(())
    }
}
