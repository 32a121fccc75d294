//! The upstream's response body, read by whoever polls it, on the connection itself: the task that writes the
//! response to the client reads the upstream socket, so each poll hands over everything that one read (or a few, while
//! the socket has more) brought, decoded from the chunked coding into one frame — one write to the client per read,
//! as nginx forwards, where a client library would hand the body over a chunk at a time from a task of its own.
//!
//! A poll never waits for more than what is there: the first bytes of a read go to the client at once. When the body
//! has been read to its end, the connection goes back to the pool (if the server keeps it open); dropping the body
//! before that closes the connection, which is how the model server learns that the client left.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio_util::io::poll_read_buf;

use super::conn::{Conn, READ_SIZE};
use super::pool::Pool;
use super::wire::{BodyLength, Chunked};

/// A frame holds at most this many bytes: a read stops once the buffer holds this much.
pub(crate) const MAX_FRAME: usize = 64 * 1024;

/// Why the upstream body could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyReadError(String);

/// What of the body is still to come.
#[derive(Debug)]
enum Left {
    Known(u64),
    Chunked(Chunked),
    UntilClose,
}

/// The response body of one upstream exchange.
#[derive(Debug)]
pub struct UpstreamBody {
    /// `None` once the body ended (the connection went back to the pool or was closed).
    conn: Option<Conn>,
    left: Left,
    /// Whether the connection may serve another request once the body is read.
    keep_alive: bool,
    pool: Arc<Pool>,
}

impl UpstreamBody {
    pub(super) fn new(conn: Conn, length: BodyLength, keep_alive: bool, pool: Arc<Pool>) -> Self {
        let left = match length {
            BodyLength::Empty => Left::Known(0),
            BodyLength::Known(n) => Left::Known(n),
            BodyLength::Chunked => Left::Chunked(Chunked::default()),
            BodyLength::UntilClose => Left::UntilClose,
        };
        let mut body = Self {
            conn: Some(conn),
            left,
            keep_alive,
            pool,
        };
        if body.complete() {
            body.release();
        }
        body
    }

    fn complete(&self) -> bool {
        match &self.left {
            Left::Known(n) => *n == 0,
            Left::Chunked(c) => c.is_done(),
            Left::UntilClose => false,
        }
    }

    /// The body ended: the connection serves the next request if the server keeps it and sent nothing more.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && conn.buf.is_empty()
        {
            self.pool.put(conn);
        }
    }

    /// Closes the connection after a failure.
    fn fail(&mut self, why: String) -> Poll<Option<Result<Frame<Bytes>, BodyReadError>>> {
        self.conn = None;
        Poll::Ready(Some(Err(BodyReadError(why))))
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyReadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyReadError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            // Everything the socket holds now, up to a frame's worth; no more of a known length than is left.
            let mut eof = false;
            let mut pending = false;
            while conn.buf.len() < MAX_FRAME
                && !matches!(this.left, Left::Known(n) if conn.buf.len() as u64 >= n)
            {
                conn.buf.reserve(READ_SIZE);
                match poll_read_buf(Pin::new(&mut conn.io), cx, &mut conn.buf) {
                    Poll::Ready(Ok(0)) => {
                        eof = true;
                        break;
                    }
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(e)) => {
                        return this.fail(format!("reading the upstream body: {e}"));
                    }
                    Poll::Pending => {
                        pending = true;
                        break;
                    }
                }
            }
            let mut out = BytesMut::new();
            match &mut this.left {
                Left::Known(n) => {
                    let take =
                        usize::try_from(*n).map_or(conn.buf.len(), |n| n.min(conn.buf.len()));
                    out.extend_from_slice(&conn.buf[..take]);
                    conn.buf.advance(take);
                    *n -= take as u64;
                }
                Left::Chunked(c) => {
                    out.reserve(conn.buf.len());
                    if let Err(e) = c.decode(&mut conn.buf, &mut out) {
                        return this.fail(format!("invalid chunked body from the upstream: {e}"));
                    }
                }
                Left::UntilClose => {
                    out.extend_from_slice(&conn.buf);
                    conn.buf.clear();
                }
            }
            let complete = this.complete() || (eof && matches!(this.left, Left::UntilClose));
            if complete {
                this.release();
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
            if complete {
                return Poll::Ready(None);
            }
            if eof {
                let why = match &this.left {
                    Left::Known(n) => {
                        format!(
                            "the upstream closed the connection {n} bytes before the body's end"
                        )
                    }
                    _ => "the upstream closed the connection before the chunked body's end"
                        .to_owned(),
                };
                return this.fail(why);
            }
            if pending {
                return Poll::Pending;
            }
            // Only framing bytes in a full buffer: read on.
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.complete()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.left, self.conn.is_some()) {
            (_, false) => SizeHint::with_exact(0),
            (Left::Known(n), true) => SizeHint::with_exact(*n),
            _ => SizeHint::default(),
        }
    }
}
