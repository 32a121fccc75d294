//! The accept loop: takes client connections on the listen socket (HTTP/1.1 or h2c; with `tls:`, HTTPS with ALPN
//! `h2` and `http/1.1`), serves each request with [`super::handle::handle`], and at shutdown stops accepting and
//! lets requests in flight finish (up to 10 s) before closing what is left.
//!
//! A TLS handshake runs in its connection's task under `tls.handshake_timeout`, so a client that stalls it never
//! holds up the loop; failed handshakes are counted (`tls_tls_counted`).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::Watcher;
use llmtel_pipelines::events::{self, Event};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::handle::{State, handle};

/// The sidecar's TLS: the acceptor and the time a handshake may take.
#[derive(Clone)]
pub(super) struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub handshake_timeout: Duration,
}

/// Accepts connections until `shutdown`, then lets requests in flight finish (up to 10 s). `id` names the
/// receiver in counts and logs.
pub(super) async fn serve(
    id: &str,
    listener: TcpListener,
    tls: Option<Tls>,
    state: Arc<State>,
    shutdown: CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // A client that connects and sends no complete request head within 30 s is dropped (hyper needs a timer for it).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    // Counted only where there are handshakes, so that a plain listener adds no series.
    let tls_counted = tls
        .as_ref()
        .map(|tls| (tls.clone(), events::counter(id, Event::TlsHandshakeFailed)));
    // Connections, so that those still open when the grace period ends can be closed.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "llm_proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let (state, builder, watcher) = (state.clone(), builder.clone(), graceful.watcher());
        let tls = tls_counted.clone();
        conns.spawn(async move {
            let Some((tls, failed)) = tls else {
                return connection(stream, state, &builder, watcher).await;
            };
            match tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream)).await {
                Ok(Ok(stream)) => connection(stream, state, &builder, watcher).await,
                Ok(Err(e)) => failed.emit(1, &format_args!("llm_proxy: client {peer}: {e}")),
                Err(_) => failed.emit(
                    1,
                    &format_args!(
                        "llm_proxy: client {peer}: no handshake within {:?} (tls.handshake_timeout)",
                        tls.handshake_timeout
                    ),
                ),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("llm_proxy: requests still running 10s after shutdown began; closing them");
        // Their spans end as `client_disconnected` before the providers shut down.
        conns.abort_all();
    }
}

/// Serves the requests of one client connection (plain or TLS-terminated) until it closes.
async fn connection<IO>(
    io: IO,
    state: Arc<State>,
    builder: &Builder<TokioExecutor>,
    watcher: Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
    let conn = builder.serve_connection(TokioIo::new(io), svc).into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "llm_proxy: client connection ended with an error");
    }
}
