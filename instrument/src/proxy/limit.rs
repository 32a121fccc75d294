//! `max_concurrent_requests`: the most requests the proxy serves at once. A request takes a [`Permit`] when it
//! arrives ([`super::handle`]) and holds it until its response body ends (the permit rides in the body,
//! [`super::body::TappedBody`]); one that finds every permit taken is refused at once, before the upstream sees
//! it.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The permits of one proxy.
#[derive(Debug)]
pub struct Limit {
    max: NonZeroU64,
    taken: AtomicU64,
}

/// One request's place under the limit; dropping it frees the place.
#[derive(Debug)]
pub struct Permit(Arc<Limit>);

impl Limit {
    /// At most `max` requests at once.
    pub fn new(max: NonZeroU64) -> Arc<Self> {
        Arc::new(Self {
            max,
            taken: AtomicU64::new(0),
        })
    }

    /// The limit.
    pub fn max(&self) -> u64 {
        self.max.get()
    }

    /// Places taken now: requests in flight.
    pub fn in_use(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }

    /// A place, or `None` when all are taken.
    pub fn try_enter(self: &Arc<Self>) -> Option<Permit> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max.get()).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(Arc::clone(self)))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_refuses_beyond_max_and_frees_on_drop() {
        let l = Limit::new(NonZeroU64::new(2).unwrap());
        let a = l.try_enter().unwrap();
        let _b = l.try_enter().unwrap();
        assert!(l.try_enter().is_none());
        drop(a);
        assert!(l.try_enter().is_some(), "a freed place is taken again");
    }
}
