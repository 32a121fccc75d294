//! Exporter `prometheus`: puts every metric that reaches it into a [`PromStore`], which the collector's HTTP
//! endpoint renders on each scrape, and removes stale series on a timer of its own (not only when scraped, so memory
//! stays bounded when nobody scrapes).

mod server;

use llmtel_config::PrometheusExporterConfig;
use tokio_util::sync::CancellationToken;

use llmtel_pipelines::prometheus::PromStore;
use llmtel_pipelines::stats::LogLimiter;
use llmtel_pipelines::{BoxFuture, ExportError, Exported, Exporter, Payload};

pub use server::{PrometheusEndpoint, build};

/// The `prometheus` exporter.
#[derive(Debug)]
pub struct PrometheusExporter {
    id: String,
    store: PromStore,
    stop: CancellationToken,
    conflict_log: LogLimiter,
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
            id: id.to_owned(),
            store,
            stop,
            conflict_log: LogLimiter::default(),
        }
    }
}

impl Exporter for PrometheusExporter {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        let result = match batch {
            Payload::Metrics(resources) => {
                let r = self.store.ingest(&resources);
                if r.rejected > 0 && self.conflict_log.allow() {
                    tracing::warn!(
                        exporter = %self.id,
                        points = r.rejected,
                        "metric points dropped: their name is already used with another TYPE, or their temporality is unspecified (logged at most once a minute)"
                    );
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
