//! What the emulator remembers: every request ([`Recorded`]) with the phases it measured for it ([`Phases`]), the
//! script, the parallel slots and the loaded models. `mod.rs` (the handle and the handler) and `serve.rs` (which
//! queues and paces each answer) share it.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Semaphore;

use super::models::Models;
use super::script::Script;

/// What the emulator measured of one request, as a real server's clock would: the truth a sidecar's estimates are
/// checked against. Durations are zero until the phase happened. One instant ends each phase and starts the next,
/// so for a model endpoint's answer `load + slot_wait + prompt + generation == total` exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Whether this request started a load of its model (requests that arrived while that load ran share it and
    /// have `false`, though their `load` includes the wait).
    pub cold_load: bool,
    /// From its arrival until its model was ready: a load (its own or a shared one), or `warm_load` for a loaded
    /// model (Ollama's `load_duration` is measured the same way).
    pub load: Duration,
    /// How long it waited for a parallel slot, after the load.
    pub slot_wait: Duration,
    /// Whether the client went away before the request had a slot (it left the queue).
    pub left_queue: bool,
    /// From the moment it had its slot until the end of the prompt pause (`first_delay`, as slept).
    pub prompt: Duration,
    /// From the end of the prompt pause until the chunk with the final timings (the last write when none).
    pub generation: Duration,
    /// From the handler's arrival until that chunk: what Ollama reports as `total_duration`.
    pub total: Duration,
}

/// A request the emulator received, and what it sent back so far.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path (without the query).
    pub path: String,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The response body bytes handed to the connection so far.
    pub sent: Bytes,
    /// Whether the whole response body was handed over.
    pub completed: bool,
    /// Whether the client (the sidecar) dropped the response before its end: the request was cancelled, as a
    /// real server notices and stops generating.
    pub cancelled: bool,
    /// When the request arrived.
    pub started: Instant,
    /// The model it asked for (its `model`, else the script's).
    pub model: String,
    /// What the emulator measured so far.
    pub phases: Phases,
}

/// A recorded request while its answer is being sent.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The request; its `sent` is filled from `sent` when read.
    pub rec: Recorded,
    /// Bytes sent so far.
    pub sent: Vec<u8>,
}

/// State shared by the server, the response bodies and the [`Emulator`](super::Emulator) handle.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The script for the next requests.
    pub script: Mutex<Script>,
    /// Every request so far.
    pub requests: Mutex<Vec<Entry>>,
    /// Whether some response was cut short by the client going away.
    pub cancelled: AtomicBool,
    /// The slot count and its semaphore (made anew when a script asks for another count).
    pub slots: Mutex<Option<(usize, Arc<Semaphore>)>>,
    /// Requests waiting for a slot now.
    pub queued: AtomicUsize,
    /// Requests holding a slot now (or running without a limit).
    pub running: AtomicUsize,
    /// The models and their loads.
    pub models: Models,
}

impl Shared {
    /// The semaphore for `slots` parallel slots (0 counts as 1).
    pub fn semaphore(&self, slots: usize) -> Arc<Semaphore> {
        let slots = slots.max(1);
        let mut current = lock(&self.slots);
        match &*current {
            Some((n, sem)) if *n == slots => sem.clone(),
            _ => {
                let sem = Arc::new(Semaphore::new(slots));
                *current = Some((slots, sem.clone()));
                sem
            }
        }
    }

    /// Updates the phases of request `index`.
    pub fn phases(&self, index: usize, f: impl FnOnce(&mut Phases)) {
        if let Some(e) = lock(&self.requests).get_mut(index) {
            f(&mut e.rec.phases);
        }
    }
}

/// Locks `m`, ignoring poisoning (a panicking test thread must not hide the state).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
