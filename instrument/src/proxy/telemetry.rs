//! The receiver's telemetry setup: where its spans go (a [`SpanSink`] into the receiver's pipelines, with
//! llmtel's resource converted to OTLP once, here) and the meter whose in-flight gauge counts the requests being
//! forwarded, whose `llmtel.proxy.concurrency.max` gauge reads the high-water mark of requests in flight to the
//! upstream, and whose `llmtel.upstream.up` gauge reads the upstream watch (SDK metrics, read periodically into
//! the same pipelines through [`crate::sdk`]); and the meter's last collection at shutdown, once the last request
//! has ended.

use std::time::Duration;

use llmtel_config::semconv::attr;
use llmtel_pipelines::Output;
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::concurrency::Concurrency;
use super::span::SpanSink;
use crate::upstream::{Provider, UpState};

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

    /// Registers `llmtel.upstream.up`: 1 while the upstream `server` (host, port) passes its health check, 0
    /// when it does not, nothing before the first check; labelled with the provider as it is at each reading.
    pub fn watch_upstream(&self, up: UpState, provider: Provider, server: (String, u16)) {
        let (host, port) = server;
        self.meter_provider
            .meter("llmtel")
            .i64_observable_gauge("llmtel.upstream.up")
            .with_description(
                "1 while the model server behind the sidecar passes its own health check, 0 when it does not",
            )
            .with_callback(move |o| {
                if let Some(up) = up.get() {
                    o.observe(
                        i64::from(up),
                        &[
                            KeyValue::new(attr::SERVER_ADDRESS, host.clone()),
                            KeyValue::new(attr::SERVER_PORT, i64::from(port)),
                            KeyValue::new(attr::PROVIDER_NAME, provider.clone()),
                        ],
                    );
                }
            })
            .build();
    }

    /// Registers `llmtel.proxy.concurrency.max`: the most requests the proxy has forwarded to the upstream
    /// `server` (host, port) at once since start.
    pub fn watch_concurrency(&self, c: &std::sync::Arc<Concurrency>, server: (String, u16)) {
        let (host, port) = server;
        let c = std::sync::Arc::clone(c);
        self.meter_provider
            .meter("llmtel")
            .i64_observable_gauge("llmtel.proxy.concurrency.max")
            .with_unit("{request}")
            .with_description(
                "The most requests the sidecar has forwarded to the model server at once since it started",
            )
            .with_callback(move |o| {
                o.observe(
                    i64::try_from(c.max()).unwrap_or(i64::MAX),
                    &[
                        KeyValue::new(attr::SERVER_ADDRESS, host.clone()),
                        KeyValue::new(attr::SERVER_PORT, i64::from(port)),
                    ],
                );
            })
            .build();
    }

    /// A last collection of the live metrics, then the provider lets go of the output.
    pub async fn shutdown(self) {
        let meter_provider = self.meter_provider;
        // The provider's shutdown blocks while it collects and exports: off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || meter_provider.shutdown()).await;
    }
}
