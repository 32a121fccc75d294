//! Exporter `debug`: writes what reaches it to llmtel's log (stderr). `basic` logs one line per batch with its
//! counts, `normal` one line per item, `detailed` each resource in full as OTLP JSON. For seeing data flow, not
//! for production volumes.

use llmtel_config::{DebugExporterConfig, Verbosity};
use opentelemetry_proto::tonic::metrics::v1::Metric;

use crate::payload::Payload;
use crate::stage::{BoxFuture, ExportError, Exported, Exporter};

/// The debug exporter.
#[derive(Debug)]
pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
}

impl DebugExporter {
    /// A debug exporter named `id`.
    pub fn new(id: &str, cfg: &DebugExporterConfig) -> Self {
        Self {
            id: id.to_owned(),
            verbosity: cfg.verbosity,
        }
    }

    fn log(&self, batch: &Payload) {
        let id = self.id.as_str();
        let (signal, items) = (batch.signal().as_str(), batch.item_count());
        let resources = match batch {
            Payload::Traces(v) => v.len(),
            Payload::Metrics(v) => v.len(),
            Payload::Logs(v) => v.len(),
        };
        tracing::info!(
            exporter = id,
            signal,
            resources,
            items,
            "debug exporter received a batch"
        );
        match self.verbosity {
            Verbosity::Basic => {}
            Verbosity::Normal => self.log_items(batch),
            Verbosity::Detailed => {
                let json = match batch {
                    Payload::Traces(v) => v
                        .iter()
                        .map(serde_json::to_string)
                        .collect::<Result<Vec<_>, _>>(),
                    Payload::Metrics(v) => v.iter().map(serde_json::to_string).collect(),
                    Payload::Logs(v) => v.iter().map(serde_json::to_string).collect(),
                };
                match json {
                    Ok(lines) => {
                        for resource in lines {
                            tracing::info!(exporter = id, signal, %resource, "debug exporter detail");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(exporter = id, error = %e, "debug exporter cannot render batch as JSON")
                    }
                }
            }
        }
    }

    fn log_items(&self, batch: &Payload) {
        let id = self.id.as_str();
        match batch {
            Payload::Traces(v) => {
                for s in v.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                    tracing::info!(
                        exporter = id,
                        name = %s.name,
                        trace_id = %hex::encode(&s.trace_id),
                        span_id = %hex::encode(&s.span_id),
                        duration_ns = s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano),
                        attributes = s.attributes.len(),
                        "span"
                    );
                }
            }
            Payload::Metrics(v) => {
                for m in v
                    .iter()
                    .flat_map(|r| &r.scope_metrics)
                    .flat_map(|s| &s.metrics)
                {
                    tracing::info!(exporter = id, name = %m.name, unit = %m.unit, kind = kind(m), "metric");
                }
            }
            Payload::Logs(v) => {
                for l in v
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .flat_map(|s| &s.log_records)
                {
                    tracing::info!(
                        exporter = id,
                        severity = %l.severity_text,
                        trace_id = %hex::encode(&l.trace_id),
                        attributes = l.attributes.len(),
                        "log record"
                    );
                }
            }
        }
    }
}

fn kind(m: &Metric) -> &'static str {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    match m.data {
        Some(Data::Gauge(_)) => "gauge",
        Some(Data::Sum(_)) => "sum",
        Some(Data::Histogram(_)) => "histogram",
        Some(Data::ExponentialHistogram(_)) => "exponential_histogram",
        Some(Data::Summary(_)) => "summary",
        None => "empty",
    }
}

impl Exporter for DebugExporter {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        self.log(&batch);
        Box::pin(async { Ok(Exported::default()) })
    }
}
