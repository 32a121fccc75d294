//! The running graph: built from a validated config ([`ValidConfig`]), it owns every queue and task, and shuts
//! down in order. Each stage is built from values of types that hold its invariants (non-zero sizes, a batch cap
//! not below its trigger), so a stage never relies on validation having run.
//!
//! Start: exporters and connectors first (their queues must exist before anything sends), then one task per
//! pipeline, then receivers, which bind their listeners last. Shutdown needs no ordering logic of its own: cancelling
//! the receivers drops their [`Output`]s; a pipeline whose every sender is gone drains its queue, flushes its
//! processors and ends, dropping its senders to exporters and connectors; they in turn drain and end. Connectors form
//! no cycle (validation refuses them), so the cascade always finishes. A shutdown timeout bounds the whole drain.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::select_all;
use llmtel_config::{
    ComponentId, ConnectorConfig, ExporterConfig, ProcessorConfig, ReceiverConfig, ValidConfig,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::build_error::BuildError;
use crate::build_error::non_zero;
use crate::connectors::forward::ForwardConnector;
use crate::exporters::debug::DebugExporter;
use crate::memory_gate::MemoryGate;
use crate::payload::{Payload, Signal};
use crate::processors::attributes::AttributesProcessor;
use crate::processors::batch::BatchProcessor;
use crate::processors::memory_limiter::MemoryLimiterProcessor;
use crate::processors::metric_transform::MetricTransformProcessor;
use crate::queue::{QueueSender, Unavailable, deliver, queue};
use crate::runner::ExporterRunner;
use crate::stage::{Connector, Exporter, Inbox, Output, Processor, Receiver, Route};
use crate::stats::{ComponentStats, QueueGauge, Stage, Stats};

/// Builds the components whose code lives outside this crate (receivers, network exporters). Exporters that need no
/// network are built here by [`builtin_exporter`]; a factory may also replace them (tests do, to observe output).
pub trait Factory: Send + Sync {
    /// Builds receiver `id`.
    fn receiver(
        &self,
        id: &ComponentId,
        cfg: &ReceiverConfig,
    ) -> Result<Box<dyn Receiver>, BuildError>;

    /// Builds exporter `id`.
    fn exporter(
        &self,
        id: &ComponentId,
        cfg: &ExporterConfig,
    ) -> Result<Box<dyn Exporter>, BuildError> {
        builtin_exporter(id, cfg)
    }
}

/// The exporters implemented in this crate.
pub fn builtin_exporter(
    id: &ComponentId,
    cfg: &ExporterConfig,
) -> Result<Box<dyn Exporter>, BuildError> {
    match cfg {
        ExporterConfig::Debug(c) => Ok(Box::new(DebugExporter::new(id.as_str(), c))),
        // A store of its own, read by nobody: the collector's factory builds one the admin endpoint shows.
        ExporterConfig::Explorer(c) => Ok(Box::new(
            crate::exporters::explorer::ExplorerExporter::new(std::sync::Arc::new(
                crate::explorer::RequestStore::new(crate::explorer::Limits::new(c)),
            )),
        )),
        ExporterConfig::Otlp(_)
        | ExporterConfig::OtlpHttp(_)
        | ExporterConfig::Prometheus(_)
        | ExporterConfig::PrometheusRemoteWrite(_) => Err(BuildError::Component {
            component: format!("exporters.{id}"),
            message: "a network exporter: built by the collector's factory".to_owned(),
        }),
    }
}

fn build_processor(name: &str, cfg: &ProcessorConfig) -> Result<Box<dyn Processor>, BuildError> {
    Ok(match cfg {
        ProcessorConfig::Batch(c) => {
            Box::new(
                BatchProcessor::try_new(c).map_err(|e| BuildError::Component {
                    component: format!("processors.{name}"),
                    message: e.to_string(),
                })?,
            )
        }
        // Its refusals happen at the pipeline's inlet (the gate built in `Topology::start`); here it passes on.
        ProcessorConfig::MemoryLimiter(_) => Box::new(MemoryLimiterProcessor),
        ProcessorConfig::Attributes(c) => Box::new(AttributesProcessor::new(c)),
        ProcessorConfig::MetricTransform(c) => Box::new(MetricTransformProcessor::new(c)),
    })
}

fn build_connector(id: &str, cfg: &ConnectorConfig) -> Box<dyn Connector> {
    match cfg {
        ConnectorConfig::Forward(_) => Box::new(ForwardConnector),
        ConnectorConfig::GenAiMetrics(c) => {
            Box::new(crate::connectors::genai_metrics::GenAiMetricsConnector::new(id, c.clone()))
        }
    }
}

/// The queue in front of an exporter or connector, as one pipeline sees it.
#[derive(Debug)]
struct Target {
    queue: QueueSender,
    stats: Arc<ComponentStats>,
    /// `sending_queue.block_on_overflow`: when full, the pipeline waits instead of dropping this copy.
    block: bool,
}

/// A running graph.
#[derive(Debug)]
pub struct Topology {
    shutdown: CancellationToken,
    receivers_done: CancellationToken,
    receivers: Vec<(String, JoinHandle<()>)>,
    tasks: Vec<(String, JoinHandle<()>)>,
    stats: Stats,
    /// This graph's own queues (another graph started from the same `Stats` by a reload has its own).
    queues: Vec<Arc<QueueGauge>>,
}

/// What happened at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every queue drained before the timeout.
    pub drained: bool,
    /// Items still queued when the timeout ran out (lost).
    pub items_lost: u64,
    /// Components that had not finished by then.
    pub unfinished: Vec<String>,
}

