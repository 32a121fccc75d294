//! The proxy's HTTP/1.1 client for the upstream, on connections it drives itself: a request is written on a pooled
//! keep-alive connection (or a new one), the response head is read, and the body ([`UpstreamBody`]) is read by the
//! task that writes it to the client, so that what one read of the upstream socket brought goes to the client in one
//! write ([`body`]). The wire format is in [`wire`], connections in [`conn`], the idle ones in [`pool`].
//!
//! A request on a reused connection that the server turns out to have closed (the write fails, or nothing at all
//! comes back) is sent once more on a new connection when that is safe: when the server cannot have acted on it
//! (the request was not fully written) or the method is idempotent, and the body is in hand (not a client's
//! stream already consumed), as HTTP clients do (RFC 9110 §9.2.2).

mod body;
mod conn;
mod pool;
mod wire;

#[cfg(test)]
mod tests;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf as _, Bytes};
use http::header::{self, HeaderMap};
use http::{Method, Response};
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Incoming};
use tokio::io::AsyncWriteExt as _;
use tokio_util::io::poll_read_buf;

pub use self::body::UpstreamBody;
use self::conn::{Conn, Dial, Io, READ_SIZE};
use self::pool::Pool;
use self::wire::{RequestFraming, ResponseHead};

/// Connections stay idle in the pool for at most this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// A request head and a body up to this size go in one write.
const ONE_WRITE: usize = 64 * 1024;

/// What goes upstream as the request body.
pub enum Outgoing {
    /// Bytes in hand (a request read whole, possibly empty).
    Whole(Bytes),
    /// The client's body, streamed through as it arrives.
    Stream(Incoming),
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The upstream could not be reached or did not answer with a valid response.
    Upstream(String),
    /// The client's request body failed while it was streamed upstream.
    ClientBody(String),
}

/// Where requests go and how.
#[derive(Debug)]
pub struct Client {
    dial: Dial,
    pool: Arc<Pool>,
    /// The `host` header: the upstream URL's authority (its port only when not the scheme's default).
    host: String,
    /// The upstream URL's path prefix, without a trailing `/`.
    prefix: String,
}

