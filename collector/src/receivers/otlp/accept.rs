//! What the gRPC (`grpc.rs`) and HTTP (`http.rs`) sides of the `otlp` receiver share, independent of the protocol:
//! [`accept`] hands a decoded request to the pipelines and says what came of it, a partial success ([`Rejected`])
//! or a [`Refusal`] that each side turns into its protocol's answer (retryable ones ask to wait [`RETRY_AFTER`]).

use std::time::Duration;

use llmtel_pipelines::{Output, Payload, SendError, Signal};

/// How long a refused client is asked to wait before retrying.
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a request was not accepted, independent of the protocol that carried it.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The pipelines are full, over their memory limit or shutting down: retry later.
    Unavailable(String),
    /// This receiver feeds no pipeline of the request's signal.
    NotServed(String),
}

/// Items of an accepted request that were rejected as invalid: the OTLP partial-success answer.
#[derive(Debug, Default)]
pub(super) struct Rejected {
    pub(super) count: i64,
    pub(super) message: String,
}

/// Hands a decoded request to the pipelines. Empty requests succeed without touching them (OTLP spec). Spans whose
/// trace or span id is not a valid id (16 and 8 bytes, not all zero) are rejected and reported as a partial
/// success; the rest of the request goes on.
pub(super) fn accept(output: &Output, mut batch: Payload) -> Result<Rejected, Refusal> {
    let rejected = drop_invalid(&mut batch);
    if rejected.count > 0 {
        output.record_rejected(batch.signal(), rejected.count as usize);
    }
    if batch.is_empty() {
        return Ok(rejected);
    }
    match output.try_send(batch) {
        Ok(()) => Ok(rejected),
        Err(e @ (SendError::Full { .. } | SendError::OverMemory { .. } | SendError::Closed)) => {
            Err(Refusal::Unavailable(e.to_string()))
        }
        Err(SendError::NoPipeline(signal)) => Err(Refusal::NotServed(not_served(output, signal))),
    }
}

/// Removes the spans an OTLP backend would refuse: a trace id that is not 16 bytes or is all zero, a span id that
/// is not 8 bytes or is all zero, a parent span id that is neither empty nor 8 bytes.
pub(super) fn drop_invalid(batch: &mut Payload) -> Rejected {
    let Payload::Traces(resources) = batch else {
        return Rejected::default();
    };
    let valid_id = |id: &[u8], len: usize| id.len() == len && id.iter().any(|b| *b != 0);
    let mut count = 0i64;
    for span_list in resources
        .iter_mut()
        .flat_map(|r| r.scope_spans.iter_mut())
        .map(|s| &mut s.spans)
    {
        let before = span_list.len();
        span_list.retain(|s| {
            valid_id(&s.trace_id, 16)
                && valid_id(&s.span_id, 8)
                && (s.parent_span_id.is_empty() || s.parent_span_id.len() == 8)
        });
        count += (before - span_list.len()) as i64;
    }
    let message = if count > 0 {
        format!(
            "{count} spans rejected: trace_id must be 16 bytes and span_id 8 bytes, not all zero"
        )
    } else {
        String::new()
    };
    Rejected { count, message }
}

fn not_served(output: &Output, signal: Signal) -> String {
    format!(
        "receiver {} feeds no {signal} pipeline: add it to a service.pipelines.{signal} receivers list",
        output.component()
    )
}