impl Topology {
    /// Builds and starts everything `cfg` describes.
    pub async fn start(
        cfg: &ValidConfig,
        factory: &dyn Factory,
        stats: Stats,
    ) -> Result<Topology, BuildError> {
        let shutdown = CancellationToken::new();
        let receivers_done = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut gauges = Vec::new();
        let pipelines = &cfg.service.pipelines;
        let find = |name: &str| -> Result<ComponentId, BuildError> {
            ComponentId::parse(name).map_err(BuildError::Invalid)
        };
        let signal_of = |pid: &str| {
            llmtel_config::ServiceConfig::pipeline_signal(pid)
                .ok_or_else(|| BuildError::Invalid(format!("pipeline {pid:?} names no signal")))
        };

        // One gate per memory_limiter, shared by the pipelines listing it: they measure the same process.
        let mut gates: BTreeMap<&str, Arc<MemoryGate>> = BTreeMap::new();
        for (name, pcfg) in &cfg.processors {
            if let ProcessorConfig::MemoryLimiter(c) = pcfg {
                let gate =
                    MemoryGate::try_new(name.as_str(), c).map_err(|e| BuildError::Component {
                        component: format!("processors.{name}"),
                        message: e.to_string(),
                    })?;
                gates.insert(name.as_str(), Arc::new(gate));
            }
        }

        // Pipeline input queues: the senders go into Outputs, the receivers into the pipeline tasks. A pipeline
        // whose processors include a memory_limiter gets its gate at the inlet, where a refusal can still happen.
        let mut inlets: BTreeMap<&str, (Signal, QueueSender)> = BTreeMap::new();
        let mut inboxes: BTreeMap<&str, Inbox> = BTreeMap::new();
        for (pid, p) in pipelines {
            let size = non_zero(
                &format!("service.pipelines.{pid}"),
                "queue_size",
                p.queue_size,
            )?;
            let gauge = stats.queue(Stage::Pipeline, pid, size.get());
            gauges.push(gauge.clone());
            let (mut tx, inbox) = queue(pid, gauge, size, 0, 0);
            if let Some(gate) = p.processors.iter().find_map(|n| gates.get(n.as_str())) {
                tx = tx.gated(gate.clone());
            }
            inboxes.insert(pid, inbox);
            inlets.insert(pid, (signal_of(pid)?, tx));
        }

        // Routes from a receiver or connector to the pipelines listing it, grouped by signal.
        let output_for = |component: &str, stage: Stage| -> Output {
            let mut by_signal: Vec<Route> = Vec::new();
            for (pid, p) in pipelines {
                let Some((signal, inlet)) = inlets.get(pid.as_str()) else {
                    continue;
                };
                if !p.receivers.iter().any(|r| r == component) {
                    continue;
                }
                match by_signal.iter_mut().find(|r| r.signal == *signal) {
                    Some(route) => route.inlets.push(inlet.clone()),
                    None => by_signal.push(Route {
                        signal: *signal,
                        inlets: vec![inlet.clone()],
                        stats: stats.component(stage, component, *signal),
                    }),
                }
            }
            Output::new(component, by_signal)
        };

        // Exporters and connectors, each behind its own queue.
        let mut queues: BTreeMap<&str, (Stage, QueueSender)> = BTreeMap::new();
        for name in pipelines.values().flat_map(|p| p.exporters.iter()) {
            if queues.contains_key(name.as_str()) {
                continue;
            }
            let id = find(name)?;
            let (stage, qcfg) = if let Some(ecfg) = cfg.exporters.get(&id) {
                (Stage::Exporter, ecfg.sending_queue())
            } else if let Some(ccfg) = cfg.connectors.get(&id) {
                (Stage::Connector, ccfg.sending_queue())
            } else {
                return Err(BuildError::Invalid(format!(
                    "{name:?} is neither an exporter nor a connector"
                )));
            };
            let size = non_zero(name, "sending_queue.queue_size", qcfg.queue_size)?;
            let gauge = stats.queue(stage, name, size.get());
            gauges.push(gauge.clone());
            let (tx, inbox) = queue(
                name,
                gauge,
                size,
                qcfg.max_items as u64,
                qcfg.max_size_mib.saturating_mul(1024),
            );
            let task = match (cfg.exporters.get(&id), cfg.connectors.get(&id)) {
                (Some(ecfg), _) => {
                    let exporter = factory.exporter(&id, ecfg)?;
                    let per_signal = Signal::ALL.map(|s| stats.component(Stage::Exporter, name, s));
                    let runner = ExporterRunner::new(
                        name,
                        exporter,
                        per_signal,
                        qcfg,
                        stats.export_observer(),
                    )?;
                    tokio::spawn(runner.run(inbox))
                }
                (None, Some(ccfg)) => tokio::spawn(
                    build_connector(name, ccfg).run(inbox, output_for(name, Stage::Connector)),
                ),
                (None, None) => continue,
            };
            tasks.push((format!("{} {name}", stage.as_str()), task));
            queues.insert(name, (stage, tx));
        }

        // One task per pipeline.
        for (pid, p) in pipelines {
            let signal = signal_of(pid)?;
            let mut processors = Vec::new();
            for name in &p.processors {
                let pcfg = cfg.processors.get(&find(name)?).ok_or_else(|| {
                    BuildError::Invalid(format!("processor {name:?} is not defined"))
                })?;
                processors.push(build_processor(name, pcfg)?);
            }
            let fanout = p
                .exporters
                .iter()
                .filter_map(|e| {
                    let (stage, tx) = queues.get(e.as_str())?;
                    let id = ComponentId::parse(e).ok()?;
                    let block = match (cfg.exporters.get(&id), cfg.connectors.get(&id)) {
                        (Some(ecfg), _) => ecfg.sending_queue().block_on_overflow,
                        (None, Some(ccfg)) => ccfg.sending_queue().block_on_overflow,
                        (None, None) => false,
                    };
                    Some(Target {
                        queue: tx.clone(),
                        stats: stats.component(*stage, e, signal),
                        block,
                    })
                })
                .collect();
            let Some(input) = inboxes.remove(pid.as_str()) else {
                continue;
            };
            // A pipeline fed only by receivers closes its queue once they have stopped, even if some sender was
            // leaked; one fed by a connector waits for the connector to finish instead, so nothing in flight is lost.
            let fed_by_connector = p
                .receivers
                .iter()
                .any(|r| cfg.connectors.keys().any(|c| c.as_str() == r));
            let close_on = (!fed_by_connector).then(|| receivers_done.clone());
            let pipeline = PipelineTask {
                id: pid.clone(),
                input,
                processors,
                fanout,
                stats: stats.component(Stage::Pipeline, pid, signal),
                close_on,
            };
            tasks.push((format!("pipeline {pid}"), tokio::spawn(pipeline.run())));
        }
        // From here on only pipelines hold exporter senders and only Outputs hold pipeline senders.
        drop(queues);

        let mut receivers: Vec<(String, Box<dyn Receiver>, Output)> = Vec::new();
        for name in pipelines.values().flat_map(|p| p.receivers.iter()) {
            if receivers.iter().any(|(n, _, _)| n == name) {
                continue;
            }
            if let Some(rcfg) = cfg.receivers.get(&find(name)?) {
                let receiver = factory.receiver(&find(name)?, rcfg)?;
                receivers.push((name.clone(), receiver, output_for(name, Stage::Receiver)));
            }
        }
        drop(inlets);

        let mut topology = Topology {
            shutdown,
            receivers_done,
            receivers: Vec::new(),
            tasks,
            stats,
            queues: gauges,
        };
        for (name, receiver, output) in receivers {
            match receiver
                .start(output, topology.shutdown.child_token())
                .await
            {
                Ok(serve) => topology
                    .receivers
                    .push((format!("receiver {name}"), tokio::spawn(serve))),
                Err(e) => {
                    topology.shutdown(Duration::from_secs(1)).await;
                    return Err(e.into());
                }
            }
        }
        Ok(topology)
    }

