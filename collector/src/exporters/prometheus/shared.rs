//! The `prometheus` exporter's [`SeriesStore`] behind one mutex ([`Shared`]): the exporter (`mod.rs`) ingests into
//! it and runs the expiry timer on it, the endpoint (`server.rs`) renders it for each scrape.

use std::sync::{Arc, Mutex, MutexGuard};

use llmtel_pipelines::prometheus::SeriesStore;

/// The store, shared by the exporter, its expiry timer and its endpoint.
#[derive(Debug, Clone)]
pub(super) struct Shared(Arc<Mutex<SeriesStore>>);

impl Shared {
    /// Puts `store` behind the mutex that every holder of a clone shares.
    pub(super) fn new(store: SeriesStore) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// The store, locked. A poisoned lock is taken over: the store is plain data that can still be served, and
    /// failing every later export and scrape because of one panic would be worse.
    pub(super) fn lock(&self) -> MutexGuard<'_, SeriesStore> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
