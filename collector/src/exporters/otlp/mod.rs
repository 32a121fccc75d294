//! Exporters `otlp` (gRPC, tonic) and `otlp_http` (HTTP, protobuf or JSON): forward batches to an existing
//! OpenTelemetry Collector, Tempo, Jaeger, Mimir or vendor backend.
//!
//! Each batch is encoded (and compressed) once; every attempt sends the same bytes. Failures are classified by the
//! OTLP spec's rules (`../retry.rs`) and retried with backoff; permanent failures give up at once with the server's
//! message. Partial successes (`response.rs`) count the rejected items and are not retried. Headers (API keys) are
//! sent, never logged. The queue in front, its concurrency and its persistence are the engine's (`sending_queue`).

mod grpc;
mod http;
mod response;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use llmtel_config::ComponentId;
use llmtel_config::otlp_exporters::{OtlpExporterConfig, Protocol};
use llmtel_pipelines::events::{self, Event, EventCounter};
use llmtel_pipelines::{BoxFuture, BuildError, ExportError, Exported, Exporter, Payload, Signal};

use crate::tls;

use super::retry::{Failure, RetryPolicy, with_retries};
use response::Accepted;

/// The wire under an OTLP exporter.
#[derive(Debug)]
enum Transport {
    Grpc(grpc::GrpcTransport),
    Http(Box<http::HttpTransport>),
}

/// An `otlp` or `otlp_http` exporter.
#[derive(Debug)]
pub struct OtlpExporter {
    transport: Transport,
    retry: RetryPolicy,
    timeout: Duration,
    /// Partial successes and retries: counted and warned about, rate limited.
    partial: Arc<EventCounter>,
    retried: Arc<EventCounter>,
}

impl OtlpExporter {
    /// Builds the exporter; nothing connects until the first export, so a backend that is down does not stop
    /// llmtel from starting.
    pub fn new(
        id: &ComponentId,
        protocol: Protocol,
        cfg: &OtlpExporterConfig,
    ) -> Result<Self, BuildError> {
        let err = |message: String| BuildError::Component {
            component: format!("exporters.{id}"),
            message,
        };
        let retry = RetryPolicy::try_new(&cfg.retry_on_failure).map_err(|e| err(e.to_string()))?;
        // A zero time limit would fail every attempt before it is sent.
        if cfg.timeout.get().is_zero() {
            return Err(err(
                "timeout: 0s: expected a time limit above zero".to_owned()
            ));
        }
        let tls = tls::client_config(cfg.tls.ca_file.as_deref()).map_err(err)?;
        let transport = match protocol {
            Protocol::Grpc => Transport::Grpc(grpc::GrpcTransport::new(cfg, tls).map_err(err)?),
            Protocol::Http => {
                Transport::Http(Box::new(http::HttpTransport::new(cfg, tls).map_err(err)?))
            }
        };
        Ok(Self {
            transport,
            retry,
            timeout: cfg.timeout.get(),
            partial: events::counter(id.as_str(), Event::ExportPartiallyRejected),
            retried: events::counter(id.as_str(), Event::ExportRetried),
        })
    }

    async fn attempt(&self, signal: Signal, body: &Bytes) -> Result<Accepted, Failure> {
        let send = async {
            match &self.transport {
                Transport::Grpc(t) => t.send(signal, body.clone()).await,
                Transport::Http(t) => t.send(signal, body.clone()).await,
            }
        };
        match tokio::time::timeout(self.timeout, send).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Retryable {
                message: format!("no answer within {:?} (timeout)", self.timeout),
                after: None,
            }),
        }
    }
}

impl Exporter for OtlpExporter {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        Box::pin(async move {
            let signal = batch.signal();
            let body = match &self.transport {
                Transport::Grpc(_) => Bytes::from(batch.into_request_bytes()),
                Transport::Http(t) => t.encode(batch).map_err(ExportError)?,
            };
            let accepted =
                with_retries(&self.retry, &self.retried, || self.attempt(signal, &body)).await?;
            if accepted.rejected > 0 || !accepted.message.is_empty() {
                self.partial.emit(
                    accepted.rejected,
                    &format_args!("{} rejected: {}", accepted.rejected, accepted.message),
                );
            }
            Ok(Exported {
                rejected: usize::try_from(accepted.rejected).unwrap_or(usize::MAX),
                overflowed: 0,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_header_values() {
        for (protocol, endpoint) in [
            (Protocol::Grpc, "http://127.0.0.1:4317"),
            (Protocol::Http, "http://127.0.0.1:4318"),
        ] {
            let mut cfg = OtlpExporterConfig {
                endpoint: endpoint.into(),
                ..Default::default()
            };
            cfg.headers.insert(
                "api-key".into(),
                llmtel_config::otlp_exporters::Secret("s3cret-value".into()),
            );
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _guard = rt.enter();
            let e =
                OtlpExporter::new(&ComponentId::parse("otlp").unwrap(), protocol, &cfg).unwrap();
            let shown = format!("{e:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("api-key"), "{shown}");
        }
    }
}
