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
//!   buckets (see `expo.rs`); summaries; a TYPE conflict drops the later metric's points (counted), a HELP conflict
//!   keeps the first HELP;
//! - exemplars (`trace_id`, `span_id`, value, time) on counters and histogram buckets, in OpenMetrics only.
//!
//! Memory is bounded by `max_series_per_metric` per family (further label sets go to one
//! `otel_metric_overflow="true"` series) and by expiry ([`SeriesStore::expire`]).
//!
//! The same translation feeds the `prometheusremotewrite` exporter: [`SeriesStore::ingest_for_remote_write`]
//! (`remote.rs`) returns every sample a batch made as flat series instead of rendering text.
//!
//! This module is plain data and pure functions: no lock, no timer, no socket. Its user is the `prometheus`
//! exporter in `llmtel-collector`, which holds a [`SeriesStore`] behind a mutex, ingests every batch that reaches it,
//! runs expiry on a timer whether or not anyone scrapes, and serves [`SeriesStore::render`] on `GET /metrics`.

pub(crate) mod expo;
mod labels;
pub(crate) mod naming;
mod remote;
mod render;
mod store;
mod value;

use std::time::{Duration, Instant};

use llmtel_config::PrometheusExporterConfig;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

pub use remote::{RemoteExemplar, RemoteSeries};
pub use render::Format;
use store::Store;

/// The series of one `prometheus` exporter: what OTLP metrics became, ready to be rendered as exposition text.
#[derive(Debug)]
pub struct SeriesStore {
    store: Store,
    enable_open_metrics: bool,
    /// Length of the last rendering in each format: the next one reserves that much at once instead of growing
    /// (and copying) its buffer several times.
    last_len: [usize; 2],
}

/// What an ingest did besides storing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Points dropped: a TYPE conflict, or a sum or histogram whose temporality is unspecified.
    pub rejected: usize,
    /// Points folded into an overflow series by the cardinality cap.
    pub overflowed: usize,
}

impl SeriesStore {
    /// An empty store with these settings.
    pub fn new(cfg: &PrometheusExporterConfig) -> Self {
        Self {
            store: Store::new(cfg.clone()),
            enable_open_metrics: cfg.enable_open_metrics,
            last_len: [0; 2],
        }
    }

    /// Adds a batch of metrics; the series it touches count as updated now.
    pub fn ingest(&mut self, resources: &[ResourceMetrics]) -> Ingested {
        let o = self.store.ingest(resources, Instant::now());
        Ingested {
            rejected: o.rejected,
            overflowed: o.overflowed,
        }
    }

    /// Adds a batch like [`SeriesStore::ingest`] and returns every sample it made, as series for remote write
    /// (`remote.rs`). `now_ms` stamps points that carry no time of their own.
    pub fn ingest_for_remote_write(
        &mut self,
        resources: &[ResourceMetrics],
        now_ms: i64,
    ) -> (Ingested, Vec<RemoteSeries>) {
        self.store.journal = Some(Vec::new());
        let ingested = self.ingest(resources);
        let journal = self.store.journal.take().unwrap_or_default();
        (ingested, remote::flatten(&self.store, journal, now_ms))
    }

    /// Removes series not updated within `metric_expiration` before `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.store.expire(now)
    }

    /// How often [`SeriesStore::expire`] should run.
    pub fn expiry_interval(&self) -> Duration {
        self.store.expiry_interval()
    }

    /// Series held now.
    pub fn series_count(&self) -> usize {
        self.store.series_count()
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

    /// The exposition in `format`. Takes `&mut self` only to remember the output's length, so that the next
    /// rendering allocates its buffer once.
    pub fn render(&mut self, format: Format) -> String {
        let slot = &mut self.last_len[usize::from(format == Format::OpenMetrics)];
        let out = render::render(&self.store, format, *slot + *slot / 16);
        *slot = out.len();
        out
    }
}

#[cfg(test)]
mod tests;
