//! Exporter `prometheusremotewrite`: Prometheus remote write 1.0 to Prometheus (`--web.enable-remote-write-receiver`),
//! Mimir, Thanos, Cortex or VictoriaMetrics.
//!
//! Each batch goes through the `prometheus` exporter's translation ([`SeriesStore`], in `llmtel-pipelines`), so
//! names, `add_metric_suffixes`, `job` / `instance` and `target_info` are exactly what a Prometheus scraping llmtel
//! stores; deltas are accumulated into cumulative values there. Every point becomes a sample
//! ([`SeriesStore::ingest_for_remote_write`]); the samples form a `WriteRequest` (`proto.rs`), snappy block
//! compressed, posted by `client.rs`. Retries follow the remote write rules (5xx and 429 with backoff and
//! `Retry-After`, other 4xx given up at once and counted as failed) with the backoff of the OTLP exporters
//! (`../retry.rs`); the queue in front, and its persistence, are the engine's `sending_queue` (one consumer by
//! default, so one series' samples leave in order).

mod client;
pub mod proto;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use llmtel_config::{ComponentId, PrometheusRemoteWriteConfig};
use llmtel_pipelines::events::{self, Event, EventCounter};
use llmtel_pipelines::prometheus::{RemoteSeries, SeriesStore};
use llmtel_pipelines::{BoxFuture, BuildError, ExportError, Exported, Exporter, Payload};
use prost::Message;

use super::retry::{Failure, RetryPolicy, with_retries};
use crate::tls;

/// The `prometheusremotewrite` exporter.
#[derive(Debug)]
pub struct RemoteWriteExporter {
    store: Mutex<SeriesStore>,
    client: client::RemoteWriteClient,
    retry: RetryPolicy,
    timeout: Duration,
    retried: Arc<EventCounter>,
    rejected: Arc<EventCounter>,
}

impl RemoteWriteExporter {
    /// Builds the exporter; nothing connects until the first export.
    pub fn new(id: &ComponentId, cfg: &PrometheusRemoteWriteConfig) -> Result<Self, BuildError> {
        let err = |message: String| BuildError::Component {
            component: format!("exporters.{id}"),
            message,
        };
        let retry = RetryPolicy::try_new(&cfg.retry_on_failure).map_err(|e| err(e.to_string()))?;
        if cfg.timeout.get().is_zero() {
            return Err(err(
                "timeout: 0s: expected a time limit above zero".to_owned()
            ));
        }
        let tls = tls::client_config(cfg.tls.ca_file.as_deref()).map_err(err)?;
        let client = client::RemoteWriteClient::new(cfg, tls).map_err(err)?;
        Ok(Self {
            store: Mutex::new(SeriesStore::new(&cfg.translation())),
            client,
            retry,
            timeout: cfg.timeout.get(),
            retried: events::counter(id.as_str(), Event::ExportRetried),
            rejected: events::counter(id.as_str(), Event::MetricPointsRejected),
        })
    }

    /// Translates a batch into a compressed `WriteRequest`, and how many points were rejected; `None` when the
    /// batch made no sample.
    fn encode(
        &self,
        resources: &[opentelemetry_proto::tonic::metrics::v1::ResourceMetrics],
    ) -> Result<(Option<Bytes>, usize), ExportError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let (ingested, series) = {
            // A poisoned lock is taken over: the store is plain data.
            let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            let out = store.ingest_for_remote_write(resources, now_ms);
            store.expire(Instant::now());
            out
        };
        if ingested.rejected > 0 {
            self.rejected.emit(ingested.rejected as u64, &"");
        }
        if series.is_empty() {
            return Ok((None, ingested.rejected));
        }
        let raw = write_request(series).encode_to_vec();
        let body = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .map_err(|e| ExportError(format!("snappy: {e}")))?;
        Ok((Some(Bytes::from(body)), ingested.rejected))
    }

    async fn attempt(&self, body: &Bytes) -> Result<(), Failure> {
        match tokio::time::timeout(self.timeout, self.client.send(body.clone())).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Retryable {
                message: format!("no answer within {:?} (timeout)", self.timeout),
                after: None,
            }),
        }
    }
}

/// The protobuf request for these series.
pub fn write_request(series: Vec<RemoteSeries>) -> proto::WriteRequest {
    let label = |(name, value): (String, String)| proto::Label { name, value };
    proto::WriteRequest {
        timeseries: series
            .into_iter()
            .map(|s| proto::TimeSeries {
                labels: s.labels.into_iter().map(label).collect(),
                samples: s
                    .samples
                    .into_iter()
                    .map(|(value, timestamp)| proto::Sample { value, timestamp })
                    .collect(),
                exemplars: s
                    .exemplars
                    .into_iter()
                    .map(|e| proto::Exemplar {
                        labels: e.labels.into_iter().map(label).collect(),
                        value: e.value,
                        timestamp: e.timestamp_ms,
                    })
                    .collect(),
            })
            .collect(),
        metadata: Vec::new(),
    }
}

impl Exporter for RemoteWriteExporter {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        Box::pin(async move {
            let resources = match batch {
                Payload::Metrics(resources) => resources,
                other => {
                    return Err(ExportError(format!(
                        "the prometheusremotewrite exporter takes metrics, not {}",
                        other.signal()
                    )));
                }
            };
            let (body, rejected) = self.encode(&resources)?;
            let done = Exported {
                rejected,
                overflowed: 0,
            };
            let Some(body) = body else { return Ok(done) };
            with_retries(&self.retry, &self.retried, || self.attempt(&body)).await?;
            Ok(done)
        })
    }
}

#[cfg(test)]
mod tests;
