//! Exporter `debug`: writes what reaches it to llmtel's log (stderr). `basic` logs one line per batch with its
//! counts, `normal` one line per item (for GenAI requests one line each, with its think/answer split:
//! [`request_line`], instead of a line per span), `detailed` each resource in full as OTLP JSON. For seeing data
//! flow, not for production volumes.

use llmtel_config::{DebugExporterConfig, Verbosity};
use opentelemetry_proto::tonic::metrics::v1::Metric;

use crate::explorer::summary::{self, RequestSummary};
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
        // At normal verbosity the request lines say more than the batch's counts; the counts go to debug.
        if self.verbosity == Verbosity::Normal {
            tracing::debug!(
                exporter = id,
                signal,
                resources,
                items,
                "debug exporter received a batch"
            );
        } else {
            tracing::info!(
                exporter = id,
                signal,
                resources,
                items,
                "debug exporter received a batch"
            );
        }
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
                let requests = summary::requests(v);
                for r in &requests {
                    tracing::info!(exporter = id, trace_id = %r.trace_id, "{}", request_line(r));
                }
                // Spans of the requests just logged (the request span and its children) get no line of their own.
                let logged: std::collections::HashSet<&[u8]> = v
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                    .filter(|s| summary::is_request(s))
                    .map(|s| s.span_id.as_slice())
                    .collect();
                for s in v
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                    .filter(|s| {
                        !logged.contains(s.span_id.as_slice())
                            && !logged.contains(s.parent_span_id.as_slice())
                    })
                {
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

/// One human line for a GenAI request: operation, model, duration, TTFT, think time and tokens, answer time and
/// tokens, tokens/s, finish reason or error, e.g.
/// `chat qwen3:14b 3.20s ttft=0.41s think=1.80s/112tok answer=1.00s/64tok 55.1tok/s finish=stop`.
pub fn request_line(r: &RequestSummary) -> String {
    use std::fmt::Write;
    let mut line = format!("{} {} {:.2}s", r.operation, r.model, r.duration_s);
    let tokens = |n: Option<i64>| n.map(|n| format!("/{n}tok")).unwrap_or_default();
    if let Some(t) = r.ttft_s {
        let _ = write!(line, " ttft={t:.2}s");
    }
    if let Some(t) = r.think_s {
        let _ = write!(line, " think={t:.2}s{}", tokens(r.think_tokens));
    }
    if let Some(t) = r.answer_s {
        let _ = write!(line, " answer={t:.2}s{}", tokens(r.answer_tokens));
    }
    if let (None, None, Some(n)) = (r.think_s, r.answer_s, r.output_tokens) {
        let _ = write!(line, " out={n}tok");
    }
    if let Some(rate) = r.tokens_per_second() {
        let _ = write!(line, " {rate:.1}tok/s");
    }
    match (&r.error, &r.finish_reason) {
        (Some(e), _) => {
            let _ = write!(line, " error={e}");
        }
        (None, Some(f)) => {
            let _ = write!(line, " finish={f}");
        }
        (None, None) => {}
    }
    line
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_shows_the_think_answer_split() {
        let r = RequestSummary {
            operation: "chat".into(),
            model: "qwen3:14b".into(),
            duration_s: 3.2,
            ttft_s: Some(0.41),
            think_s: Some(1.8),
            think_tokens: Some(112),
            answer_s: Some(1.0),
            answer_tokens: Some(64),
            output_tokens: Some(176),
            finish_reason: Some("stop".into()),
            ..RequestSummary::default()
        };
        assert_eq!(
            request_line(&r),
            "chat qwen3:14b 3.20s ttft=0.41s think=1.80s/112tok answer=1.00s/64tok 63.1tok/s finish=stop"
        );
        let failed = RequestSummary {
            operation: "chat".into(),
            model: "llama3.2:3b".into(),
            duration_s: 0.05,
            error: Some("400".into()),
            ..RequestSummary::default()
        };
        assert_eq!(request_line(&failed), "chat llama3.2:3b 0.05s error=400");
    }
}
