//! llmtel's own warnings as typed events, in the spirit of vector's internal events: one call counts the event for
//! its component and logs it — the first time, then at most once a minute with the running total — so a hot path
//! never logs per item and nothing that goes wrong goes uncounted.
//!
//! Components that meet trouble (the sidecar when the pipeline refuses its spans or the model server is down, an
//! exporter that retries or meets a partial success, the Prometheus exporter refusing points, a connector over its
//! cardinality cap) hold an [`EventCounter`] from [`counter`]. The counters live in one process-wide registry,
//! because exporters and SDK bridges are built where no per-run handle reaches them; the collector's
//! self-telemetry reads [`snapshot`] and serves `llmtel_events_total{component, event}` on the admin endpoint.
//! A component id that is built twice in one process (tests, a restart) gets the same counter back.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::stats::LogLimiter;

/// Something that went wrong, of a kind llmtel counts and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// A pipeline refused telemetry llmtel produced itself (the sidecar's spans and metrics, GPU samples): its
    /// queue was full. The refusal is also counted as refused items of the receiver.
    TelemetryRefused,
    /// The model server behind the sidecar could not be reached; the client got a 502.
    UpstreamUnavailable,
    /// An export failed with a retryable error and will be tried again.
    ExportRetried,
    /// The backend accepted an export but rejected part of it (OTLP partial success); not retried.
    ExportPartiallyRejected,
    /// Metric points the Prometheus exporter could not serve: their name is already used with another TYPE, or
    /// their temporality is unspecified.
    MetricPointsRejected,
    /// Attribute sets beyond a cardinality cap, folded into the `otel.metric.overflow` series.
    CardinalityOverflow,
    /// A client's TLS handshake failed or did not finish within the listener's `tls.handshake_timeout` (no
    /// certificate for mTLS, one from another CA, plain HTTP on a TLS port); its connection was closed.
    TlsHandshakeFailed,
    /// A request without a valid bearer token or API key was refused (401 / UNAUTHENTICATED).
    AuthRefused,
    /// The sidecar refused a request: `max_concurrent_requests` were in flight (the client got 503/529).
    ProxyConcurrencyLimit,
    /// The sidecar abandoned a response whose client stopped reading for `write_timeout`.
    ProxyClientStalled,
    /// The sidecar cancelled a request still running when the shutdown's `drain_timeout` ran out.
    ProxyShutdownCut,
}

impl Event {
    /// Every event.
    pub const ALL: [Self; 11] = [
        Self::TelemetryRefused,
        Self::UpstreamUnavailable,
        Self::ExportRetried,
        Self::ExportPartiallyRejected,
        Self::MetricPointsRejected,
        Self::CardinalityOverflow,
        Self::TlsHandshakeFailed,
        Self::AuthRefused,
        Self::ProxyConcurrencyLimit,
        Self::ProxyClientStalled,
        Self::ProxyShutdownCut,
    ];

    /// The value of the `event` label.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TelemetryRefused => "telemetry_refused",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::ExportRetried => "export_retried",
            Self::ExportPartiallyRejected => "export_partially_rejected",
            Self::MetricPointsRejected => "metric_points_rejected",
            Self::CardinalityOverflow => "cardinality_overflow",
            Self::TlsHandshakeFailed => "tls_handshake_failed",
            Self::AuthRefused => "auth_refused",
            Self::ProxyConcurrencyLimit => "proxy_concurrency_limit",
            Self::ProxyClientStalled => "proxy_client_stalled",
            Self::ProxyShutdownCut => "proxy_shutdown_cut",
        }
    }

    /// The log message.
    pub const fn message(self) -> &'static str {
        match self {
            Self::TelemetryRefused => {
                "pipeline refused llmtel's own telemetry; dropped (counted as refused)"
            }
            Self::UpstreamUnavailable => "upstream request failed (clients get 502)",
            Self::ExportRetried => "export failed, will retry",
            Self::ExportPartiallyRejected => {
                "backend accepted the request but rejected part of it (not retried)"
            }
            Self::MetricPointsRejected => {
                "metric points dropped: their name is already used with another TYPE, or their temporality is unspecified"
            }
            Self::CardinalityOverflow => {
                "more attribute sets than the cap; the rest are counted in the otel.metric.overflow series"
            }
            Self::TlsHandshakeFailed => "TLS handshake failed or timed out; connection closed",
            Self::AuthRefused => "request refused: missing or unknown bearer token or API key",
            Self::ProxyConcurrencyLimit => {
                "request refused: max_concurrent_requests in flight (the client got 503 with Retry-After)"
            }
            Self::ProxyClientStalled => {
                "client stopped reading for write_timeout; response abandoned, upstream request cancelled"
            }
            Self::ProxyShutdownCut => {
                "request still running when drain_timeout ran out; cancelled upstream"
            }
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The count of one event of one component, and the limiter of its log line.
#[derive(Debug)]
pub struct EventCounter {
    component: String,
    event: Event,
    total: AtomicU64,
    log: LogLimiter,
}

impl EventCounter {
    /// Counts `n` occurrences (items, points, requests: whatever the event is about) and logs a warning with
    /// `detail` and the running total, the first time and then at most once a minute.
    pub fn emit(&self, n: u64, detail: &dyn fmt::Display) {
        let total = self.total.fetch_add(n, Ordering::Relaxed) + n;
        if self.log.allow() {
            tracing::warn!(
                component = %self.component,
                event = self.event.name(),
                count = n,
                total,
                detail = %detail,
                "{} (logged at most once a minute)",
                self.event.message()
            );
        }
    }

    /// Occurrences so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The component it counts for.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The event it counts.
    pub fn event(&self) -> Event {
        self.event
    }
}

fn registry() -> &'static Mutex<Vec<Arc<EventCounter>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Arc<EventCounter>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The counter of `event` for `component`, created on first use (and the same one on later calls).
pub fn counter(component: &str, event: Event) -> Arc<EventCounter> {
    let mut all = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = all
        .iter()
        .find(|c| c.event == event && c.component == component)
    {
        return c.clone();
    }
    let c = Arc::new(EventCounter {
        component: component.to_owned(),
        event,
        total: AtomicU64::new(0),
        log: LogLimiter::default(),
    });
    all.push(c.clone());
    c
}

/// Every counter that has counted something: (component, event, total).
pub fn snapshot() -> Vec<(String, Event, u64)> {
    let all = registry().lock().unwrap_or_else(|p| p.into_inner());
    all.iter()
        .map(|c| (c.component.clone(), c.event, c.total()))
        .filter(|(_, _, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_per_component_and_the_same_counter_comes_back() {
        let a = counter("events-test/a", Event::ExportRetried);
        a.emit(2, &"first");
        a.emit(3, &"second, not logged");
        counter("events-test/a", Event::ExportRetried).emit(1, &"again");
        counter("events-test/b", Event::ExportRetried).emit(7, &"other component");
        assert_eq!(a.total(), 6);
        let snap = snapshot();
        let find = |component: &str| {
            snap.iter()
                .find(|(c, e, _)| c == component && *e == Event::ExportRetried)
                .map(|(_, _, n)| *n)
        };
        assert_eq!(find("events-test/a"), Some(6));
        assert_eq!(find("events-test/b"), Some(7));
        counter("events-test/c", Event::CardinalityOverflow);
        assert!(
            !snapshot().iter().any(|(c, _, _)| c == "events-test/c"),
            "nothing counted, nothing shown"
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
    }
}
