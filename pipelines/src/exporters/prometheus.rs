//! Exporter `prometheus`: puts every metric that reaches it into a [`PromStore`], which the collector's HTTP
//! endpoint renders on each scrape, and removes stale series on a timer of its own (not only when scraped, so memory
//! stays bounded when nobody scrapes).

use std::sync::Arc;

use llmtel_config::PrometheusExporterConfig;
use tokio_util::sync::CancellationToken;

use crate::events::{self, Event, EventCounter};
use crate::payload::Payload;
use crate::prometheus::PromStore;
use crate::stage::{BoxFuture, ExportError, Exported, Exporter};

/// The `prometheus` exporter.
#[derive(Debug)]
pub struct PrometheusExporter {
    store: PromStore,
    stop: CancellationToken,
    /// Points the store refused, counted and warned about.
    rejected: Arc<EventCounter>,
}

impl PrometheusExporter {
    /// An exporter writing into `store`. Must be created inside a tokio runtime (it starts the expiry timer).
    pub fn new(id: &str, cfg: &PrometheusExporterConfig, store: PromStore) -> Self {
        let _ = cfg;
        let stop = CancellationToken::new();
        let (timer_store, timer_stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(timer_store.expiry_interval());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        timer_store.expire(std::time::Instant::now());
                    }
                    () = timer_stop.cancelled() => break,
                }
            }
        });
        Self {
            store,
            stop,
            rejected: events::counter(id, Event::MetricPointsRejected),
        }
    }
}

impl Exporter for PrometheusExporter {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        let result = match batch {
            Payload::Metrics(resources) => {
                let r = self.store.ingest(&resources);
                if r.rejected > 0 {
                    self.rejected.emit(r.rejected as u64, &"");
                }
                Ok(Exported {
                    rejected: r.rejected,
                    overflowed: r.overflowed,
                })
            }
            other => Err(ExportError(format!(
                "the prometheus exporter takes metrics, not {}",
                other.signal()
            ))),
        };
        Box::pin(async move { result })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.stop.cancel();
        Box::pin(async {})
    }
}
