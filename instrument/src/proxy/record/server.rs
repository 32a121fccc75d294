//! The server's own view of one request, from the timings it reported ([`ServerTimings`]): the request span's
//! `llmtel.server.*` attributes, the queue-wait **estimate**, whether the request made the server load its
//! model, and the phase spans the server's durations imply. Pure arithmetic on instants, so that every case is
//! tested here; the tracker ([`super`]) calls [`view`] when it makes the spans.
//!
//! Queue wait = the wall time the sidecar saw, from the request's arrival to the frame that carried the timings,
//! less the server's busy time (load + prefill + decode; its `total` only when it reported neither prefill nor
//! decode, as Ollama's `/api/embed` does), never below zero. The phases are laid backwards from that frame's
//! instant: `decode` ends there, `prefill` ends where decode starts; `load` (shown only above the cold-load
//! threshold) starts at the arrival, as Ollama measures it, and `queue` (only when queued) fills the gap between
//! the load and the prefill (the wait for a slot). Nothing reaches before the arrival. A load that several
//! requests waited for counts as one cold load ([`LoadLog`]).

use std::time::{Duration, Instant};

use opentelemetry::KeyValue;

use llmtel_config::semconv::attr;

use crate::proxy::concurrency::Concurrency;
use crate::stream::{ServerTimings, TimingsSource};
use crate::upstream::ContextWindows;

/// What every request of one proxy shares for the server's side of its spans.
#[derive(Debug)]
pub struct ServerSide {
    /// When a request counts as queued or as a cold load.
    pub thresholds: Thresholds,
    /// The upstream's context windows, learned off the request path.
    pub windows: ContextWindows,
    /// Requests in flight to the upstream.
    pub concurrency: std::sync::Arc<Concurrency>,
    /// The model loads already counted.
    pub loads: LoadLog,
}

/// When a request counts as queued or as a cold load (`llm_proxy`'s `queued_threshold`, `cold_load_threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Queue wait above this: `llmtel.server.queued`.
    pub queued: Duration,
    /// Load time above this: `llmtel.model.cold_load`.
    pub cold_load: Duration,
}

/// The loads already reported, per model: requests that waited for the same load report load times that end at
/// the same instant (Ollama measures each from its own arrival), so a load ending within [`SAME_LOAD`] of one
/// already counted is that load again.
#[derive(Debug, Default)]
pub struct LoadLog {
    ends: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

/// How close two reported load ends must be to be one load: the network and the server's bookkeeping between
/// its arrival and the sidecar's.
pub const SAME_LOAD: Duration = Duration::from_millis(100);

/// Models remembered at most (the oldest is forgotten first): bounded whatever clients name.
const MAX_MODELS: usize = 1024;

impl LoadLog {
    /// Whether the load of `model` that ended at `end` is one not reported before; remembers it.
    pub fn is_new(&self, model: &str, end: Instant) -> bool {
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = ends.get(model) {
            let gap = if *prev > end {
                *prev - end
            } else {
                end - *prev
            };
            if gap <= SAME_LOAD {
                return false;
            }
        }
        if ends.len() >= MAX_MODELS
            && !ends.contains_key(model)
            && let Some(oldest) = ends.iter().min_by_key(|(_, t)| **t).map(|(m, _)| m.clone())
        {
            ends.remove(&oldest);
        }
        ends.insert(model.to_owned(), end);
        true
    }
}

/// One phase span the server's timings imply.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Phase {
    /// `queue`, `load`, `prefill` or `decode`.
    pub name: &'static str,
    pub from: Instant,
    pub to: Instant,
    /// The phase's own attributes (`llmtel.phase`, the mark of where they come from, its duration and tokens).
    pub attrs: Vec<KeyValue>,
}

