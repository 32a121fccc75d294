//! The engine end to end in one process: a test receiver hands out its [`Output`], test exporters record what
//! reaches them and can be held shut to simulate a slow backend.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::{Semaphore, oneshot};

use super::*;
use crate::payload::tests::spans;
use crate::stage::{BoxFuture, ExportError, Exported, SendError, StartError};

/// Records every batch; when `gate` is set, each export first waits for a permit from it.
#[derive(Clone, Default)]
struct Sink {
    items: Arc<Mutex<usize>>,
    gate: Option<Arc<Semaphore>>,
}

impl Sink {
    fn gated() -> Self {
        Self {
            gate: Some(Arc::new(Semaphore::new(0))),
            ..Default::default()
        }
    }
    fn count(&self) -> usize {
        *self.items.lock().unwrap()
    }
    fn open(&self) {
        if let Some(g) = &self.gate {
            g.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }
}

impl Exporter for Sink {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        Box::pin(async move {
            if let Some(g) = &self.gate {
                g.acquire()
                    .await
                    .map_err(|e| ExportError(e.to_string()))?
                    .forget();
            }
            *self.items.lock().unwrap() += batch.item_count();
            Ok(Exported::default())
        })
    }
}

struct TestReceiver(Mutex<Option<oneshot::Sender<Output>>>);

impl Receiver for TestReceiver {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        let tx = self.0.lock().unwrap().take();
        Box::pin(async move {
            if let Some(tx) = tx {
                let _ = tx.send(output.clone());
            }
            let serve: BoxFuture<'static, ()> = Box::pin(async move {
                shutdown.cancelled().await;
                drop(output);
            });
            Ok(serve)
        })
    }
}

struct TestFactory {
    sinks: HashMap<String, Sink>,
    output: Mutex<Option<oneshot::Sender<Output>>>,
}

impl Factory for TestFactory {
    fn receiver(
        &self,
        _id: &ComponentId,
        _cfg: &ReceiverConfig,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(TestReceiver(Mutex::new(
            self.output.lock().unwrap().take(),
        ))))
    }
    fn exporter(
        &self,
        id: &ComponentId,
        _cfg: &ExporterConfig,
    ) -> Result<Box<dyn Exporter>, BuildError> {
        Ok(Box::new(self.sinks[id.as_str()].clone()))
    }
}

/// Starts `yaml` with the given sinks; returns the running graph and the receiver's output.
/// The receiver is `otlp` in the YAML; the test receiver stands in for it and hands back its output, so the test
/// sends exactly as a real receiver would.
async fn start(yaml: &str, sinks: &[(&str, Sink)]) -> (Topology, Output, Stats) {
    let cfg = llmtel_config::parse(yaml, &|_| None).unwrap();
    let (tx, rx) = oneshot::channel();
    let factory = TestFactory {
        sinks: sinks
            .iter()
            .map(|(k, s)| ((*k).to_owned(), s.clone()))
            .collect(),
        output: Mutex::new(Some(tx)),
    };
    let stats = Stats::default();
    let topo = Topology::start(&cfg, &factory, stats.clone())
        .await
        .unwrap();
    (topo, rx.await.unwrap(), stats)
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

const TWO_EXPORTERS: &str = r#"
receivers: {otlp: {}}
processors: {batch: {send_batch_size: 50, timeout: 20ms}}
exporters: {debug/a: {sending_queue: {queue_size: 2}}, debug/b: {sending_queue: {queue_size: 2}}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug/a, debug/b], queue_size: 4}
"#;

#[tokio::test]
async fn every_accepted_item_reaches_every_exporter() {
    let (a, b) = (Sink::default(), Sink::default());
    let (topo, out, stats) = start(
        TWO_EXPORTERS,
        &[("debug/a", a.clone()), ("debug/b", b.clone())],
    )
    .await;
    let mut accepted = 0;
    for _ in 0..200 {
        match out.try_send(spans(7)) {
            Ok(()) => accepted += 7,
            Err(SendError::Full { .. }) => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    }
    eventually("both sinks to receive everything", || {
        a.count() == accepted && b.count() == accepted
    })
    .await;
    let report = topo.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained, "{report:?}");
    let r = stats.get(Stage::Receiver, "otlp", Signal::Traces).unwrap();
    assert_eq!(r.accepted as usize, accepted);
    let e = stats
        .get(Stage::Exporter, "debug/a", Signal::Traces)
        .unwrap();
    assert_eq!((e.sent as usize, e.dropped), (accepted, 0));
}

