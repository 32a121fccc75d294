//! Exporter `prometheus`: every metric batch that reaches it (from its queue in the pipeline engine) goes into its
//! [`SeriesStore`], the OTLP → Prometheus translation in `llmtel-pipelines`; its own HTTP endpoint (`server.rs`,
//! `GET /metrics`, default `127.0.0.1:9464`) renders the store for each scrape. Stale series are removed on a timer
//! of the exporter's own, not only when scraped, so memory stays bounded when nobody scrapes.
//!
//! The exporter owns all three (store, timer, server); the store sits behind one mutex (`shared.rs`) shared by
//! `export` (ingest), the timer (expire) and the server (render), each holding it only for that one call.

mod server;
mod shared;

use std::sync::Arc;
use std::time::Instant;

use llmtel_config::{ComponentId, PrometheusExporterConfig};
use llmtel_pipelines::events::{self, Event, EventCounter};
use llmtel_pipelines::prometheus::SeriesStore;
use llmtel_pipelines::{BoxFuture, BuildError, ExportError, Exported, Exporter, Payload};
use tokio_util::sync::CancellationToken;

use crate::listeners::Listeners;

use shared::Shared;

/// The `prometheus` exporter.
#[derive(Debug)]
pub struct PrometheusExporter {
    store: Shared,
    /// Stops the endpoint and the expiry timer.
    stop: CancellationToken,
    /// Points the store refused, counted and warned about.
    rejected: Arc<EventCounter>,
}

impl PrometheusExporter {
    /// Binds the endpoint (a taken address fails the start with a clear error), records the bound address in
    /// `listeners` as `"<id> prometheus"`, and starts serving it and the expiry timer. Must be called inside a tokio
    /// runtime.
    pub fn new(
        id: &ComponentId,
        cfg: &PrometheusExporterConfig,
        listeners: &Listeners,
    ) -> Result<Self, BuildError> {
        let err = |message: String| BuildError::Component {
            component: format!("exporters.{id}"),
            message,
        };
        let settings = format!("exporters.{id}");
        let guard = crate::listen::Guard::build(
            id.as_str(),
            &settings,
            &cfg.tls,
            Some(&cfg.auth),
            crate::tls::ALPN_H2_HTTP1,
        )
        .map_err(err)?;
        // Through the registry: a reload hands over the running generation's socket (see `crate::listeners`).
        let endpoint = cfg.endpoint.as_str();
        let listener = listeners
            .bind_tokio(&format!("{id} prometheus"), endpoint)
            .map_err(|e| err(format!("bind {endpoint}: {e}")))?;
        let local = listener.local_addr().map_err(|e| err(e.to_string()))?;
        tracing::info!(exporter = %id, endpoint = %local, scheme = guard.scheme(),
            "prometheus exporter listening on /metrics");
        listeners.record(&format!("{id} prometheus"), local);

        let store = Shared::new(SeriesStore::new(cfg));
        let stop = CancellationToken::new();
        let incoming = guard.incoming("prometheus endpoint", listener, local, stop.clone());
        server::spawn(id.to_string(), incoming, guard.bearer(), store.clone());
        spawn_expiry(store.clone(), stop.clone());
        Ok(Self {
            store,
            stop,
            rejected: events::counter(id.as_str(), Event::MetricPointsRejected),
        })
    }
}

/// Removes stale series every `expiry_interval` until `stop`.
fn spawn_expiry(store: Shared, stop: CancellationToken) {
    let interval = store.lock().expiry_interval();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    store.lock().expire(Instant::now());
                }
                () = stop.cancelled() => break,
            }
        }
    });
}

impl Exporter for PrometheusExporter {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        let result = match batch {
            Payload::Metrics(resources) => {
                let r = self.store.lock().ingest(&resources);
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
