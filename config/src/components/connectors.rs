//! Settings of each connector type (`forward`, `genai_metrics`) and [`ConnectorConfig`], which decodes one by its
//! type. The `///` docs on each field are the user manual.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{QueueConfig, Signal};
use crate::config_struct;
use crate::decode::{Check, Ctx, Decode, child};
use crate::semconv::GenAiMetric;
use crate::types::Duration;

/// A configured connector: an exporter in one pipeline and a receiver in another.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ConnectorConfig {
    /// `forward`: passes data unchanged from one pipeline to another of the same signal.
    Forward(ForwardConfig),
    /// `genai_metrics`: GenAI metrics, with exemplars, from the spans of LLM calls.
    GenAiMetrics(GenAiMetricsConfig),
}

/// Connector types this build knows.
pub const CONNECTOR_TYPES: &[&str] = &["forward", "genai_metrics"];

impl ConnectorConfig {
    /// Decodes the settings of a connector of type `kind`.
    pub fn decode_kind(kind: &str, value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match kind {
            "forward" => ForwardConfig::decode(value, path, ctx).map(Self::Forward),
            "genai_metrics" => GenAiMetricsConfig::decode(value, path, ctx).map(Self::GenAiMetrics),
            _ => None,
        }
    }

    /// Whether data of signal `from` entering this connector can leave it as signal `to`.
    pub fn supports(&self, from: Signal, to: Signal) -> bool {
        match self {
            Self::Forward(_) => from == to,
            Self::GenAiMetrics(_) => from == Signal::Traces && to == Signal::Metrics,
        }
    }

    /// The queue in front of this connector.
    pub fn sending_queue(&self) -> &QueueConfig {
        match self {
            Self::Forward(c) => &c.sending_queue,
            Self::GenAiMetrics(c) => &c.sending_queue,
        }
    }
}

config_struct! {
    /// Connector `forward`.
    pub struct ForwardConfig {
        /// The queue in front of the connector.
        sending_queue: QueueConfig = QueueConfig::default(),
    }
}

impl Check for ForwardConfig {}

config_struct! {
    /// Connector `genai_metrics` (traces → metrics): aggregates the spans of LLM calls (any span with
    /// `gen_ai.operation.name`, or the older `gen_ai.system`) into GenAI metrics, each histogram bucket keeping an
    /// exemplar that links to a trace. Spans also go on, unchanged, to the other exporters of their pipeline.
    /// See `docs/genai-metrics.md`.
    pub struct GenAiMetricsConfig {
        /// Span attributes added as dimensions to every metric, besides the built-in ones (operation, provider,
        /// request and response model, `error.type`, `server.address`, think mode).
        dimensions: Vec<String> = Vec::new(),
        /// Series per metric, at most; further attribute sets are counted in one series labelled
        /// `otel.metric.overflow=true`. 0 means no cap.
        max_series_per_metric: usize = 1000,
        /// How often the cumulative metrics are sent on (and at shutdown).
        flush_interval: Duration = Duration::from_secs(5),
        /// Histogram bucket boundaries by metric name, replacing the advised ones, e.g.
        /// `gen_ai.client.operation.duration: [1, 5, 30, 120]`.
        buckets: BTreeMap<String, Vec<f64>> = BTreeMap::new(),
        /// The queue in front of the connector.
        sending_queue: QueueConfig = QueueConfig::default(),
    }
}

impl Check for GenAiMetricsConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.flush_interval.get().is_zero() {
            ctx.error(
                &child(path, "flush_interval"),
                "0s: expected a duration above zero",
            );
        }
        for (name, bounds) in &self.buckets {
            let bpath = child(&child(path, "buckets"), name);
            let histogram = GenAiMetric::from_name(name).filter(|m| m.advised_buckets().is_some());
            if histogram.is_none() {
                let known: Vec<&str> = GenAiMetric::histograms().map(GenAiMetric::name).collect();
                ctx.error(
                    &bpath,
                    crate::decode::unknown_message("histogram", name, &known),
                );
            } else if bounds.is_empty()
                || bounds.windows(2).any(|w| w[0] >= w[1])
                || bounds.iter().any(|b| !b.is_finite())
            {
                ctx.error(
                    &bpath,
                    format!("{bounds:?}: expected finite boundaries in increasing order"),
                );
            }
        }
    }
}
