//! The explorer's JSON documents, one per view (`docs/explorer.md` describes each): requests in flight, the
//! latency buckets with their samples, one request, and the pipeline's components. Built from the live list
//! (`llmtel_instrument::proxy::live`), the store (`llmtel_pipelines::explorer`) and the engine's counters
//! (`llmtel_pipelines::stats`); served by [`super`].

use std::collections::BTreeMap;

use llmtel_instrument::proxy::live::LiveSnapshot;
use llmtel_pipelines::explorer::RequestSummary;
use llmtel_pipelines::explorer::store::{BUCKETS_S, StoreSnapshot};
use llmtel_pipelines::stats::{Stage, Stats};
use serde_json::{Value, json};

/// Which samples the requests view shows: every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The model.
    pub model: Option<String>,
    /// The think mode.
    pub think: Option<String>,
    /// The operation.
    pub operation: Option<String>,
}

impl Filter {
    /// From a query string (`model=qwen3%3A14b&think=on`); unknown keys are ignored.
    pub fn parse(query: Option<&str>) -> Self {
        let mut f = Self::default();
        for pair in query.unwrap_or_default().split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            let v = (!v.is_empty()).then_some(v);
            match k {
                "model" => f.model = v,
                "think" => f.think = v,
                "operation" => f.operation = v,
                _ => {}
            }
        }
        f
    }

    fn admits(&self, operation: &str, model: &str, think: &str) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.model, model) && ok(&self.think, think) && ok(&self.operation, operation)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /api/inflight`.
pub fn inflight(s: &LiveSnapshot) -> Value {
    let requests: Vec<Value> = s
        .requests
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "receiver": r.receiver,
                "operation": r.operation,
                "model": r.model,
                "think_mode": r.think_mode,
                "phase": r.phase.as_str(),
                "tokens": r.tokens,
                "age_s": r.age.as_secs_f64(),
            })
        })
        .collect();
    json!({"requests": requests, "unlisted": s.unlisted})
}

/// A sample in a list: enough to draw a row; the whole request is `GET /api/requests/{id}`.
fn brief(r: &RequestSummary) -> Value {
    json!({
        "id": r.span_id,
        "trace_id": r.trace_id,
        "start_unix_ms": r.start_unix_nano / 1_000_000,
        "duration_s": r.duration_s,
        "ttft_s": r.ttft_s,
        "output_tokens": r.output_tokens,
        "finish_reason": r.finish_reason,
        "error": r.error,
    })
}

/// `GET /api/requests`: per operation, model and think mode, the latency buckets with their samples, the
/// slowest and the failed requests; and the models and think modes there are, for the filters.
pub fn requests(s: &StoreSnapshot, filter: &Filter) -> Value {
    let mut models = std::collections::BTreeSet::new();
    let mut modes = std::collections::BTreeSet::new();
    let mut groups = Vec::new();
    for (k, g) in &s.groups {
        models.insert(k.model.clone());
        modes.insert(k.think_mode.clone());
        if !filter.admits(&k.operation, &k.model, &k.think_mode) {
            continue;
        }
        let buckets: Vec<Value> = g
            .counts
            .iter()
            .zip(&g.samples)
            .enumerate()
            .map(|(i, (count, samples))| {
                json!({
                    "le_s": BUCKETS_S.get(i),
                    "count": count,
                    "samples": samples.iter().rev().map(|r| brief(r)).collect::<Vec<_>>(),
                })
            })
            .collect();
        groups.push(json!({
            "operation": k.operation,
            "model": k.model,
            "think_mode": k.think_mode,
            "count": g.counts.iter().sum::<u64>(),
            "errors": g.errors,
            "buckets": buckets,
            "slowest": g.slowest.iter().map(|r| brief(r)).collect::<Vec<_>>(),
            "failed": g.failed.iter().rev().map(|r| brief(r)).collect::<Vec<_>>(),
        }));
    }
    let limits = s.limits.map(|l| {
        json!({
            "samples_per_bucket": l.per_bucket,
            "max_samples": l.max_samples,
            "slowest": l.slowest,
            "failed": l.failed,
            "max_groups": l.max_groups(),
        })
    });
    json!({
        "bucket_bounds_s": BUCKETS_S,
        "groups": groups,
        "models": models,
        "think_modes": modes,
        "unsampled": s.unsampled,
        "limits": limits,
    })
}

/// `GET /api/requests/{id}`: one request with its phases; `trace_url` from the configured template.
pub fn request(r: &RequestSummary, trace_url: &str) -> Value {
    let phases: Vec<Value> = r
        .phases
        .iter()
        .map(|p| {
            json!({"name": p.name, "offset_s": p.offset_s, "duration_s": p.duration_s, "tokens": p.tokens})
        })
        .collect();
    let mut v = json!({
        "id": r.span_id,
        "trace_id": r.trace_id,
        "name": r.name,
        "operation": r.operation,
        "model": r.model,
        "think_mode": r.think_mode,
        "start_unix_ms": r.start_unix_nano / 1_000_000,
        "duration_s": r.duration_s,
        "ttft_s": r.ttft_s,
        "time_to_first_answer_token_s": r.ttfa_s,
        "think_s": r.think_s,
        "answer_s": r.answer_s,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "think_tokens": r.think_tokens,
        "answer_tokens": r.answer_tokens,
        "tokens_per_s": r.tokens_per_second(),
        "finish_reason": r.finish_reason,
        "error": r.error,
        "error_message": r.error_message,
        "http_status": r.http_status,
        "queue_wait_s": r.queue_wait_s,
        "cold_load": r.cold_load,
        "phases": phases,
        "trace_url": (!trace_url.is_empty()).then(|| trace_url.replace("{trace_id}", &r.trace_id)),
    });
    // Present only on spans made with content capture on.
    if let Some(m) = &r.input_messages {
        v["input_messages"] = json!(m);
    }
    if let Some(m) = &r.output_messages {
        v["output_messages"] = json!(m);
    }
    v
}

/// `GET /api/pipeline`: every component with its counters (the same numbers as the admin `/metrics`), its queue
/// and its last error.
pub fn pipeline(stats: &Stats) -> Value {
    let mut queues: BTreeMap<(&'static str, String), Value> = BTreeMap::new();
    for q in stats.queues() {
        queues.insert(
            (q.stage.as_str(), q.id.clone()),
            json!({"batches": q.batches(), "items": q.items(), "capacity": q.capacity}),
        );
    }
    let order = |s: Stage| match s {
        Stage::Receiver => 0,
        Stage::Pipeline => 1,
        Stage::Connector => 2,
        Stage::Exporter => 3,
    };
    let mut snaps = stats.snapshot();
    snaps.sort_by(|a, b| {
        (order(a.stage), &a.id, a.signal.as_str()).cmp(&(order(b.stage), &b.id, b.signal.as_str()))
    });
    let components: Vec<Value> = snaps
        .iter()
        .map(|s| {
            json!({
                "stage": s.stage.as_str(),
                "id": s.id,
                "signal": s.signal.as_str(),
                "accepted": s.accepted,
                "refused": s.refused,
                "sent": s.sent,
                "failed": s.failed,
                "dropped": s.dropped,
                "queue": queues.get(&(s.stage.as_str(), s.id.clone())),
                "last_error": s.last_error.as_ref().map(|(at, m)| json!({"unix_ms": at, "message": m})),
            })
        })
        .collect();
    json!({"components": components})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_reads_percent_encoded_values() {
        let f = Filter::parse(Some("model=qwen3%3A14b&think=on&x=1&operation="));
        assert_eq!(f.model.as_deref(), Some("qwen3:14b"));
        assert_eq!(f.think.as_deref(), Some("on"));
        assert_eq!(f.operation, None);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
