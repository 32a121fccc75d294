//! Reload on SIGHUP, the parts that do not touch the running generation: where the config is re-read from
//! ([`ConfigSource`]), how a refusal is logged ([`refused`]), and the counters every reload leaves on the admin
//! endpoint ([`register`]: `llmtel_config_reloads_total{result}`, `llmtel_config_last_reload_successful`,
//! `llmtel_config_last_reload_timestamp_seconds`). Swapping the generations is `Running::reload` in the crate
//! root; what SIGHUP keeps and what it restarts is in `docs/reload.md`.

use std::sync::atomic::{AtomicU64, Ordering};

use llmtel_config::ValidConfig;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

/// Re-reads the config the process started from (the same file or the built-in one, the same environment and
/// command-line overrides applied), validated. The error is the text `llmtel validate` prints for it.
pub type ConfigSource = Box<dyn Fn() -> Result<ValidConfig, String> + Send + Sync>;

/// What reloads have done so far, in the whole process.
#[derive(Debug)]
struct Counts {
    succeeded: AtomicU64,
    failed: AtomicU64,
    /// 1 when the last reload succeeded (or none was tried), 0 when it failed.
    last_ok: AtomicU64,
    /// When the last reload was tried, in seconds since the Unix epoch (0: never).
    last_at: AtomicU64,
}

static COUNTS: Counts = Counts {
    succeeded: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    last_ok: AtomicU64::new(1),
    last_at: AtomicU64::new(0),
};

/// Counts one reload, and how it ended.
pub(crate) fn record(ok: bool) {
    let counter = if ok {
        &COUNTS.succeeded
    } else {
        &COUNTS.failed
    };
    counter.fetch_add(1, Ordering::Relaxed);
    COUNTS.last_ok.store(u64::from(ok), Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    COUNTS.last_at.store(now, Ordering::Relaxed);
}

/// Logs a refused reload: what `llmtel validate` would print for it, verbatim (every error, one per line), and
/// that the running config stays.
pub(crate) fn refused(reason: &str) {
    tracing::error!("config reload refused, the running config stays: {reason}");
}

/// Registers the reload counters on llmtel's own meter (the admin endpoint's `/metrics`).
pub(crate) fn register(meter: &Meter) {
    meter
        .u64_observable_counter("llmtel.config.reloads")
        .with_description(
            "Config reloads (SIGHUP), by result: success, or failed (invalid, unreadable, or a port that could not be bound; the running config stayed).",
        )
        .with_callback(|obs| {
            obs.observe(
                COUNTS.succeeded.load(Ordering::Relaxed),
                &[KeyValue::new("result", "success")],
            );
            obs.observe(
                COUNTS.failed.load(Ordering::Relaxed),
                &[KeyValue::new("result", "failed")],
            );
        })
        .build();
    meter
        .u64_observable_gauge("llmtel.config.last_reload_successful")
        .with_description(
            "1 when the last config reload succeeded (or none was tried), 0 when it failed.",
        )
        .with_callback(|obs| obs.observe(COUNTS.last_ok.load(Ordering::Relaxed), &[]))
        .build();
    meter
        .u64_observable_gauge("llmtel.config.last_reload_timestamp")
        .with_unit("s")
        .with_description(
            "When the last config reload was tried, in seconds since the Unix epoch (0: never).",
        )
        .with_callback(|obs| obs.observe(COUNTS.last_at.load(Ordering::Relaxed), &[]))
        .build();
}
