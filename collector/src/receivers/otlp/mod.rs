//! Receiver `otlp`: OTLP from other programs, over gRPC (tonic: the trace, metrics and logs services) and over HTTP
//! (`/v1/traces`, `/v1/metrics`, `/v1/logs`, protobuf or JSON, optionally gzip). What arrives is handed to the
//! pipelines through an [`Output`] (`accept.rs`); when their queues are full the client is refused with a retryable
//! answer (gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After) and the refusal is counted. Nothing is
//! dropped silently and no client waits for queue space. Each server may have TLS and bearer auth
//! (`crate::listen`). This file binds both listeners; `grpc.rs` and `http.rs`
//! serve them.

mod accept;
pub mod decode;
mod grpc;
mod http;

use std::sync::Arc;
use std::time::Duration;

use llmtel_config::{BearerAuthConfig, ComponentId, OtlpReceiverConfig, ServerTlsConfig};

use crate::listen::Guard;
use crate::listen::bearer::Bearer;
use crate::listen::incoming::Incoming;
use crate::listeners::Listeners;
use llmtel_pipelines::{BoxFuture, Output, Receiver, StartError};
use tokio_util::sync::CancellationToken;

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

/// Binds `endpoint` for the server whose settings are at `settings` (`tls`, `auth`), naming it in the error, logs
/// the bound address, records it as `"{id} {what}"`, and returns its connections (TLS-terminated when configured)
/// and its bearer check, whose connections end at `stop`.
async fn bind(
    (id, listeners): (&str, &Listeners),
    what: &str,
    settings: &str,
    endpoint: &str,
    tls: (&ServerTlsConfig, &[&[u8]]),
    auth: &BearerAuthConfig,
    stop: &CancellationToken,
) -> Result<(Incoming, Option<Arc<Bearer>>), StartError> {
    let fail = |message: String| StartError {
        component: id.to_owned(),
        message: format!("{what}: {message}"),
    };
    let guard = Guard::build(id, settings, tls.0, Some(auth), tls.1).map_err(fail)?;
    let err = |e: std::io::Error| fail(format!("bind {endpoint}: {e}"));
    // Through the registry: a reload hands over the running generation's socket (see `crate::listeners`).
    let listener = listeners
        .bind_tokio(&format!("{id} {what}"), endpoint)
        .map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    tracing::info!(receiver = id, endpoint = %local, scheme = guard.scheme(), "{what} receiver listening");
    listeners.record(&format!("{id} {what}"), local);
    Ok((
        guard.incoming(what, listener, local, stop.clone()),
        guard.bearer(),
    ))
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
                let (incoming, bearer) = bind(
                    (&self.id, &self.listeners),
                    "otlp grpc",
                    &format!("receivers.{}.protocols.grpc", self.id),
                    g.endpoint.as_str(),
                    (&g.tls, crate::tls::ALPN_H2),
                    &g.auth,
                    &shutdown,
                )
                .await?;
                servers.push(grpc::serve(&self.id, g, incoming, bearer, output.clone()));
            }
            if let Some(h) = &self.cfg.protocols.http {
                let (incoming, bearer) = bind(
                    (&self.id, &self.listeners),
                    "otlp http",
                    &format!("receivers.{}.protocols.http", self.id),
                    h.endpoint.as_str(),
                    (&h.tls, crate::tls::ALPN_H2_HTTP1),
                    &h.auth,
                    &shutdown,
                )
                .await?;
                servers.push(http::serve(&self.id, h, incoming, bearer, output.clone()));
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
