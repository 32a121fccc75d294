//! The write timeout: telling a client that stopped reading from one that is waiting for the model.
//!
//! hyper polls a response body only when the client's connection can take more: its write buffer has room,
//! which it has once the socket's send buffer drains. So the response body ([`super::body::TappedBody`]) marks
//! each frame it hands to hyper ([`WriteWatch::handed`]) and clears the mark when it is polled again
//! ([`WriteWatch::polled`]). A mark older than `write_timeout` means hyper has held a chunk that long without
//! being able to write it: the client is not reading. A body that is waiting for the upstream holds no mark (it
//! was polled and answered `Pending`): that is the read timeout's business, not this one's.
//!
//! A watchdog task per response ([`WriteWatch::spawn`]) checks the mark; when it is too old, it notes the stall
//! (the body's end then says [`super::body::Ending::ClientStalled`]), counts it and closes the client's
//! connection, which drops the body and with it the upstream request, so the model server stops generating.
//! It ends with the body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use llmtel_pipelines::events::EventCounter;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What the body and its watchdog share.
#[derive(Debug)]
struct Mark {
    /// The watch's start; marks are nanoseconds after it.
    base: Instant,
    /// Nanoseconds after `base` (plus one) when hyper last took a frame without polling again since; 0: none held.
    handed_at: AtomicU64,
    /// Set by the watchdog when it gave up on the client.
    stalled: AtomicBool,
}

/// The body's side of the watch. Dropping it (with the body) ends the watchdog.
#[derive(Debug)]
pub struct WriteWatch {
    mark: Arc<Mark>,
    _done: DropGuard,
}

impl WriteWatch {
    /// Starts a watchdog that closes `connection` when a frame waits `timeout` for the client; `counter` counts
    /// each stall.
    pub fn spawn(
        timeout: Duration,
        connection: CancellationToken,
        counter: Arc<EventCounter>,
    ) -> Self {
        let mark = Arc::new(Mark {
            base: Instant::now(),
            handed_at: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
        });
        let done = CancellationToken::new();
        tokio::spawn(watch(
            mark.clone(),
            timeout,
            connection,
            done.clone(),
            counter,
        ));
        Self {
            mark,
            _done: done.drop_guard(),
        }
    }

    /// hyper asks for the next frame: the last one was written (or buffered).
    pub fn polled(&self) {
        self.mark.handed_at.store(0, Ordering::Relaxed);
    }

    /// A frame was handed to hyper.
    pub fn handed(&self) {
        let nanos = u64::try_from(self.mark.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.mark
            .handed_at
            .store(nanos.saturating_add(1), Ordering::Relaxed);
    }

    /// Whether the watchdog gave up on the client.
    pub fn stalled(&self) -> bool {
        self.mark.stalled.load(Ordering::Relaxed)
    }
}

/// The watchdog: wakes when the mark it last saw would be `timeout` old (or every half `timeout` when no frame
/// is held), and closes the connection once a mark is that old.
async fn watch(
    mark: Arc<Mark>,
    timeout: Duration,
    connection: CancellationToken,
    done: CancellationToken,
    counter: Arc<EventCounter>,
) {
    loop {
        let handed = mark.handed_at.load(Ordering::Relaxed);
        let wake = if handed == 0 {
            Instant::now() + timeout / 2
        } else {
            let at = mark.base + Duration::from_nanos(handed - 1);
            if at.elapsed() >= timeout {
                mark.stalled.store(true, Ordering::Relaxed);
                counter.emit(
                    1,
                    &format_args!("no write progress for {timeout:?} (llm_proxy write_timeout)"),
                );
                connection.cancel();
                return;
            }
            at + timeout
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = done.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmtel_pipelines::events::{self, Event};

    /// Waits up to `limit` for `token`; whether it was cancelled.
    async fn cancelled_within(token: &CancellationToken, limit: Duration) -> bool {
        tokio::time::timeout(limit, token.cancelled()).await.is_ok()
    }

    #[tokio::test]
    async fn a_frame_hyper_cannot_write_for_the_timeout_closes_the_connection() {
        let conn = CancellationToken::new();
        let counter = events::counter("stall-test-a", Event::ProxyClientStalled);
        let timeout = Duration::from_secs(2);
        let w = WriteWatch::spawn(timeout, conn.clone(), counter.clone());
        // Waiting for the upstream (polled, nothing handed) is never a stall.
        w.polled();
        assert!(!cancelled_within(&conn, Duration::from_secs(3)).await);
        // A reader keeps up: each frame is followed by the next poll.
        for _ in 0..10 {
            w.handed();
            tokio::time::sleep(Duration::from_millis(100)).await;
            w.polled();
        }
        assert!(!conn.is_cancelled() && !w.stalled());
        // Then it stops reading.
        let stopped = Instant::now();
        w.handed();
        assert!(cancelled_within(&conn, Duration::from_secs(10)).await);
        assert!(stopped.elapsed() >= timeout, "not before the timeout");
        assert!(w.stalled());
        assert_eq!(counter.total(), 1);
    }

    #[tokio::test]
    async fn the_watchdog_ends_with_the_body() {
        let conn = CancellationToken::new();
        let counter = events::counter("stall-test-b", Event::ProxyClientStalled);
        let w = WriteWatch::spawn(Duration::from_millis(200), conn.clone(), counter.clone());
        w.handed();
        drop(w);
        assert!(!cancelled_within(&conn, Duration::from_secs(1)).await);
        assert_eq!(counter.total(), 0);
    }
}
