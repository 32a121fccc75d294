//! The accept loop: takes client connections on the listen socket (HTTP/1.1 or h2c) and serves each request with
//! [`super::handle::handle`]. Each connection has a token that closes it (the write timeout closes a client that
//! stopped reading, [`super::stall`]), a child of the proxy's `cut` token.
//!
//! At shutdown it stops accepting at once (the listener is closed), tells every connection to finish (HTTP/1.1:
//! no keep-alive after the current response; HTTP/2: GOAWAY), and lets the requests in flight run for
//! `drain_timeout`. Those still running then are cut: `cut` is cancelled, which closes their connections and so
//! drops their upstream requests (the model server stops generating); their bodies end as
//! [`super::body::Ending::Shutdown`] and their spans say `error.type=shutdown`.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use llmtel_pipelines::events::EventCounter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::handle::{State, handle};

/// How the accept loop ends.
#[derive(Debug)]
pub(super) struct Drain {
    /// How long requests in flight may run after shutdown begins.
    pub timeout: Duration,
    /// Counts the requests cut when it runs out.
    pub cut_count: Arc<EventCounter>,
}

/// Accepts connections until `shutdown`, then drains (see the module doc).
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: CancellationToken,
    drain: Drain,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // A client that connects and sends no complete request head within 30 s is dropped (hyper needs a timer for it).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let cut = state.shared.cut.clone();
    // Connections, so that the loop can forget those that ended.
    let mut conns = tokio::task::JoinSet::new();
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
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let close = cut.child_token();
        let for_requests = close.clone();
        let svc =
            hyper::service::service_fn(move |req| handle(state.clone(), for_requests.clone(), req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        conns.spawn(async move {
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, "llm_proxy: client connection ended with an error");
                },
                // Dropping the connection drops its requests, their bodies and their upstream requests.
                () = close.cancelled() => {}
            }
        });
    }
    drop(listener);
    let in_flight = state.limit.in_use();
    if in_flight > 0 {
        tracing::info!(requests = in_flight, drain_timeout = ?drain.timeout,
            "llm_proxy: stopped accepting; letting requests in flight finish");
    }
    if tokio::time::timeout(drain.timeout, graceful.shutdown())
        .await
        .is_err()
    {
        let left = state.limit.in_use();
        drain.cut_count.emit(
            left,
            &format_args!("{left} requests still running after {:?}", drain.timeout),
        );
        // Their spans end as `shutdown` before the providers shut down.
        cut.cancel();
        while conns.join_next().await.is_some() {}
    }
}