impl Client {
    /// A client for the upstream URL `url` (`http://` or `https://`, with `tls` for the latter), keeping up to
    /// `max_idle` idle connections.
    pub fn new(
        url: &http::Uri,
        tls: &rustls::ClientConfig,
        connect_timeout: Duration,
        max_idle: usize,
    ) -> Self {
        let https = url.scheme_str() == Some("https");
        let default_port = if https { 443 } else { 80 };
        let host = url.host().unwrap_or_default();
        let port = url.port_u16().unwrap_or(default_port);
        let tls = https.then(|| {
            let mut tls = tls.clone();
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(tls))
        });
        Self {
            dial: Dial {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port,
                tls,
                connect_timeout,
            },
            pool: Pool::new(max_idle, IDLE_TIMEOUT),
            host: if port == default_port {
                host.to_owned()
            } else {
                format!("{host}:{port}")
            },
            prefix: url.path().trim_end_matches('/').to_owned(),
        }
    }

    /// Sends `method` `path_and_query` with `headers` (end-to-end ones; the framing is this client's) and `body`,
    /// and reads the response head. The body is the caller's to read.
    pub async fn send(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Outgoing,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let with_payload = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        let (framing, mut body) = match body {
            Outgoing::Stream(s) if s.is_end_stream() => (RequestFraming::None, None),
            Outgoing::Stream(s) => {
                let declared = headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let framing = declared.map_or(RequestFraming::Chunked, RequestFraming::Length);
                (framing, Some(Outgoing::Stream(s)))
            }
            Outgoing::Whole(b) if b.is_empty() => (RequestFraming::None, None),
            Outgoing::Whole(b) => (
                RequestFraming::Length(b.len() as u64),
                Some(Outgoing::Whole(b)),
            ),
        };
        let framing = match framing {
            RequestFraming::None if with_payload => RequestFraming::Length(0),
            f => f,
        };
        let target = format!("{}{}", self.prefix, path_and_query);
        let head = wire::request_head(method, &target, &self.host, headers, framing);
        let replayable = !matches!(body, Some(Outgoing::Stream(_)));
        let mut retried = false;
        loop {
            // A request sent again goes on a new connection: the pool's others may be as stale as the first.
            let pooled = if retried { None } else { self.pool.take() };
            let (conn, reused) = match pooled {
                Some(conn) => (conn, true),
                None => (
                    self.dial.connect().await.map_err(SendError::Upstream)?,
                    false,
                ),
            };
            let outgoing = match &body {
                Some(Outgoing::Whole(b)) => Some(Outgoing::Whole(b.clone())),
                _ => body.take(),
            };
            match self.exchange(conn, &head, outgoing, framing, method).await {
                Ok(response) => return Ok(response),
                Err(Failed { error, may_resend }) => {
                    if reused && !retried && replayable && may_resend {
                        retried = true;
                        tracing::debug!(upstream = %self.host, error = ?error,
                            "llm_proxy: a kept-alive upstream connection was closed; sending again on a new one");
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// One request on `conn`, up to the response head.
    async fn exchange(
        &self,
        mut conn: Conn,
        head: &[u8],
        body: Option<Outgoing>,
        framing: RequestFraming,
        method: &Method,
    ) -> Result<Response<UpstreamBody>, Failed> {
        match write_request(&mut conn.io, head, body, framing).await {
            Ok(()) => {}
            Err(WriteError::Client(e)) => {
                return Err(Failed {
                    error: SendError::ClientBody(e),
                    may_resend: false,
                });
            }
            // A server may answer early (413, 401) and close: its answer is the one to relay, if it came.
            Err(WriteError::Upstream(e)) => {
                return match read_head(&mut conn, method).await {
                    Ok(h) => Ok(self.response(conn, h, false)),
                    Err(_) => Err(Failed {
                        error: SendError::Upstream(format!("writing the request: {e}")),
                        // Not all of it reached the server, which therefore did not act on it.
                        may_resend: true,
                    }),
                };
            }
        }
        match read_head(&mut conn, method).await {
            Ok(h) => Ok(self.response(conn, h, true)),
            // The server had the whole request and may have acted on it.
            Err(HeadError::Closed(e)) => Err(Failed {
                error: SendError::Upstream(e),
                may_resend: is_idempotent(method),
            }),
            Err(HeadError::Invalid(e)) => Err(Failed {
                error: SendError::Upstream(e),
                may_resend: false,
            }),
        }
    }

    fn response(&self, conn: Conn, head: ResponseHead, keep_alive: bool) -> Response<UpstreamBody> {
        let body = UpstreamBody::new(
            conn,
            head.length,
            keep_alive && head.keep_alive,
            self.pool.clone(),
        );
        let mut response = Response::new(body);
        *response.status_mut() = head.status;
        *response.headers_mut() = head.headers;
        response
    }
}

/// A failed exchange, and whether sending the request again cannot make the server act on it twice (if the
/// connection was a reused one that the server had closed).
struct Failed {
    error: SendError,
    may_resend: bool,
}

enum WriteError {
    Upstream(String),
    Client(String),
}

enum HeadError {
    /// The connection closed (or was reset) before a single byte of a response.
    Closed(String),
    Invalid(String),
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

async fn write_request(
    io: &mut Io,
    head: &[u8],
    body: Option<Outgoing>,
    framing: RequestFraming,
) -> Result<(), WriteError> {
    let up = |e: std::io::Error| WriteError::Upstream(e.to_string());
    match body {
        None => io.write_all(head).await.map_err(up)?,
        Some(Outgoing::Whole(b)) if head.len() + b.len() <= ONE_WRITE => {
            let mut all = Vec::with_capacity(head.len() + b.len());
            all.extend_from_slice(head);
            all.extend_from_slice(&b);
            io.write_all(&all).await.map_err(up)?;
        }
        Some(Outgoing::Whole(b)) => {
            io.write_all(head).await.map_err(up)?;
            io.write_all(&b).await.map_err(up)?;
        }
        Some(Outgoing::Stream(mut s)) => {
            io.write_all(head).await.map_err(up)?;
            let mut sent = 0u64;
            while let Some(frame) = s.frame().await {
                let frame = frame.map_err(|e| WriteError::Client(e.to_string()))?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                sent += data.len() as u64;
                match framing {
                    RequestFraming::Chunked => {
                        let size = format!("{:x}\r\n", data.len());
                        io.write_all(size.as_bytes()).await.map_err(up)?;
                        io.write_all(&data).await.map_err(up)?;
                        io.write_all(b"\r\n").await.map_err(up)?;
                    }
                    RequestFraming::Length(n) if sent > n => {
                        return Err(WriteError::Client(format!(
                            "the request body is longer than its content-length ({n})"
                        )));
                    }
                    _ => io.write_all(&data).await.map_err(up)?,
                }
            }
            match framing {
                RequestFraming::Chunked => io.write_all(b"0\r\n\r\n").await.map_err(up)?,
                RequestFraming::Length(n) if sent < n => {
                    return Err(WriteError::Client(format!(
                        "the request body ended after {sent} of its {n} bytes (content-length)"
                    )));
                }
                _ => {}
            }
        }
    }
    io.flush().await.map_err(up)
}

/// Reads the response head (after any interim 1xx responses, which are dropped).
async fn read_head(conn: &mut Conn, method: &Method) -> Result<ResponseHead, HeadError> {
    let mut received = false;
    loop {
        match wire::parse_response_head(&conn.buf, method).map_err(HeadError::Invalid)? {
            Some((head, used)) => {
                conn.buf.advance(used);
                received = true;
                if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                    return Err(HeadError::Invalid(
                        "the upstream switched protocols (101), which no request asked for"
                            .to_owned(),
                    ));
                }
                if head.status.is_informational() {
                    continue;
                }
                return Ok(head);
            }
            None => {
                conn.buf.reserve(READ_SIZE);
                let read =
                    poll_fn(|cx| poll_read_buf(Pin::new(&mut conn.io), cx, &mut conn.buf)).await;
                let nothing_yet = !received && conn.buf.is_empty();
                match read {
                    Ok(0) if nothing_yet => {
                        return Err(HeadError::Closed(
                            "the upstream closed the connection without answering".to_owned(),
                        ));
                    }
                    Ok(0) => {
                        return Err(HeadError::Invalid(
                            "the upstream closed the connection in the middle of the response head"
                                .to_owned(),
                        ));
                    }
                    Ok(_) => {}
                    Err(e) if nothing_yet => {
                        return Err(HeadError::Closed(format!("reading the response: {e}")));
                    }
                    Err(e) => return Err(HeadError::Invalid(format!("reading the response: {e}"))),
                }
            }
        }
    }
}
