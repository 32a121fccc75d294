//! The upstream's idle keep-alive connections. A connection comes back when its response body was read to the end
//! and the server let it stay open; the most recently used goes out first (its socket is the warmest), and one the
//! server closed while it waited is dropped at checkout ([`Conn::is_open`]). A connection idle for longer than the
//! idle timeout is closed, at checkout or by the sweep every half timeout.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::conn::Conn;

#[derive(Debug)]
pub(super) struct Pool {
    idle: Mutex<VecDeque<(Instant, Conn)>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// A pool keeping at most `max_idle` connections for `idle_timeout` each, swept on the current runtime.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Arc<Self> {
        let pool = Arc::new(Self {
            idle: Mutex::new(VecDeque::new()),
            max_idle,
            idle_timeout,
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sweep(Arc::downgrade(&pool), idle_timeout / 2));
        }
        pool
    }

    /// An idle connection that is still open, if there is one.
    pub fn take(&self) -> Option<Conn> {
        loop {
            let (since, mut conn) = self.lock().pop_back()?;
            if since.elapsed() < self.idle_timeout && conn.is_open() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request (or closes it when the pool is full).
    pub fn put(&self, conn: Conn) {
        let closed = {
            let mut idle = self.lock();
            let mut closed = self.expire(&mut idle);
            if idle.len() < self.max_idle {
                idle.push_back((Instant::now(), conn));
            } else {
                closed.push(conn);
            }
            closed
        };
        // The sockets close outside the lock.
        drop(closed);
    }

    /// How many connections are idle now.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    fn expire(&self, idle: &mut VecDeque<(Instant, Conn)>) -> Vec<Conn> {
        let mut closed = Vec::new();
        while idle
            .front()
            .is_some_and(|(since, _)| since.elapsed() >= self.idle_timeout)
        {
            if let Some((_, c)) = idle.pop_front() {
                closed.push(c);
            }
        }
        closed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, Conn)>> {
        // A panic elsewhere cannot leave the queue half-changed: every change is one push or pop.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes connections idle for too long until the pool is gone.
async fn sweep(pool: Weak<Pool>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let closed = pool.expire(&mut pool.lock());
        drop(closed);
    }
}
