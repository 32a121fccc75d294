//! Requests in flight now, for the request explorer page: each model request the proxy is following, with its phase
//! (queued: no token yet; thinking; answering), its tokens so far (chunks) and its age. The tracker
//! ([`super::record`]) enters a request when it starts and updates it as chunks arrive; the entry leaves when the
//! request's telemetry ends, however it ends. Cheap on the request path: one short lock to enter and to leave,
//! atomics per update; at most [`MAX_LIVE`] requests are listed (more are counted, not listed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::request::RequestFacts;
use crate::phase::Phases;
use crate::stream::Api;

/// Requests listed at most; beyond it a request is counted in [`LiveSnapshot::unlisted`].
pub const MAX_LIVE: usize = 10_000;

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivePhase {
    /// No token yet: waiting for the server (queue, load, prompt evaluation).
    Queued,
    /// Reasoning tokens are arriving.
    Thinking,
    /// Answer tokens are arriving.
    Answering,
}

impl LivePhase {
    /// `queued`, `thinking`, `answering`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Thinking => "thinking",
            Self::Answering => "answering",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Thinking,
            2 => Self::Answering,
            _ => Self::Queued,
        }
    }
}

#[derive(Debug)]
struct Entry {
    receiver: String,
    operation: &'static str,
    model: String,
    think_mode: String,
    started: Instant,
    phase: AtomicU8,
    tokens: AtomicU64,
}

/// One request in flight, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRequest {
    /// A number unique among the requests of this process.
    pub id: u64,
    /// The `llm_proxy` receiver following it.
    pub receiver: String,
    /// `gen_ai.operation.name`.
    pub operation: &'static str,
    /// The model asked for.
    pub model: String,
    /// The think mode asked for.
    pub think_mode: String,
    /// Where it is.
    pub phase: LivePhase,
    /// Content chunks so far (think and answer).
    pub tokens: u64,
    /// Time since it arrived.
    pub age: Duration,
}

/// What is in flight now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSnapshot {
    /// The requests, oldest first.
    pub requests: Vec<LiveRequest>,
    /// Requests in flight beyond [`MAX_LIVE`].
    pub unlisted: u64,
}

/// The registry, one per process, shared by every `llm_proxy` and the admin endpoint.
#[derive(Debug, Default)]
pub struct LiveRequests {
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
    next: AtomicU64,
    unlisted: AtomicU64,
}

impl LiveRequests {
    /// Lists a request; it leaves when the returned handle is dropped.
    pub fn enter(
        self: &Arc<Self>,
        receiver: &str,
        operation: &'static str,
        model: &str,
        think_mode: &str,
    ) -> LiveHandle {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            receiver: receiver.to_owned(),
            operation,
            model: model.to_owned(),
            think_mode: think_mode.to_owned(),
            started: Instant::now(),
            phase: AtomicU8::new(0),
            tokens: AtomicU64::new(0),
        });
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let listed = entries.len() < MAX_LIVE;
        if listed {
            entries.insert(id, entry.clone());
        } else {
            self.unlisted.fetch_add(1, Ordering::Relaxed);
        }
        LiveHandle {
            registry: self.clone(),
            id,
            entry,
            listed,
        }
    }

    /// What is in flight now, oldest first.
    pub fn snapshot(&self) -> LiveSnapshot {
        let entries: Vec<(u64, Arc<Entry>)> = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        let now = Instant::now();
        let mut requests: Vec<LiveRequest> = entries
            .into_iter()
            .map(|(id, e)| LiveRequest {
                id,
                receiver: e.receiver.clone(),
                operation: e.operation,
                model: e.model.clone(),
                think_mode: e.think_mode.clone(),
                phase: LivePhase::from_u8(e.phase.load(Ordering::Relaxed)),
                tokens: e.tokens.load(Ordering::Relaxed),
                age: now.saturating_duration_since(e.started),
            })
            .collect();
        requests.sort_by(|a, b| b.age.cmp(&a.age).then(a.id.cmp(&b.id)));
        LiveSnapshot {
            requests,
            unlisted: self.unlisted.load(Ordering::Relaxed),
        }
    }
}

/// One receiver's view of the registry: what the tracker enters requests with.
#[derive(Debug, Clone)]
pub struct LiveScope {
    /// The registry.
    pub registry: Arc<LiveRequests>,
    /// The `llm_proxy` receiver's id.
    pub receiver: String,
}

/// Lists a request to `api` (none for a path the proxy does not understand), as its body describes it.
pub(super) fn start(
    scope: Option<&LiveScope>,
    api: Option<Api>,
    facts: &RequestFacts,
) -> Option<LiveHandle> {
    let (scope, api) = scope.zip(api)?;
    Some(scope.registry.enter(
        &scope.receiver,
        api.operation(),
        facts.model.as_deref().unwrap_or("unknown"),
        facts.think.as_deref().unwrap_or("default"),
    ))
}

/// A listed request; dropping it takes the request off the list.
#[derive(Debug)]
pub struct LiveHandle {
    registry: Arc<LiveRequests>,
    id: u64,
    entry: Arc<Entry>,
    listed: bool,
}

impl LiveHandle {
    /// Notes where the request is, from what the phase tracker has seen so far.
    pub fn update<T>(&self, p: &Phases<T>) {
        let phase = if p.first_answer.is_some() {
            LivePhase::Answering
        } else if p.reasoning.is_some() || p.reasoning_chunks > 0 {
            LivePhase::Thinking
        } else {
            LivePhase::Queued
        };
        self.entry.phase.store(phase as u8, Ordering::Relaxed);
        self.entry
            .tokens
            .store(p.reasoning_chunks + p.answer_chunks, Ordering::Relaxed);
    }
}

/// [`LiveHandle::update`] when the request is listed.
pub fn update<T>(handle: Option<&LiveHandle>, p: &Phases<T>) {
    if let Some(h) = handle {
        h.update(p);
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        if self.listed {
            self.registry
                .entries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&self.id);
        } else {
            self.registry.unlisted.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_listed_with_its_phase_and_leaves_when_its_handle_drops() {
        let live = Arc::new(LiveRequests::default());
        let first = live.enter("proxy", "chat", "qwen3:14b", "on");
        let second = live.enter("proxy", "chat", "llama3.2:3b", "default");
        let mut p: Phases<u32> = Phases::default();
        first.update(&p);
        p.reasoning = Some((1, 2));
        p.reasoning_chunks = 3;
        second.update(&p);
        let snap = live.snapshot();
        let phases: Vec<(&str, LivePhase, u64)> = snap
            .requests
            .iter()
            .map(|r| (r.model.as_str(), r.phase, r.tokens))
            .collect();
        assert_eq!(
            phases,
            [
                ("qwen3:14b", LivePhase::Queued, 0),
                ("llama3.2:3b", LivePhase::Thinking, 3)
            ]
        );
        p.first_answer = Some(3);
        p.answer_chunks = 2;
        second.update(&p);
        drop(first);
        let snap = live.snapshot();
        assert_eq!(snap.requests.len(), 1);
        assert_eq!(snap.requests[0].phase, LivePhase::Answering);
        assert_eq!(snap.requests[0].tokens, 5);
        drop(second);
        assert!(live.snapshot().requests.is_empty());
    }
}
