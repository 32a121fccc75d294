//! The bridge from the OpenTelemetry SDK to the pipelines: a span exporter and a metric exporter that convert
//! the SDK's data to OTLP protobuf (with `opentelemetry-proto`'s transforms, the one conversion at the edge) and
//! hand it to a receiver's [`Output`].
//!
//! Both are called from the SDK's processors and never wait: a full pipeline refuses the batch, which the
//! [`Output`] counts as refused, and a warning says so at most once a minute. Waiting here would stall the SDK's
//! processing thread and, for spans, the proxy task that ends them.

use std::time::Duration;

use llmtel_pipelines::stats::LogLimiter;
use llmtel_pipelines::{Output, Payload, SendError};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Hands a batch to `output`; a refusal is counted by the output and logged here, at most once a minute.
fn hand_over(output: &Output, last_warning: &LogLimiter, batch: Payload) -> OTelSdkResult {
    match output.try_send(batch) {
        Ok(()) => Ok(()),
        Err(e) => {
            if last_warning.allow() {
                tracing::warn!(component = output.component(), error = %e,
                    "pipeline refused the sidecar's telemetry; dropped (counted as refused)");
            }
            match e {
                SendError::NoPipeline(_) => Ok(()),
                other => Err(OTelSdkError::InternalFailure(other.to_string())),
            }
        }
    }
}

/// SDK spans → OTLP → the pipelines.
#[derive(Debug)]
pub struct PipelineSpanExporter {
    output: Output,
    resource: ResourceAttributesWithSchema,
    last_warning: LogLimiter,
}

impl PipelineSpanExporter {
    /// An exporter into `output`.
    pub fn new(output: Output) -> Self {
        Self {
            output,
            resource: ResourceAttributesWithSchema::default(),
            last_warning: LogLimiter::default(),
        }
    }
}

impl SpanExporter for PipelineSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        let spans = group_spans_by_resource_and_scope(batch, &self.resource);
        hand_over(&self.output, &self.last_warning, Payload::Traces(spans))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// SDK metrics → OTLP → the pipelines. Cumulative temporality, as Prometheus wants.
#[derive(Debug)]
pub struct PipelineMetricExporter {
    output: Output,
    last_warning: LogLimiter,
}

impl PipelineMetricExporter {
    /// An exporter into `output`.
    pub fn new(output: Output) -> Self {
        Self {
            output,
            last_warning: LogLimiter::default(),
        }
    }
}

impl PushMetricExporter for PipelineMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let request = ExportMetricsServiceRequest::from(metrics);
        let empty = request
            .resource_metrics
            .iter()
            .all(|rm| rm.scope_metrics.iter().all(|s| s.metrics.is_empty()));
        if empty {
            return Ok(());
        }
        hand_over(
            &self.output,
            &self.last_warning,
            Payload::Metrics(request.resource_metrics),
        )
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// A meter provider whose metrics are read every `interval` into `output` (no reader when no metrics pipeline
/// takes this receiver's output: instruments then record nothing).
pub fn meter_provider(
    output: &Output,
    resource: Resource,
    interval: Duration,
) -> opentelemetry_sdk::metrics::SdkMeterProvider {
    let mut builder =
        opentelemetry_sdk::metrics::SdkMeterProvider::builder().with_resource(resource);
    if output.accepts(llmtel_pipelines::Signal::Metrics) {
        let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(
            PipelineMetricExporter::new(output.clone()),
        )
        .with_interval(interval)
        .build();
        builder = builder.with_reader(reader);
    }
    builder.build()
}
