//! The connections a listener accepted, as one stream for axum (`axum::serve::Listener`) and tonic
//! (`Stream` of [`Conn`]). A task accepts TCP connections; with TLS, each handshake runs in a task of its own
//! under the listener's `handshake_timeout`, so a client that stalls its handshake (or speaks plain HTTP to a TLS
//! port) never holds up the next one. Failed handshakes are counted (`tls_handshake_failed`) and logged at most
//! once a minute. At `stop` the task takes no more connections from the socket (a reload's next generation,
//! which shares it, takes them); those already taken are still handed out, and [`Incoming::settled`] tells the
//! server when it may close its idle connections ([`crate::gate`]).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use llmtel_pipelines::events::{self, Event};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::gate::LastAccept;

/// Accepted connections waiting for the server; the accept task waits when the server does not take them.
const BACKLOG: usize = 64;

/// A listener's TLS: the acceptor and the time a handshake may take.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    pub(crate) handshake_timeout: Duration,
}

/// One accepted connection, plain or TLS-terminated.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// The accepted connections of one listener.
pub(crate) struct Incoming {
    rx: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
    stop: CancellationToken,
    last: LastAccept,
}

/// Starts accepting on `listener` (bound at `local`) for `component`'s listener `what`; the accept task ends
/// at `stop` or when the returned [`Incoming`] is dropped.
pub(crate) fn spawn(
    component: &str,
    what: &str,
    listener: TcpListener,
    local: SocketAddr,
    tls: Option<Tls>,
    stop: CancellationToken,
) -> Incoming {
    let (tx, rx) = mpsc::channel(BACKLOG);
    // Counted only where there are handshakes, so that plain listeners add no series.
    let failed = tls
        .is_some()
        .then(|| events::counter(component, Event::TlsHandshakeFailed));
    let what = what.to_owned();
    let stopped = stop.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                biased;
                () = stopped.cancelled() => break,
                () = tx.closed() => break,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(listener = %what, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let (Some(tls), Some(failed)) = (&tls, &failed) else {
                if tx.send((Conn::Plain(tcp), peer)).await.is_err() {
                    break;
                }
                continue;
            };
            let (tx, tls, failed, what) = (tx.clone(), tls.clone(), failed.clone(), what.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send((Conn::Tls(Box::new(stream)), peer)).await;
                    }
                    Ok(Err(e)) => failed.emit(1, &format_args!("{what}: client {peer}: {e}")),
                    Err(_) => failed.emit(
                        1,
                        &format_args!(
                            "{what}: client {peer}: no handshake within {:?} (tls.handshake_timeout)",
                            tls.handshake_timeout
                        ),
                    ),
                }
            });
        }
    });
    Incoming {
        rx,
        local,
        stop,
        last: LastAccept::default(),
    }
}

// === impl Incoming ===

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => {
                self.last.mark();
                c
            }
            // Stopped and every connection taken handed out: the server's shutdown signal ends it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Incoming {
    /// The server's shutdown signal: `stop`, then a moment after the last connection handed out.
    pub(crate) fn settled(&self) -> impl Future<Output = ()> + Send + 'static {
        self.last.settled(self.stop.clone())
    }

    /// The connections as a stream, for tonic's `serve_with_incoming_shutdown`.
    pub(crate) fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<Conn, io::Error>> + Send + 'static {
        let last = self.last;
        futures_util::stream::unfold(self.rx, move |mut rx| {
            let last = last.clone();
            async move {
                let next = rx.recv().await;
                if next.is_some() {
                    last.mark();
                }
                next.map(|(c, _)| (Ok(c), rx))
            }
        })
    }
}

// === impl Conn ===

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            Self::Plain(s) => s.connect_info(),
            Self::Tls(s) => s.get_ref().0.connect_info(),
        }
    }
}