#[tokio::test]
async fn a_stuck_exporter_does_not_stall_the_other_and_its_drops_are_counted() {
    let (stuck, fast) = (Sink::gated(), Sink::default());
    let (topo, out, stats) = start(
        TWO_EXPORTERS,
        &[("debug/a", stuck.clone()), ("debug/b", fast.clone())],
    )
    .await;
    let mut accepted = 0;
    for _ in 0..100 {
        while out.try_send(spans(50)).is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        accepted += 50;
    }
    eventually("the fast exporter to get every item", || {
        fast.count() == accepted
    })
    .await;
    let a = stats
        .get(Stage::Exporter, "debug/a", Signal::Traces)
        .unwrap();
    // The stuck exporter holds one batch in export and two in its queue; everything else was dropped for it only.
    assert_eq!(a.dropped as usize, accepted - 3 * 50, "{a:?}");
    // Full and never a success: wedged (what /readyz reports); the fast one is not.
    assert_eq!(stats.wedged_exporters(Duration::ZERO), ["debug/a"]);
    assert!(stats.wedged_exporters(Duration::from_secs(3600)).is_empty());
    stuck.open();
    let report = topo.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(stuck.count(), 3 * 50);
    assert!(stats.wedged_exporters(Duration::ZERO).is_empty());
}

#[tokio::test]
async fn when_every_exporter_is_full_receivers_are_refused_and_nothing_accepted_is_lost() {
    let yaml = r#"
receivers: {otlp: {}}
exporters: {debug: {sending_queue: {queue_size: 1}}}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [debug], queue_size: 2}
"#;
    let sink = Sink::gated();
    let (topo, out, stats) = start(yaml, &[("debug", sink.clone())]).await;
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..50 {
        match out.try_send(crate::payload::tests::logs(10)) {
            Ok(()) => accepted += 10,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        refused,
        Some(SendError::Full {
            pipeline: "logs".into(),
            capacity: 2
        })
    );
    // One batch in export, one in the exporter queue, one held by the waiting pipeline, two in the pipeline queue.
    assert_eq!(accepted, 50);
    assert_eq!(
        stats
            .get(Stage::Receiver, "otlp", Signal::Logs)
            .unwrap()
            .refused,
        10
    );
    sink.open();
    eventually("every accepted item to arrive", || sink.count() == accepted).await;
    assert_eq!(
        stats
            .get(Stage::Exporter, "debug", Signal::Logs)
            .unwrap()
            .dropped,
        0
    );
    assert!(topo.shutdown(Duration::from_secs(5)).await.drained);
}

#[tokio::test]
async fn shutdown_flushes_held_batches_through_connectors() {
    let yaml = r#"
receivers: {otlp: {}}
processors: {batch: {send_batch_size: 1000, timeout: 1h}}
exporters: {debug: {}}
connectors: {forward: {}}
service:
  pipelines:
    traces/in: {receivers: [otlp], processors: [batch], exporters: [forward]}
    traces/out: {receivers: [forward], processors: [batch], exporters: [debug]}
"#;
    let sink = Sink::default();
    let (topo, out, stats) = start(yaml, &[("debug", sink.clone())]).await;
    for _ in 0..3 {
        out.try_send(spans(5)).unwrap();
    }
    drop(out);
    // The first pipeline has taken all 15 items into its batch processor (it counts them as it takes each batch
    // and hands it to its processors at once) and handed nothing on.
    eventually("traces/in to take every item", || {
        stats
            .get(Stage::Pipeline, "traces/in", Signal::Traces)
            .is_some_and(|p| p.accepted == 15)
    })
    .await;
    assert_eq!(
        stats
            .get(Stage::Pipeline, "traces/in", Signal::Traces)
            .map(|p| p.sent),
        Some(0)
    );
    assert_eq!(
        sink.count(),
        0,
        "the batch processor holds items until its size or timeout"
    );
    let report = topo.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(
        sink.count(),
        15,
        "shutdown flushes both batch processors, in order, through the connector"
    );
}

#[tokio::test]
async fn shutdown_timeout_reports_what_was_lost() {
    let yaml = r#"
receivers: {otlp: {}}
exporters: {debug: {sending_queue: {queue_size: 4}}}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
"#;
    let sink = Sink::gated();
    let (topo, out, stats) = start(yaml, &[("debug", sink.clone())]).await;
    for _ in 0..3 {
        out.try_send(spans(2)).unwrap();
    }
    drop(out);
    // The pipeline has handed all three batches to the exporter, which took the first into its (stuck) export.
    eventually("one batch in export and two queued at the exporter", || {
        let handed_on = stats
            .get(Stage::Pipeline, "traces", Signal::Traces)
            .is_some_and(|p| p.sent == 6);
        let queued = stats
            .queues()
            .iter()
            .find(|q| q.stage == Stage::Exporter && q.id == "debug")
            .map(|q| q.batches());
        handed_on && queued == Some(2)
    })
    .await;
    let report = topo.shutdown(Duration::from_millis(200)).await;
    assert!(!report.drained);
    assert_eq!(
        report.items_lost, 4,
        "one batch was inside the stuck export, two still queued: {report:?}"
    );
    assert!(
        report.unfinished.iter().any(|u| u == "exporter debug"),
        "{report:?}"
    );
}

