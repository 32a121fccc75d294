//! The accept loop: takes client connections on the listen socket (HTTP/1.1 or h2c), serves each request with
//! [`super::handle::handle`], and at shutdown stops accepting and lets requests in flight finish (up to 10 s)
//! before closing what is left.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::handle::{State, handle};

/// How long a connection accepted just before the stop has to send its first request.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// Accepts connections until `shutdown`, then lets requests in flight finish (up to 10 s).
pub(super) async fn serve(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // A client that connects and sends no complete request head within 30 s is dropped (hyper needs a timer for it).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    // Connections, so that those still open when the grace period ends can be closed.
    let mut conns = tokio::task::JoinSet::new();
    // When the last connection was accepted: one accepted just before the stop (a reload hands the socket to the
    // next generation while this one still accepts) gets a moment to send its request before idle ones are closed.
    let mut last_accept: Option<tokio::time::Instant> = None;
    loop {
        let (stream, _peer) = tokio::select! {
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
        last_accept = Some(tokio::time::Instant::now());
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        conns.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "llm_proxy: client connection ended with an error");
            }
        });
    }
    drop(listener);
    if let Some(at) = last_accept {
        tokio::time::sleep_until(at + FIRST_REQUEST_GRACE).await;
    }
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("llm_proxy: requests still running 10s after shutdown began; closing them");
        // Their spans end as `client_disconnected` before the providers shut down.
        conns.abort_all();
    }
}
