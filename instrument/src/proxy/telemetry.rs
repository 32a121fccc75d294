//! The receiver's telemetry setup: where its spans go (a [`SpanSink`] into the receiver's pipelines, with
//! llmtel's resource converted to OTLP once, here) and the meter whose in-flight gauge counts the requests being
//! forwarded (an SDK metric, read periodically into the same pipelines through [`crate::sdk`]); and the meter's
//! last collection at shutdown, once the last request has ended.

use std::time::Duration;

use llmtel_pipelines::Output;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::span::SpanSink;

/// What one receiver's requests record into.
#[derive(Debug)]
pub(super) struct Telemetry {
    meter_provider: SdkMeterProvider,
    /// Where the request spans go.
    pub spans: SpanSink,
    /// `llmtel.proxy.active_requests`.
    pub in_flight: opentelemetry::metrics::UpDownCounter<i64>,
}

impl Telemetry {
    /// Telemetry into `output`, describing llmtel with `resource`; live metrics are read every
    /// `metrics_interval`.
    pub fn start(output: &Output, resource: Resource, metrics_interval: Duration) -> Self {
        let spans = SpanSink::new(output.clone(), &resource);
        let meter_provider = crate::sdk::meter_provider(output, resource, metrics_interval);
        let in_flight = meter_provider
            .meter("llmtel")
            .i64_up_down_counter("llmtel.proxy.active_requests")
            .with_unit("{request}")
            .with_description("Requests the sidecar is forwarding now, by model")
            .build();
        Self {
            meter_provider,
            spans,
            in_flight,
        }
    }

    /// A last collection of the live metrics, then the provider lets go of the output.
    pub async fn shutdown(self) {
        let meter_provider = self.meter_provider;
        // The provider's shutdown blocks while it collects and exports: off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || meter_provider.shutdown()).await;
    }
}