    /// Every component's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops receivers, lets queued data drain to the exporters for at most `timeout`, then ends every task.
    pub async fn shutdown(self, timeout: Duration) -> ShutdownReport {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut unfinished = Vec::new();
        for (name, handle) in self.receivers {
            join_until(deadline, name, handle, &mut unfinished).await;
        }
        self.receivers_done.cancel();
        for (name, handle) in self.tasks {
            join_until(deadline, name, handle, &mut unfinished).await;
        }
        let items_lost: u64 = self.queues.iter().map(|q| q.items()).sum();
        if !unfinished.is_empty() || items_lost > 0 {
            tracing::warn!(
                timeout = ?timeout,
                items_lost,
                unfinished = ?unfinished,
                "shutdown timeout ran out before every queue drained"
            );
        }
        ShutdownReport {
            drained: unfinished.is_empty() && items_lost == 0,
            items_lost,
            unfinished,
        }
    }
}

/// Waits for a task until `deadline`; aborts it and notes its name if it has not finished by then.
async fn join_until(
    deadline: tokio::time::Instant,
    name: String,
    handle: JoinHandle<()>,
    unfinished: &mut Vec<String>,
) {
    let abort = handle.abort_handle();
    match tokio::time::timeout_at(deadline, handle).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(component = %name, error = %e, "component ended abnormally"),
        Err(_) => {
            abort.abort();
            unfinished.push(name);
        }
    }
}

