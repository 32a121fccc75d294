//! The Prometheus bridge: OTLP metrics → a store of Prometheus series → text format 0.0.4 or OpenMetrics 1.0.
//!
//! Whatever metrics reach the `prometheus` exporter (the sidecar's, the GPU sampler's, or any program's over OTLP)
//! are translated per the OpenTelemetry "Prometheus and OpenMetrics compatibility" specification:
//! - names sanitised, unit and type suffixes added (`_seconds`, `_bytes`, `_ratio` on gauges, `_total`), `{…}`
//!   annotations dropped, `/` written `_per_`; label names sanitised, colliding keys' values joined with `;`;
//! - `otel_scope_name` / `otel_scope_version` labels; `job` from `service.namespace/service.name`, `instance` from
//!   `service.instance.id`, the other resource attributes in one `target_info` per job/instance;
//! - gauges; cumulative sums (monotonic → counters, others → gauges); delta sums and delta histograms accumulated
//!   into cumulative; classic histograms with cumulative `le` buckets; exponential histograms converted to classic
//!   buckets (see [`expo`]); summaries; a TYPE conflict drops the later metric's points (counted), a HELP conflict
//!   keeps the first HELP;
//! - exemplars (`trace_id`, `span_id`, value, time) on counters and histogram buckets, in OpenMetrics only.
//!
//! Memory is bounded by `max_series_per_metric` per family (further label sets go to one
//! `otel_metric_overflow="true"` series) and by expiry, which runs on a timer whether or not anyone scrapes.
//! Rendering happens under a short lock and produces a string; a slow scraper then reads that string without
//! holding anything, so it cannot stall ingestion.

pub(crate) mod expo;
pub(crate) mod naming;
mod render;
mod store;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmtel_config::PrometheusExporterConfig;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

pub use render::Format;
use store::Store;

/// The series of one `prometheus` exporter, shared by the exporter (which writes) and the HTTP endpoint (which
/// renders).
#[derive(Debug, Clone)]
pub struct PromStore {
    inner: Arc<Mutex<Store>>,
    expiry_interval: Duration,
    enable_open_metrics: bool,
    /// Length of the last rendering in each format: the next one reserves that much at once instead of growing
    /// (and copying) its buffer several times.
    last_len: Arc<[AtomicUsize; 2]>,
}

/// What an ingest did besides storing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Points dropped: a TYPE conflict, or a sum or histogram whose temporality is unspecified.
    pub rejected: usize,
    /// Points folded into an overflow series by the cardinality cap.
    pub overflowed: usize,
}

impl PromStore {
    /// An empty store with these settings.
    pub fn new(cfg: &PrometheusExporterConfig) -> Self {
        let store = Store::new(cfg.clone());
        Self {
            expiry_interval: store.expiry_interval(),
            enable_open_metrics: cfg.enable_open_metrics,
            inner: Arc::new(Mutex::new(store)),
            last_len: Arc::default(),
        }
    }

    /// Adds a batch of metrics.
    pub fn ingest(&self, resources: &[ResourceMetrics]) -> Ingested {
        let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let o = store.ingest(resources, Instant::now());
        Ingested {
            rejected: o.rejected,
            overflowed: o.overflowed,
        }
    }

    /// Removes series not updated within `metric_expiration`; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .expire(now)
    }

    /// How often [`PromStore::expire`] should run.
    pub fn expiry_interval(&self) -> Duration {
        self.expiry_interval
    }

    /// Series held now.
    pub fn series_count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .series_count()
    }

    /// The format to answer a scrape whose `Accept` header is `accept` with.
    pub fn negotiate(&self, accept: Option<&str>) -> Format {
        let wants_om = accept.is_some_and(|a| {
            a.split(',')
                .any(|part| part.trim().starts_with("application/openmetrics-text"))
        });
        if wants_om && self.enable_open_metrics {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The exposition in `format`.
    pub fn render(&self, format: Format) -> String {
        let slot = &self.last_len[usize::from(format == Format::OpenMetrics)];
        let hint = slot.load(Ordering::Relaxed);
        let store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let out = render::render(&store, format, hint + hint / 16);
        slot.store(out.len(), Ordering::Relaxed);
        out
    }
}

#[cfg(test)]
mod tests;