/// `debug/a` stands for a backend exporter (it blocks on overflow), `debug/b` for the built-in log.
const BACKEND_AND_LOG: &str = r#"
receivers: {otlp: {}}
exporters:
  debug/a: {sending_queue: {queue_size: 2, block_on_overflow: true}}
  debug/b: {sending_queue: {queue_size: 2}}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug/a, debug/b], queue_size: 4}
"#;

#[tokio::test]
async fn a_down_backend_turns_into_refusals_not_into_drops_of_its_copy() {
    let (backend, log) = (Sink::gated(), Sink::default());
    let (topo, out, stats) = start(
        BACKEND_AND_LOG,
        &[("debug/a", backend.clone()), ("debug/b", log.clone())],
    )
    .await;
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..100 {
        match out.try_send(spans(10)) {
            Ok(()) => accepted += 10,
            Err(SendError::Full { .. }) => refused += 10,
            Err(e) => panic!("{e}"),
        }
        tokio::task::yield_now().await;
    }
    assert!(
        refused > 0,
        "the receiver is refused once the backend's queue and the pipeline are full"
    );
    let a = stats
        .get(Stage::Exporter, "debug/a", Signal::Traces)
        .unwrap();
    assert_eq!(a.dropped, 0, "the backend's copy is never dropped: {a:?}");
    assert_eq!(
        stats
            .get(Stage::Receiver, "otlp", Signal::Traces)
            .unwrap()
            .refused as usize,
        refused
    );
    // The backend returns: everything accepted reaches it, and the log has every copy too.
    backend.open();
    eventually("the backend to get every accepted item", || {
        backend.count() == accepted
    })
    .await;
    eventually("the log to get every accepted item", || {
        log.count() == accepted
    })
    .await;
    assert!(topo.shutdown(Duration::from_secs(5)).await.drained);
}

#[tokio::test]
async fn a_stuck_log_loses_its_copy_while_the_backend_gets_every_batch() {
    let (backend, log) = (Sink::default(), Sink::gated());
    let (topo, out, stats) = start(
        BACKEND_AND_LOG,
        &[("debug/a", backend.clone()), ("debug/b", log.clone())],
    )
    .await;
    let mut accepted = 0;
    for _ in 0..50 {
        while out.try_send(spans(10)).is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        accepted += 10;
    }
    eventually("the backend to get every item", || {
        backend.count() == accepted
    })
    .await;
    let b = stats
        .get(Stage::Exporter, "debug/b", Signal::Traces)
        .unwrap();
    // One batch inside the stuck export, two in its queue; every other copy of the log's was dropped and counted.
    assert_eq!(b.dropped as usize, accepted - 3 * 10, "{b:?}");
    log.open();
    assert!(topo.shutdown(Duration::from_secs(5)).await.drained);
}

#[tokio::test]
async fn a_memory_limiter_refuses_at_the_inlet_and_counts_it_apart() {
    // A soft limit of 1 MiB: any process is above it, so every admission is refused.
    let yaml = r#"
receivers: {otlp: {}}
processors: {memory_limiter: {limit_mib: 1, check_interval: 1s}}
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter], exporters: [debug]}
    logs: {receivers: [otlp], exporters: [debug]}
"#;
    let sink = Sink::default();
    let (topo, out, stats) = start(yaml, &[("debug", sink.clone())]).await;
    match out.try_send(spans(10)) {
        Err(SendError::OverMemory { pipeline, over }) => {
            assert_eq!(pipeline, "traces");
            assert!(over.rss >= over.soft_limit, "{over:?}");
        }
        other => panic!("expected a refusal for memory, got {other:?}"),
    }
    // A pipeline without the processor is not gated.
    out.try_send(crate::payload::tests::logs(3)).unwrap();
    let r = stats.get(Stage::Receiver, "otlp", Signal::Traces).unwrap();
    assert_eq!((r.refused, r.refused_memory, r.accepted), (10, 10, 0));
    eventually("the log records to arrive", || sink.count() == 3).await;
    assert!(topo.shutdown(Duration::from_secs(5)).await.drained);
}