/// One pipeline: its input queue, its processors in order, and the queues of its exporters.
struct PipelineTask {
    id: String,
    input: Inbox,
    processors: Vec<Box<dyn Processor>>,
    fanout: Vec<Target>,
    stats: Arc<ComponentStats>,
    close_on: Option<CancellationToken>,
}

impl PipelineTask {
    async fn run(mut self) {
        let close_on = self.close_on.take().unwrap_or_default();
        let mut closed = false;
        loop {
            let deadline = self.processors.iter().filter_map(|p| p.deadline()).min();
            let next = tokio::select! {
                b = self.input.recv() => b,
                () = close_on.cancelled(), if !closed => {
                    self.input.close();
                    closed = true;
                    continue;
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    let now = Instant::now();
                    for i in 0..self.processors.len() {
                        if self.processors[i].deadline().is_some_and(|d| d <= now) {
                            let mut out = Vec::new();
                            self.processors[i].on_deadline(now, &mut out);
                            self.forward(i + 1, out).await;
                        }
                    }
                    continue;
                }
            };
            let Some(batch) = next else { break };
            ComponentStats::add(&self.stats.accepted, batch.item_count());
            self.forward(0, vec![batch]).await;
        }
        // Every sender is gone: flush processors front to back, so what one releases passes through the rest.
        for i in 0..self.processors.len() {
            let mut out = Vec::new();
            self.processors[i].flush(&mut out);
            self.forward(i + 1, out).await;
        }
        tracing::debug!(pipeline = %self.id, "pipeline drained");
    }

