//! A capturing exporter ([`Capture`]) that can be held shut, and llmtel in-process with it in place of exporter
//! `debug/capture` ([`start_in_process`]): what reached the end of a pipeline, without a network backend.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmtel_collector::{CollectorFactory, Listeners, Running};
use llmtel_config::{ComponentId, ExporterConfig, ReceiverConfig};
use llmtel_pipelines::{
    BoxFuture, BuildError, ExportError, Exported, Exporter, Factory, Payload, Receiver, Signal,
};
use tokio::sync::Semaphore;

use crate::lock::lock;

/// What a [`Capture`] exporter has seen.
#[derive(Debug, Default)]
pub struct Captured {
    /// Items per signal.
    pub items: BTreeMap<&'static str, usize>,
    /// Every batch, in arrival order.
    pub batches: Vec<Payload>,
}

/// An exporter that records what reaches it; when gated, each export waits for the gate to open.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    seen: Arc<Mutex<Captured>>,
    gate: Option<Arc<Semaphore>>,
}

impl Capture {
    /// A capture whose exports wait until [`Capture::open`].
    pub fn gated() -> Self {
        Self {
            gate: Some(Arc::new(Semaphore::new(0))),
            ..Default::default()
        }
    }

    /// Lets every waiting and future export through.
    pub fn open(&self) {
        if let Some(g) = &self.gate {
            g.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// Items of `signal` seen so far.
    pub fn items(&self, signal: Signal) -> usize {
        lock(&self.seen)
            .items
            .get(signal.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// Runs `f` over what was captured.
    pub fn with<T>(&self, f: impl FnOnce(&Captured) -> T) -> T {
        f(&lock(&self.seen))
    }

    /// Waits until `done` holds or `timeout` passes; returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&Captured) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.with(&done) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.with(done)
    }
}

impl Exporter for Capture {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        Box::pin(async move {
            if let Some(g) = &self.gate {
                g.acquire()
                    .await
                    .map_err(|e| ExportError(e.to_string()))?
                    .forget();
            }
            let mut seen = lock(&self.seen);
            *seen.items.entry(batch.signal().as_str()).or_default() += batch.item_count();
            seen.batches.push(batch);
            Ok(Exported::default())
        })
    }
}

/// llmtel's real factory, except that exporter `debug/capture` is replaced by a [`Capture`].
#[derive(Debug, Clone)]
pub struct CaptureFactory {
    inner: CollectorFactory,
    capture: Capture,
}

impl Factory for CaptureFactory {
    fn receiver(
        &self,
        id: &ComponentId,
        cfg: &ReceiverConfig,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        self.inner.receiver(id, cfg)
    }
    fn exporter(
        &self,
        id: &ComponentId,
        cfg: &ExporterConfig,
    ) -> Result<Box<dyn Exporter>, BuildError> {
        if id.as_str() == "debug/capture" {
            Ok(Box::new(self.capture.clone()))
        } else {
            self.inner.exporter(id, cfg)
        }
    }
}

/// Starts llmtel in this process from `yaml` (which should use port 0 everywhere and export to `debug/capture`).
pub async fn start_in_process(yaml: &str, capture: &Capture) -> Running {
    let cfg = llmtel_config::parse(yaml, &|_| None)
        .unwrap_or_else(|e| panic!("test config invalid: {e:?}"));
    let listeners = Listeners::default();
    let factory = CaptureFactory {
        inner: CollectorFactory::new(listeners.clone()),
        capture: capture.clone(),
    };
    llmtel_collector::start(&cfg, &factory, listeners)
        .await
        .unwrap_or_else(|e| panic!("llmtel did not start: {e}"))
}
