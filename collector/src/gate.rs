//! A graceful stop for the collector's servers that does not cut a client that has just connected. axum's own
//! graceful shutdown stops accepting and closes every idle connection at once, and a connection accepted a moment
//! before, whose request is still on its way, is idle: its client sees the connection closed with no answer. That
//! happens at each reload (`crate::reload`), where the old and the new generation accept from one socket until the
//! old one stops. So a listener's accepted connections ([`crate::listen::incoming::Incoming`]) stop being taken
//! from the socket when `stop` is cancelled (later ones wait in the socket's queue for the next generation), those
//! already taken are still handed to the server, and [`LastAccept::settled`], given to the server as its shutdown
//! signal, fires [`FIRST_REQUEST_GRACE`] after the last connection handed out, so that connection's request is
//! served (and finished, keep-alive off) instead of dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a connection accepted just before the stop has to send its first request.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// When a listener last handed a connection to its server.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastAccept(Arc<Mutex<Option<Instant>>>);

impl LastAccept {
    /// Notes a connection handed out now.
    pub(crate) fn mark(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// The shutdown signal for the server: `stop`, then [`FIRST_REQUEST_GRACE`] after the last connection handed
    /// out (no wait if that is longer ago; a connection handed out during the wait extends it).
    pub(crate) fn settled(
        &self,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let last = self.0.clone();
        async move {
            stop.cancelled().await;
            loop {
                let at = *last.lock().unwrap_or_else(|p| p.into_inner());
                match at {
                    Some(at) if at + FIRST_REQUEST_GRACE > Instant::now() => {
                        tokio::time::sleep_until(at + FIRST_REQUEST_GRACE).await;
                    }
                    _ => break,
                }
            }
        }
    }
}
