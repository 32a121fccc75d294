//! Saturation of one upstream as the proxy sees it: how many GenAI requests it is forwarding to the upstream now,
//! and the most it has forwarded at once since start. Each request enters when its exchange starts
//! ([`super::record`]: its span gets `llmtel.proxy.concurrency`, the count at its arrival, itself included) and
//! leaves when its telemetry ends; the high-water mark is read by the `llmtel.proxy.concurrency.max` gauge
//! ([`super::telemetry`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests in flight to one upstream, and the most seen at once. Shared by every request of one proxy.
#[derive(Debug, Default)]
pub struct Concurrency {
    now: AtomicU64,
    max: AtomicU64,
}

/// One request's place in the count; leaving is dropping it.
#[derive(Debug)]
pub struct Entered {
    of: Arc<Concurrency>,
    /// Requests in flight when this one arrived, itself included.
    pub at_arrival: u64,
}

impl Concurrency {
    /// A request arrives.
    pub fn enter(self: &Arc<Self>) -> Entered {
        let n = self.now.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        self.max.fetch_max(n, Ordering::Relaxed);
        Entered {
            of: Arc::clone(self),
            at_arrival: n,
        }
    }

    /// The most requests in flight at once since start.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.of.now.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_arrival_counts_itself_and_those_still_in_flight_and_the_peak_stays() {
        let c = Arc::new(Concurrency::default());
        assert_eq!(c.max(), 0);
        let a = c.enter();
        let b = c.enter();
        assert_eq!((a.at_arrival, b.at_arrival), (1, 2));
        drop(a);
        let d = c.enter();
        assert_eq!(d.at_arrival, 2, "the first left before the third came");
        drop((b, d));
        assert_eq!(c.enter().at_arrival, 1);
        assert_eq!(
            c.max(),
            2,
            "the high-water mark stays after the requests end"
        );
    }
}
