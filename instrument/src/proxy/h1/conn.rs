//! One connection to the upstream: plain TCP or TLS, with its read buffer, and how to open one (every address the
//! name resolves to in turn, each within `connect_timeout`; TCP_NODELAY, so that small chunks never wait for an
//! ACK).

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

/// How many bytes a read may bring at least (the buffer grows to fit more when a body is large).
pub(super) const READ_SIZE: usize = 16 * 1024;

/// The byte stream under a connection: plain TCP or TLS over it (`Either` passes reads and vectored writes on).
pub(super) type Io = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// A connection to the upstream and the bytes read from it that no one has taken yet.
pub(super) struct Conn {
    pub io: Io,
    pub buf: BytesMut,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("tls", &matches!(self.io, Either::Right(_)))
            .field("buffered", &self.buf.len())
            .finish()
    }
}

/// Where connections go.
#[derive(Clone)]
pub(super) struct Dial {
    pub host: String,
    pub port: u16,
    /// For `https://` upstreams.
    pub tls: Option<tokio_rustls::TlsConnector>,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for Dial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dial")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Dial {
    /// A new connection, or why there is none (naming the address and the cause).
    pub async fn connect(&self) -> Result<Conn, String> {
        let name = (self.host.as_str(), self.port);
        let addrs: Vec<_> =
            tokio::time::timeout(self.connect_timeout, tokio::net::lookup_host(name))
                .await
                .map_err(|_| {
                    format!(
                        "resolving {}: timed out after {:?}",
                        self.host, self.connect_timeout
                    )
                })?
                .map_err(|e| format!("resolving {}: {e}", self.host))?
                .collect();
        let mut failed = format!("resolving {}: no addresses", self.host);
        let mut tcp = None;
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Ok(Err(e)) => failed = format!("connect {addr}: {e}"),
                Err(_) => {
                    failed = format!(
                        "connect {addr}: timed out after {:?} (llm_proxy connect_timeout)",
                        self.connect_timeout
                    );
                }
            }
        }
        let tcp = tcp.ok_or(failed)?;
        // Small chunks must go at once: a token stream is all small writes.
        tcp.set_nodelay(true)
            .map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
        let io = match &self.tls {
            None => Either::Left(tcp),
            Some(connector) => {
                let server = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("TLS server name {:?}: {e}", self.host))?;
                let tls =
                    tokio::time::timeout(self.connect_timeout, connector.connect(server, tcp))
                        .await
                        .map_err(|_| {
                            format!(
                                "TLS handshake with {}: timed out after {:?}",
                                self.host, self.connect_timeout
                            )
                        })?
                        .map_err(|e| format!("TLS handshake with {}: {e}", self.host))?;
                Either::Right(Box::new(tls))
            }
        };
        Ok(Conn {
            io,
            buf: BytesMut::with_capacity(READ_SIZE),
        })
    }
}

impl Conn {
    /// Whether an idle connection can take another request: the server has not closed it, reset it or sent
    /// anything unasked. Looks without waiting (a read that would block means all is well).
    pub fn is_open(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut probe),
            Poll::Pending
        )
    }
}
