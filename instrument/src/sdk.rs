//! The bridge from the OpenTelemetry SDK to the pipelines: a metric exporter that converts the SDK's live metrics
//! (in-flight requests, GPU, model-server gauges) to OTLP protobuf (with `opentelemetry-proto`'s transforms, the
//! one conversion at the edge) and hands them to a receiver's [`Output`]; and [`hand_over`], the one way the
//! instrumentation hands a batch over (the proxy's spans too, which it makes as OTLP itself).
//!
//! A hand-over never waits: a full pipeline refuses the batch, which the [`Output`] counts as refused items and
//! the `telemetry_refused` event ([`llmtel_pipelines::events`]) counts and warns about, at most once a minute. Waiting here would stall the SDK's reader thread or the proxy task
//! that ends a request.

use std::time::Duration;

use std::sync::Arc;

use llmtel_pipelines::events::{self, Event, EventCounter};
use llmtel_pipelines::{Output, Payload, SendError};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

/// The counter of refusals of `output`'s own telemetry, for [`hand_over`].
pub(crate) fn refusals(output: &Output) -> Arc<EventCounter> {
    events::counter(output.component(), Event::TelemetryRefused)
}

/// Hands a batch to `output`; a refusal is counted by the output (as refused items) and by `refused` (which logs
/// it, at most once a minute).
pub(crate) fn hand_over(output: &Output, refused: &EventCounter, batch: Payload) -> OTelSdkResult {
    let items = batch.item_count() as u64;
    match output.try_send(batch) {
        Ok(()) => Ok(()),
        Err(e) => {
            refused.emit(items, &e);
            match e {
                SendError::NoPipeline(_) => Ok(()),
                other => Err(OTelSdkError::InternalFailure(other.to_string())),
            }
        }
    }
}

/// SDK metrics → OTLP → the pipelines. Cumulative temporality, as Prometheus wants.
#[derive(Debug)]
pub struct PipelineMetricExporter {
    output: Output,
    refused: Arc<EventCounter>,
}

impl PipelineMetricExporter {
    /// An exporter into `output`.
    pub fn new(output: Output) -> Self {
        Self {
            refused: refusals(&output),
            output,
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
            &self.refused,
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