/// What the server's timings add to the request's spans.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ServerView {
    /// For the request span.
    pub attrs: Vec<KeyValue>,
    /// Children of the request span, earliest first.
    pub phases: Vec<Phase>,
    /// The queue-wait estimate.
    pub queue_wait: Duration,
}

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The server's view of a request that arrived at `start` and whose timings came in the frame forwarded at `at`.
/// `new_load` is asked, for a load above the threshold, whether the load that ended at the instant it is given is
/// one no earlier request reported ([`LoadLog::is_new`]): requests that arrive while a model loads wait for the
/// same load and report it too, and only one of them made the server load.
pub(super) fn view(
    t: &ServerTimings,
    start: Instant,
    at: Instant,
    th: Thresholds,
    new_load: &mut dyn FnMut(Instant) -> bool,
) -> ServerView {
    let busy = t.busy();
    let wall = at.saturating_duration_since(start);
    let queue_wait = wall.saturating_sub(busy);
    let queued = queue_wait > th.queued;
    let slow_load = t.load.is_some_and(|l| l > th.cold_load);
    // Ollama measures its load from the request's arrival (the load ends `load` after it).
    let load_end = t.load.and_then(|l| start.checked_add(l)).unwrap_or(start);
    let cold = t.load.map(|_| slow_load && new_load(load_end));
    let server = t.server.name();

    let mut attrs = vec![
        KeyValue::new(attr::SERVER_TIMINGS, server),
        KeyValue::new(attr::SERVER_QUEUE_WAIT, queue_wait.as_secs_f64()),
        KeyValue::new(attr::SERVER_QUEUED, queued),
    ];
    if let Some(cold) = cold {
        attrs.push(KeyValue::new(attr::MODEL_COLD_LOAD, cold));
    }
    let secs =
        |key: &'static str, d: Option<Duration>| d.map(|d| KeyValue::new(key, d.as_secs_f64()));
    let count = |key: &'static str, n: Option<u64>| n.map(|n| KeyValue::new(key, tokens(n)));
    attrs.extend(
        [
            secs(attr::SERVER_LOAD_DURATION, t.load),
            secs(attr::SERVER_PREFILL_DURATION, t.prefill),
            count(attr::SERVER_PREFILL_TOKENS, t.prefill_tokens),
            secs(attr::SERVER_DECODE_DURATION, t.decode),
            count(attr::SERVER_DECODE_TOKENS, t.decode_tokens),
        ]
        .into_iter()
        .flatten(),
    );

    // Laid backwards from `at`, each phase clamped at the arrival.
    let back = |to: Instant, d: Duration| to.checked_sub(d).unwrap_or(start).max(start);
    let phase = |name: &'static str, from: Instant, to: Instant, extra: Vec<KeyValue>| {
        let mut attrs = vec![
            KeyValue::new(attr::PHASE, name),
            KeyValue::new(attr::SERVER_TIMINGS, server),
        ];
        attrs.extend(extra);
        Phase {
            name,
            from,
            to,
            attrs,
        }
    };
    let mut phases = Vec::new();
    let mut cursor = at;
    if let Some(d) = t.decode {
        let from = back(cursor, d);
        let extra = [
            secs(attr::SERVER_DECODE_DURATION, Some(d)),
            count(attr::SERVER_DECODE_TOKENS, t.decode_tokens),
        ];
        phases.push(phase(
            "decode",
            from,
            cursor,
            extra.into_iter().flatten().collect(),
        ));
        cursor = from;
    }
    if let Some(d) = t.prefill {
        let from = back(cursor, d);
        let extra = [
            secs(attr::SERVER_PREFILL_DURATION, Some(d)),
            count(attr::SERVER_PREFILL_TOKENS, t.prefill_tokens),
        ];
        phases.push(phase(
            "prefill",
            from,
            cursor,
            extra.into_iter().flatten().collect(),
        ));
        cursor = from;
    }
    let only_total = t.prefill.is_none() && t.decode.is_none();
    if only_total {
        // Only a total: the server's time sits as one block before the frame, its load first.
        cursor = back(at, busy);
    }
    let queue_phase = |from: Instant, to: Instant| {
        let extra = vec![KeyValue::new(
            attr::SERVER_QUEUE_WAIT,
            queue_wait.as_secs_f64(),
        )];
        phase("queue", from, to, extra)
    };
    let mut load_phase = None;
    if let Some(d) = t.load {
        // Ollama's load runs from the arrival (its scheduler loads the model, then the runner's slot is waited
        // for): load first, the queue between it and the prefill. A warm model's few milliseconds of load still
        // take their place; only a load above the threshold (the request's own, or one it waited for) is a phase.
        let (from, to) = if only_total {
            (cursor, cursor.checked_add(d).unwrap_or(at).min(at))
        } else {
            (start, load_end.min(cursor))
        };
        if slow_load {
            let extra = vec![KeyValue::new(attr::SERVER_LOAD_DURATION, d.as_secs_f64())];
            load_phase = Some(phase("load", from, to, extra));
        }
        if queued && !only_total && cursor > to {
            phases.push(queue_phase(to, cursor));
        }
        cursor = from;
    } else if queued && cursor > start {
        phases.push(queue_phase(start, cursor));
    }
    phases.extend(load_phase);
    if queued && only_total && cursor > start {
        phases.push(queue_phase(start, cursor));
    }
    phases.reverse();
    ServerView {
        attrs,
        phases,
        queue_wait,
    }
}

/// Ollama's own timings as they always were on the span (`ollama.*`, in seconds), besides the common shape.
pub(super) fn ollama_attributes(attrs: &mut Vec<KeyValue>, t: &ServerTimings) {
    if t.server != TimingsSource::Ollama {
        return;
    }
    for (key, v) in [
        (attr::OLLAMA_TOTAL_DURATION, t.total),
        (attr::OLLAMA_LOAD_DURATION, t.load),
        (attr::OLLAMA_PROMPT_EVAL_DURATION, t.prefill),
        (attr::OLLAMA_EVAL_DURATION, t.decode),
    ] {
        if let Some(d) = v {
            // Ollama reports nanoseconds; spans carry seconds like every other duration here.
            attrs.push(KeyValue::new(key, d.as_nanos() as f64 / 1e9));
        }
    }
}

#[cfg(test)]
mod tests;
