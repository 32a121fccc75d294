//! Which models the emulator has loaded, as Ollama's scheduler keeps them: a request for a model that is not
//! loaded starts a load that takes the script's `load_delay` (requests arriving meanwhile share it, and the load
//! runs on even if its client leaves); a model with no request running unloads `keep_alive` after its last one
//! ended (checked whenever the models are looked at, which is all anyone can observe); a test unloads one at once.
//! `serve.rs` waits here before taking a slot; `info.rs` lists the loaded ones in `/api/ps`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::script::Script;

/// Locks `m`, ignoring poisoning (a panicking test thread must not hide the state).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a model stands.
#[derive(Debug, Clone)]
enum State {
    /// Not in memory.
    Unloaded,
    /// Being loaded; `true` is sent when done.
    Loading(watch::Receiver<bool>),
    /// In memory.
    Loaded,
}

/// One model the emulator has seen.
#[derive(Debug)]
struct Model {
    /// Where it stands.
    state: State,
    /// Requests using it now (waiting for it or running on it).
    users: usize,
    /// When its last request ended (or its load finished).
    idle_since: Instant,
    /// The same moment on the wall clock, for `expires_at`.
    idle_since_wall: SystemTime,
    /// Loads so far.
    loads: usize,
    /// Bumped by each unload, so that a load finishing after one does not mark the model loaded.
    generation: u64,
}

impl Model {
    /// A model never seen, in `state`.
    fn new(state: State) -> Self {
        Self {
            state,
            users: 0,
            idle_since: Instant::now(),
            idle_since_wall: SystemTime::now(),
            loads: 0,
            generation: 0,
        }
    }
}

/// A loaded model as `/api/ps` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// Its name.
    pub name: String,
    /// When it unloads if nothing uses it (`None`: never).
    pub expires: Option<SystemTime>,
}

/// Every model the emulator has seen.
#[derive(Debug, Default)]
pub(crate) struct Models {
    /// By name.
    map: Arc<Mutex<BTreeMap<String, Model>>>,
}

/// Unloads the idle models whose keep-alive has passed.
fn expire(map: &mut BTreeMap<String, Model>, keep_alive: Option<Duration>) {
    let Some(keep) = keep_alive else { return };
    for m in map.values_mut() {
        if matches!(m.state, State::Loaded) && m.users == 0 && m.idle_since.elapsed() >= keep {
            m.state = State::Unloaded;
            m.generation += 1;
        }
    }
}

/// A request's use of a model; dropping it ends the use (the model's keep-alive starts from the last one).
#[derive(Debug)]
pub(crate) struct InUse {
    /// The models.
    map: Arc<Mutex<BTreeMap<String, Model>>>,
    /// The model.
    name: String,
}

impl Drop for InUse {
    fn drop(&mut self) {
        if let Some(m) = lock(&self.map).get_mut(&self.name) {
            m.users = m.users.saturating_sub(1);
            m.idle_since = Instant::now();
            m.idle_since_wall = SystemTime::now();
        }
    }
}

impl Models {
    /// Marks `name` loaded, without a load, if it was never seen (a script's model that `starts_loaded`).
    pub fn preload(&self, name: &str) {
        lock(&self.map)
            .entry(name.to_owned())
            .or_insert_with(|| Model::new(State::Loaded));
    }

    /// Unloads `name` now; whether it was loaded (or loading).
    pub fn unload(&self, name: &str) -> bool {
        let mut map = lock(&self.map);
        let Some(m) = map.get_mut(name) else {
            return false;
        };
        let was = !matches!(m.state, State::Unloaded);
        m.state = State::Unloaded;
        m.generation += 1;
        was
    }

    /// How many loads of `name` were started.
    pub fn loads(&self, name: &str) -> usize {
        lock(&self.map).get(name).map_or(0, |m| m.loads)
    }

    /// The loaded models, by name, under `script`'s keep-alive.
    pub fn loaded(&self, script: &Script) -> Vec<Loaded> {
        let mut map = lock(&self.map);
        expire(&mut map, script.keep_alive);
        map.iter()
            .filter(|(_, m)| matches!(m.state, State::Loaded))
            .map(|(name, m)| Loaded {
                name: name.clone(),
                expires: script.keep_alive.map(|keep| {
                    if m.users > 0 {
                        SystemTime::now() + keep
                    } else {
                        m.idle_since_wall + keep
                    }
                }),
            })
            .collect()
    }

    /// Waits until `name` is loaded, loading it (`script.load_delay`) if it is not, or `script.warm_load` if it is;
    /// whether this call started the load, and the use to hold while the request runs. Dropping the future
    /// mid-wait ends the use; a load it started runs on.
    pub async fn acquire(&self, name: &str, script: &Script) -> (bool, InUse) {
        let (wait, started) = {
            let mut map = lock(&self.map);
            expire(&mut map, script.keep_alive);
            let m = map
                .entry(name.to_owned())
                .or_insert_with(|| Model::new(State::Unloaded));
            m.users += 1;
            match &m.state {
                State::Loaded => (None, false),
                State::Loading(rx) => (Some(rx.clone()), false),
                State::Unloaded => {
                    let (tx, rx) = watch::channel(false);
                    m.state = State::Loading(rx.clone());
                    m.loads += 1;
                    let generation = m.generation;
                    let map = self.map.clone();
                    let key = name.to_owned();
                    let delay = script.load_delay;
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        if let Some(m) = lock(&map).get_mut(&key)
                            && m.generation == generation
                        {
                            m.state = State::Loaded;
                            m.idle_since = Instant::now();
                            m.idle_since_wall = SystemTime::now();
                        }
                        let _ = tx.send(true);
                    });
                    (Some(rx), true)
                }
            }
        };
        let use_ = InUse {
            map: self.map.clone(),
            name: name.to_owned(),
        };
        match wait {
            Some(mut rx) => {
                // The sender only goes away after sending `true`.
                let _ = rx.wait_for(|done| *done).await;
            }
            None if !script.warm_load.is_zero() => tokio::time::sleep(script.warm_load).await,
            None => {}
        }
        (started, use_)
    }
}