    /// Runs `batches` through processors `from..` and hands the result to the exporters.
    async fn forward(&mut self, from: usize, mut batches: Vec<Payload>) {
        for p in self.processors.iter_mut().skip(from) {
            let mut next = Vec::with_capacity(batches.len());
            for b in batches {
                p.process(b, &mut next);
            }
            batches = next;
        }
        for b in batches {
            if !b.is_empty() {
                ComponentStats::add(&self.stats.sent, b.item_count());
                fan_out(&self.fanout, b).await;
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}

/// Gives each target its copy of `batch`.
///
/// A full target that blocks on overflow (`sending_queue.block_on_overflow`, the default of exporters that send to
/// a backend) is waited for: the pipeline stalls, its input queue fills and the receivers refuse, so a backend's
/// back-pressure reaches the clients instead of turning into drops. The targets with room get their copies first.
/// A full target that does not block is skipped (its copy dropped and counted) as long as some other target took
/// the batch, so a slow log never stalls the backend's copy; when no target took it, the pipeline waits for the
/// first with room, so backpressure reaches the receivers instead of data being lost.
async fn fan_out(targets: &[Target], batch: Payload) {
    let items = batch.item_count();
    let mut reserved = Vec::with_capacity(targets.len());
    let mut full = Vec::new();
    let mut blocked = Vec::new();
    for t in targets {
        let weight = t.queue.weigh(&batch);
        match t.queue.try_reserve(weight) {
            Ok(r) => reserved.push(r),
            Err(Unavailable::Full | Unavailable::OverMemory(_)) if t.block => {
                blocked.push((t, weight))
            }
            Err(Unavailable::Full | Unavailable::OverMemory(_)) => full.push((t, weight)),
            Err(Unavailable::Closed) => t.stats.record_drop(items, "exporter stopped"),
        }
    }
    if !blocked.is_empty() {
        // The copies for the targets with room go now; the blocking ones are waited on in turn.
        for (t, _) in full.drain(..) {
            t.stats
                .record_drop(items, "queue full while other exporters took the batch");
        }
        if !reserved.is_empty() {
            deliver(std::mem::take(&mut reserved), batch.clone());
        }
        let last = blocked.len() - 1;
        let mut batch = Some(batch);
        for (i, (t, w)) in blocked.into_iter().enumerate() {
            match t.queue.reserve(w).await {
                Ok(r) => {
                    let copy = if i == last {
                        batch.take()
                    } else {
                        batch.clone()
                    };
                    if let Some(copy) = copy {
                        r.send(copy);
                    }
                }
                Err(_) => t.stats.record_drop(items, "exporter stopped"),
            }
        }
        return;
    }
    // Nobody took the batch yet: wait for the first target with room (a target that stopped meanwhile is dropped
    // from the wait, and the others are waited on again), then give the rest one more try.
    while reserved.is_empty() && !full.is_empty() {
        let waits = full.iter().map(|(t, w)| Box::pin(t.queue.reserve(*w)));
        let (first, i, _) = select_all(waits).await;
        let (waited, _) = full.remove(i);
        match first {
            Ok(r) => reserved.push(r),
            Err(_) => {
                waited.stats.record_drop(items, "exporter stopped");
                continue;
            }
        }
        let mut still_full = Vec::new();
        for (t, w) in full {
            match t.queue.try_reserve(w) {
                Ok(r) => reserved.push(r),
                Err(_) => still_full.push((t, w)),
            }
        }
        full = still_full;
    }
    for (t, _) in full {
        t.stats
            .record_drop(items, "queue full while other exporters took the batch");
        tracing::debug!(target_id = %t.queue.id, items, "copy dropped for a full exporter queue");
    }
    deliver(reserved, batch);
}

#[cfg(test)]
mod tests;
