//! A graceful stop for axum servers that does not cut a client that has just connected. axum's own graceful
//! shutdown stops accepting and closes every idle connection at once, and a connection accepted a moment before,
//! whose request is still on its way, is idle: its client sees the connection closed with no answer. That happens at
//! each reload (`crate::reload`), where the old and the new generation accept from one socket until the old one
//! stops. [`Gated`] wraps the listener: once `stop` is cancelled it hands out no more connections (they wait in the
//! socket's queue for the next generation), and [`Gated::settled`], given to axum as its shutdown signal, fires
//! [`FIRST_REQUEST_GRACE`] after the last connection it handed out, so that connection's request is being served
//! (and finished, keep-alive off) instead of dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a connection accepted just before the stop has to send its first request.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// A listener that stops handing out connections when `stop` is cancelled.
#[derive(Debug)]
pub struct Gated<L> {
    inner: L,
    stop: CancellationToken,
    last: Arc<Mutex<Option<Instant>>>,
}

impl<L> Gated<L> {
    /// Wraps `inner` until `stop`.
    pub fn new(inner: L, stop: CancellationToken) -> Self {
        Self {
            inner,
            stop,
            last: Arc::default(),
        }
    }

    /// The shutdown signal for the server: `stop`, then [`FIRST_REQUEST_GRACE`] after the last connection accepted
    /// (no wait if that is longer ago).
    pub fn settled(&self) -> impl Future<Output = ()> + Send + 'static {
        let (stop, last) = (self.stop.clone(), self.last.clone());
        async move {
            stop.cancelled().await;
            let last = *last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = last {
                tokio::time::sleep_until(at + FIRST_REQUEST_GRACE).await;
            }
        }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for Gated<L> {
    type Io = L::Io;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => std::future::pending().await,
            conn = self.inner.accept() => {
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                conn
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
