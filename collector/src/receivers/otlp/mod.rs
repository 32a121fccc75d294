//! Receiver `otlp`: OTLP from other programs, over gRPC (tonic: the trace, metrics and logs services) and over HTTP
//! (`/v1/traces`, `/v1/metrics`, `/v1/logs`, protobuf or JSON, optionally gzip). What arrives is handed to the
//! pipelines through an [`Output`]; when their queues are full the client is refused with a retryable answer
//! (gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After) and the refusal is counted. Nothing is dropped
//! silently and no client waits for queue space.

mod grpc;
mod http;

use std::time::Duration;

use llmtel_config::{ComponentId, OtlpReceiverConfig};

use crate::Listeners;
use llmtel_pipelines::{BoxFuture, Output, Payload, Receiver, SendError, Signal, StartError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a refused client is asked to wait before retrying.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// After shutdown begins, how long requests in flight get to finish. Connections still open after that (an SDK
/// keeps its gRPC channel open while idle) are closed, so one idle client cannot hold up the shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The `otlp` receiver.
#[derive(Debug)]
pub struct OtlpReceiver {
    id: String,
    cfg: OtlpReceiverConfig,
    listeners: Listeners,
}

impl OtlpReceiver {
    /// A receiver named `id` with these settings; it records the addresses it binds in `listeners`.
    pub fn new(id: &ComponentId, cfg: &OtlpReceiverConfig, listeners: Listeners) -> Self {
        Self {
            id: id.to_string(),
            cfg: cfg.clone(),
            listeners,
        }
    }
}

/// Why a request was not accepted, independent of the protocol that carried it.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The pipelines are full or shutting down: retry later.
    Unavailable(String),
    /// This receiver feeds no pipeline of the request's signal.
    NotServed(String),
}

/// Items of an accepted request that were rejected as invalid: the OTLP partial-success answer.
#[derive(Debug, Default)]
pub(crate) struct Rejected {
    pub(crate) count: i64,
    pub(crate) message: String,
}

/// Hands a decoded request to the pipelines. Empty requests succeed without touching them (OTLP spec). Spans whose
/// trace or span id is not a valid id (16 and 8 bytes, not all zero) are rejected and reported as a partial
/// success; the rest of the request goes on.
pub(crate) fn accept(output: &Output, mut batch: Payload) -> Result<Rejected, Refusal> {
    let rejected = drop_invalid(&mut batch);
    if rejected.count > 0 {
        output.record_rejected(batch.signal(), rejected.count as usize);
    }
    if batch.is_empty() {
        return Ok(rejected);
    }
    match output.try_send(batch) {
        Ok(()) => Ok(rejected),
        Err(e @ (SendError::Full { .. } | SendError::Closed)) => {
            Err(Refusal::Unavailable(e.to_string()))
        }
        Err(SendError::NoPipeline(signal)) => Err(Refusal::NotServed(not_served(output, signal))),
    }
}

/// Removes the spans an OTLP backend would refuse: a trace id that is not 16 bytes or is all zero, a span id that
/// is not 8 bytes or is all zero, a parent span id that is neither empty nor 8 bytes.
fn drop_invalid(batch: &mut Payload) -> Rejected {
    let Payload::Traces(resources) = batch else {
        return Rejected::default();
    };
    let valid_id = |id: &[u8], len: usize| id.len() == len && id.iter().any(|b| *b != 0);
    let mut count = 0i64;
    for span_list in resources
        .iter_mut()
        .flat_map(|r| r.scope_spans.iter_mut())
        .map(|s| &mut s.spans)
    {
        let before = span_list.len();
        span_list.retain(|s| {
            valid_id(&s.trace_id, 16)
                && valid_id(&s.span_id, 8)
                && (s.parent_span_id.is_empty() || s.parent_span_id.len() == 8)
        });
        count += (before - span_list.len()) as i64;
    }
    let message = if count > 0 {
        format!(
            "{count} spans rejected: trace_id must be 16 bytes and span_id 8 bytes, not all zero"
        )
    } else {
        String::new()
    };
    Rejected { count, message }
}

fn not_served(output: &Output, signal: Signal) -> String {
    format!(
        "receiver {} feeds no {signal} pipeline: add it to a service.pipelines.{signal} receivers list",
        output.component()
    )
}

/// Binds `endpoint`, naming it in the error, logs the bound address and records it as `"{id} {what}"`.
pub(crate) async fn bind(
    id: &str,
    what: &str,
    endpoint: &str,
    listeners: &Listeners,
) -> Result<TcpListener, StartError> {
    let err = |e: std::io::Error| StartError {
        component: id.to_owned(),
        message: format!("{what}: bind {endpoint}: {e}"),
    };
    let listener = TcpListener::bind(endpoint).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    tracing::info!(receiver = id, endpoint = %local, "{what} receiver listening");
    listeners.record(&format!("{id} {what}"), local);
    Ok(listener)
}

impl Receiver for OtlpReceiver {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        Box::pin(async move {
            let mut servers: Vec<BoxFuture<'static, ()>> = Vec::new();
            if let Some(g) = &self.cfg.protocols.grpc {
                servers.push(
                    grpc::start(
                        &self.id,
                        g,
                        &self.listeners,
                        output.clone(),
                        shutdown.clone(),
                    )
                    .await?,
                );
            }
            if let Some(h) = &self.cfg.protocols.http {
                servers.push(
                    http::start(
                        &self.id,
                        h,
                        &self.listeners,
                        output.clone(),
                        shutdown.clone(),
                    )
                    .await?,
                );
            }
            drop(output);
            let id = self.id;
            let serve: BoxFuture<'static, ()> = Box::pin(async move {
                let servers = futures_util::future::join_all(servers);
                let grace_over = async {
                    shutdown.cancelled().await;
                    tokio::time::sleep(SHUTDOWN_GRACE).await;
                };
                tokio::select! {
                    _ = servers => {}
                    () = grace_over => {
                        tracing::info!(receiver = %id, grace = ?SHUTDOWN_GRACE, "closing client connections still open after the grace period");
                    }
                }
            });
            Ok(serve)
        })
    }
}
