//! The receiver's telemetry setup: the tracer that makes request spans, the meter whose in-flight gauge counts
//! requests being forwarded, both writing into the receiver's pipeline [`Output`] through the SDK bridge
//! ([`crate::sdk`]), and their shutdown once the last request has ended.

use std::time::Duration;

use llmtel_pipelines::Output;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::sdk::PipelineSpanExporter;

/// The providers of one receiver and the instruments requests use.
#[derive(Debug)]
pub(super) struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    /// Tracer for the child spans, whose times are set explicitly.
    pub tracer: SdkTracer,
    /// The `tracing` dispatcher whose `tracing-opentelemetry` layer turns request spans into SDK spans.
    pub dispatch: tracing::Dispatch,
    /// `llmtel.proxy.active_requests`.
    pub in_flight: opentelemetry::metrics::UpDownCounter<i64>,
}

impl Telemetry {
    /// Providers writing into `output`, describing llmtel with `resource`; live metrics are read every
    /// `metrics_interval`.
    pub fn start(output: &Output, resource: Resource, metrics_interval: Duration) -> Self {
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(PipelineSpanExporter::new(output.clone()))
            // Every request is recorded, whatever the caller sampled: its metrics are derived from the spans.
            .with_sampler(Sampler::AlwaysOn)
            .with_resource(resource.clone())
            .build();
        let tracer = tracer_provider.tracer("llmtel");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer.clone())
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_tracked_inactivity(false);
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let meter_provider = crate::sdk::meter_provider(output, resource, metrics_interval);
        let in_flight = meter_provider
            .meter("llmtel")
            .i64_up_down_counter("llmtel.proxy.active_requests")
            .with_unit("{request}")
            .with_description("Requests the sidecar is forwarding now, by model")
            .build();
        Self {
            tracer_provider,
            meter_provider,
            tracer,
            dispatch,
            in_flight,
        }
    }

    /// A last collection of the live metrics, then the providers let go of the output.
    pub async fn shutdown(self) {
        let Self {
            tracer_provider,
            meter_provider,
            ..
        } = self;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = meter_provider.shutdown();
            let _ = tracer_provider.shutdown();
        })
        .await;
    }
}
