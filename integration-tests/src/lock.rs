//! Locking shared fixture state so that a test thread that panicked while holding it leaves it readable, for the
//! failure message of the test that reads it next.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, also after a test thread panicked while holding it: what it guards is counts and logs, still worth
/// reading for the failure message.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
