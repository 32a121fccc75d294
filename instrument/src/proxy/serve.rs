//! The accept loop: takes client connections on the listen socket (HTTP/1.1 or h2c; with `tls:`, HTTPS with ALPN
//! `h2` and `http/1.1`) and serves each request with [`super::handle::handle`]. Each connection has a token that
//! closes it (the write timeout closes a client that stopped reading, [`super::stall`]), a child of the proxy's
//! `cut` token. A TLS handshake runs in its connection's task under `tls.handshake_timeout`, so a client that
//! stalls it never holds up the loop; failed handshakes are counted (`tls_handshake_failed`).
//!
//! At shutdown it stops accepting at once (the listener is closed), tells every connection to finish (HTTP/1.1:
//! no keep-alive after the current response; HTTP/2: GOAWAY), and lets the requests in flight run for
//! `drain_timeout`. Those still running then are cut: `cut` is cancelled, which closes their connections and so
//! drops their upstream requests (the model server stops generating); their bodies end as
//! [`super::body::Ending::Shutdown`] and their spans say `error.type=shutdown`.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::Watcher;
use llmtel_pipelines::events::{self, Event, EventCounter};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::handle::{State, handle};

/// How long a connection accepted just before the stop has to send its first request.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// The sidecar's TLS: the acceptor and the time a handshake may take.
#[derive(Clone)]
pub(super) struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub handshake_timeout: Duration,
}

/// How the accept loop ends.
#[derive(Debug)]
pub(super) struct Drain {
    /// How long requests in flight may run after shutdown begins.
    pub timeout: Duration,
    /// Counts the requests cut when it runs out.
    pub cut_count: Arc<EventCounter>,
}

/// Accepts connections until `shutdown`, then drains (see the module doc). `id` names the receiver in counts and
/// logs.
pub(super) async fn serve(
    id: &str,
    listener: TcpListener,
    tls: Option<Tls>,
    state: Arc<State>,
    shutdown: CancellationToken,
    drain: Drain,
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
    let cut = state.shared.cut.clone();
    // Connections, so that the loop can forget those that ended.
    let mut conns = tokio::task::JoinSet::new();
    // When the last connection was accepted: one accepted just before the stop (a reload hands the socket to the
    // next generation while this one still accepts) gets a moment to send its request before idle ones are closed.
    let mut last_accept: Option<tokio::time::Instant> = None;
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
        last_accept = Some(tokio::time::Instant::now());
        let _ = stream.set_nodelay(true);
        let (state, builder, watcher) = (state.clone(), builder.clone(), graceful.watcher());
        let tls = tls_counted.clone();
        let close = cut.child_token();
        conns.spawn(async move {
            let served = async {
                let Some((tls, failed)) = tls else {
                    return connection(stream, state, &builder, watcher, close.clone()).await;
                };
                match tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream)).await
                {
                    Ok(Ok(stream)) => {
                        connection(stream, state, &builder, watcher, close.clone()).await;
                    }
                    Ok(Err(e)) => failed.emit(1, &format_args!("llm_proxy: client {peer}: {e}")),
                    Err(_) => failed.emit(
                        1,
                        &format_args!(
                            "llm_proxy: client {peer}: no handshake within {:?} (tls.handshake_timeout)",
                            tls.handshake_timeout
                        ),
                    ),
                }
            };
            tokio::select! {
                () = served => {}
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
    if let Some(at) = last_accept {
        tokio::time::sleep_until(at + FIRST_REQUEST_GRACE).await;
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

/// Serves the requests of one client connection (plain or TLS-terminated) until it closes; `close` is handed to
/// each request, which cancels it to close the connection (a client that stopped reading).
async fn connection<IO>(
    io: IO,
    state: Arc<State>,
    builder: &Builder<TokioExecutor>,
    watcher: Watcher,
    close: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| handle(state.clone(), close.clone(), req));
    let conn = builder.serve_connection(TokioIo::new(io), svc).into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "llm_proxy: client connection ended with an error");
    }
}
