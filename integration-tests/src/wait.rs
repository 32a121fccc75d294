//! Waiting for something to happen instead of sleeping for a time that is enough on a fast machine: for any
//! condition ([`wait_until`]), and for a pipeline to have finished with all it accepted ([`exports_settled`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use llmtel_pipelines::Signal;

use crate::http::try_http_request;
use crate::scrape::sample_value;

/// Polls `done` every 20 ms until it holds, and panics naming `what` if `timeout` passes first: how a test waits
/// for something to happen, instead of sleeping for a time that is enough on a fast machine.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_until`] for a condition that needs I/O to check (a scrape, a query).
pub async fn wait_until_async<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + timeout;
    while !done().await {
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether everything `receiver` accepted has gone all the way through `pipeline` (taken from its queue, handed on
/// by its processors) and is done at each of `exporters` (sent, failed or dropped), by the counters in `stats`.
/// Then nothing of it is queued, in an export or waiting for a retry, so what a backend has received is final.
/// For pipelines whose processors keep item counts (none, or `batch`).
pub fn exports_settled(
    stats: &llmtel_pipelines::Stats,
    receiver: &str,
    pipeline: &str,
    exporters: &[&str],
) -> bool {
    use llmtel_pipelines::Stage;
    let signal = llmtel_config::ServiceConfig::pipeline_signal(pipeline).unwrap_or(Signal::Traces);
    let (Some(r), Some(p)) = (
        stats.get(Stage::Receiver, receiver, signal),
        stats.get(Stage::Pipeline, pipeline, signal),
    ) else {
        return false;
    };
    // The receiver counts a batch once it is queued, before its client hears so: compared with the pipeline's
    // counts it cannot make an unfinished pipeline look finished.
    p.accepted == r.accepted
        && p.sent == r.accepted
        && exporters.iter().all(|e| {
            stats
                .get(Stage::Exporter, e, signal)
                .is_some_and(|x| x.sent + x.failed + x.dropped == r.accepted)
        })
}

/// [`exports_settled`] read from the admin endpoint's `/metrics` at `admin` (for llmtel as a child process).
pub async fn exports_settled_at(
    admin: SocketAddr,
    receiver: &str,
    pipeline: &str,
    exporters: &[&str],
) -> bool {
    let signal = llmtel_config::ServiceConfig::pipeline_signal(pipeline).unwrap_or(Signal::Traces);
    let url = format!("http://{admin}/metrics");
    let Ok(answer) = try_http_request("GET", &url, &[], Vec::new()).await else {
        return false;
    };
    let text = String::from_utf8_lossy(&answer.body);
    let signal = format!("signal=\"{}\"", signal.as_str());
    let value = |name: &str, label: String| sample_value(&text, name, &[&label, &signal]);
    let accepted = value(
        "llmtel_receiver_accepted_items_total",
        format!("receiver=\"{receiver}\""),
    );
    let pipeline = format!("pipeline=\"{pipeline}\"");
    let taken = value("llmtel_pipeline_accepted_items_total", pipeline.clone());
    let handed_on = value("llmtel_pipeline_sent_items_total", pipeline);
    let Some(accepted) = accepted else {
        return false;
    };
    taken == Some(accepted)
        && handed_on == Some(accepted)
        && exporters.iter().all(|e| {
            let done: Option<f64> = ["sent", "failed", "dropped"]
                .iter()
                .map(|what| {
                    value(
                        &format!("llmtel_exporter_{what}_items_total"),
                        format!("exporter=\"{e}\""),
                    )
                })
                .sum();
            done == Some(accepted)
        })
}
