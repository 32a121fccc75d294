//! Which failures are worth retrying, and how long to wait: the OTLP specification's rules, exactly, and remote
//! write 1.0's ([`remote_write_http`]); one backoff for every pushing exporter (`otlp`, `otlp_http`,
//! `prometheusremotewrite`).
//!
//! gRPC: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are retryable;
//! RESOURCE_EXHAUSTED only when the server attached RetryInfo; every other code is permanent. HTTP: 429, 502, 503
//! and 504 are retryable; every other status is permanent. A server's RetryInfo / Retry-After is honoured: the wait
//! is the longer of it and the backoff. Connection failures and timeouts are retryable.

use std::time::{Duration, Instant};

use llmtel_config::otlp_exporters::RetryConfig;

/// How an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Worth another attempt, after at least `after` when the server said so.
    Retryable {
        message: String,
        after: Option<Duration>,
    },
    /// Will fail again: give up on the batch.
    Permanent(String),
}

/// Classifies a gRPC status.
pub(crate) fn grpc(code: tonic::Code, message: &str, retry_info: Option<Duration>) -> Failure {
    use tonic::Code::*;
    let text = format!("grpc {code:?}: {message}");
    match code {
        Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable | DataLoss => {
            Failure::Retryable {
                message: text,
                after: retry_info,
            }
        }
        ResourceExhausted if retry_info.is_some() => Failure::Retryable {
            message: text,
            after: retry_info,
        },
        _ => Failure::Permanent(text),
    }
}

/// Classifies an HTTP status with its `Retry-After` header value.
pub(crate) fn http(status: u16, message: &str, retry_after: Option<&str>) -> Failure {
    let text = format!("http {status}: {message}");
    match status {
        429 | 502 | 503 | 504 => Failure::Retryable {
            message: text,
            after: retry_after.and_then(parse_retry_after),
        },
        _ => Failure::Permanent(text),
    }
}

/// Classifies an HTTP status by the remote write 1.0 rules: every 5xx and 429 are retryable (with `Retry-After`),
/// every other status (a 400 means invalid samples) is permanent.
pub(crate) fn remote_write_http(status: u16, message: &str, retry_after: Option<&str>) -> Failure {
    let text = format!("http {status}: {message}");
    if status == 429 || (500..600).contains(&status) {
        Failure::Retryable {
            message: text,
            after: retry_after.and_then(parse_retry_after),
        }
    } else {
        Failure::Permanent(text)
    }
}

/// `Retry-After` in seconds, or as an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The longest wait a server's RetryInfo or Retry-After can ask for.
const MAX_SERVER_HINT: Duration = Duration::from_secs(3600);

/// Why retry settings cannot make a backoff that works.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum InvalidBackoff {
    /// The wait would jump down to the maximum after the first retry.
    #[error("retry_on_failure: max_interval must not be less than initial_interval")]
    MaxBelowInitial,
    /// Below 1 the waits shrink towards a tight retry loop; NaN or infinity make them meaningless.
    #[error("retry_on_failure: multiplier must be a finite number of at least 1 (got {0})")]
    Multiplier(f64),
    /// Outside [0, 1] a jittered wait could be negative.
    #[error("retry_on_failure: randomization_factor must be from 0 to 1 (got {0})")]
    Randomization(f64),
}

/// Retry settings checked once, when the exporter is built; every batch's [`Backoff`] starts from them.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy(RetryConfig);

impl RetryPolicy {
    pub(crate) fn try_new(cfg: &RetryConfig) -> Result<Self, InvalidBackoff> {
        if cfg.max_interval < cfg.initial_interval {
            return Err(InvalidBackoff::MaxBelowInitial);
        }
        if !(cfg.multiplier.is_finite() && cfg.multiplier >= 1.0) {
            return Err(InvalidBackoff::Multiplier(cfg.multiplier));
        }
        if !(0.0..=1.0).contains(&cfg.randomization_factor) {
            return Err(InvalidBackoff::Randomization(cfg.randomization_factor));
        }
        Ok(Self(cfg.clone()))
    }
}

/// Exponential backoff with jitter for one batch.
#[derive(Debug)]
pub(crate) struct Backoff {
    cfg: RetryConfig,
    next: Duration,
    started: Instant,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        let cfg = &policy.0;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Self {
            cfg: cfg.clone(),
            next: cfg.initial_interval.get(),
            started: Instant::now(),
            seed,
        }
    }

    /// How long to wait before the next attempt, or `None` when retrying is off or the time budget is spent.
    pub(crate) fn next_wait(&mut self, server_hint: Option<Duration>) -> Option<Duration> {
        if !self.cfg.enabled {
            return None;
        }
        let base = self.next;
        let max = self.cfg.max_interval.get();
        self.next = Duration::try_from_secs_f64(base.as_secs_f64() * self.cfg.multiplier)
            .map_or(max, |d| d.min(max));
        let f = self.cfg.randomization_factor;
        let jittered =
            Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 - f + 2.0 * f * self.random()))
                .unwrap_or(base);
        // A server's hint is honoured up to an hour: a peer must not be able to park (or overflow) the exporter.
        let hint = server_hint.map(|h| h.min(MAX_SERVER_HINT));
        let wait = hint.map_or(jittered, |h| h.max(jittered));
        let budget = self.cfg.max_elapsed_time.get();
        if !budget.is_zero() && self.started.elapsed().saturating_add(wait) > budget {
            return None;
        }
        Some(wait)
    }

    /// A number in [0, 1) from a xorshift generator (jitter needs spread, not cryptographic quality).
    fn random(&mut self) -> f64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Sends one batch with `attempt` until it succeeds, fails permanently, or `policy`'s backoff gives up; each retry
/// is counted (and warned about, rate-limited) in `retried`. The one retry loop of every exporter that retries.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    retried: &llmtel_pipelines::events::EventCounter,
    mut attempt: F,
) -> Result<T, llmtel_pipelines::ExportError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    use llmtel_pipelines::ExportError;
    let mut backoff = Backoff::new(policy);
    loop {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(Failure::Permanent(message)) => {
                return Err(ExportError(format!("{message} (not retryable)")));
            }
            Err(Failure::Retryable { message, after }) => match backoff.next_wait(after) {
                Some(wait) => {
                    retried.emit(1, &format_args!("{message}; retry in {wait:?}"));
                    tokio::time::sleep(wait).await;
                }
                None => return Err(ExportError(format!("{message} (gave up after retries)"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmtel_config::Duration as D;

    #[test]
    fn classifies_like_the_otlp_spec() {
        use tonic::Code::*;
        for c in [
            Cancelled,
            DeadlineExceeded,
            Aborted,
            OutOfRange,
            Unavailable,
            DataLoss,
        ] {
            assert!(
                matches!(grpc(c, "", None), Failure::Retryable { .. }),
                "{c:?}"
            );
        }
        for c in [
            InvalidArgument,
            Internal,
            Unauthenticated,
            PermissionDenied,
            NotFound,
            Unimplemented,
            Unknown,
        ] {
            assert!(matches!(grpc(c, "", None), Failure::Permanent(_)), "{c:?}");
        }
        assert!(matches!(
            grpc(ResourceExhausted, "", None),
            Failure::Permanent(_)
        ));
        let hint = Some(Duration::from_secs(3));
        assert_eq!(
            grpc(ResourceExhausted, "slow down", hint),
            Failure::Retryable {
                message: "grpc ResourceExhausted: slow down".into(),
                after: hint
            }
        );
        for s in [429, 502, 503, 504] {
            assert!(
                matches!(http(s, "", None), Failure::Retryable { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 408, 413, 500, 501] {
            assert!(matches!(http(s, "", None), Failure::Permanent(_)), "{s}");
        }
        assert_eq!(
            http(503, "x", Some("7")),
            Failure::Retryable {
                message: "http 503: x".into(),
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn remote_write_retries_every_5xx_and_429_and_nothing_else() {
        for s in [429, 500, 502, 503, 504, 599] {
            assert!(
                matches!(remote_write_http(s, "", None), Failure::Retryable { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 409, 413, 415] {
            assert!(
                matches!(remote_write_http(s, "", None), Failure::Permanent(_)),
                "{s}"
            );
        }
        assert_eq!(
            remote_write_http(429, "slow", Some("2")),
            Failure::Retryable {
                message: "http 429: slow".into(),
                after: Some(Duration::from_secs(2))
            }
        );
    }

    #[test]
    fn backoff_grows_with_jitter_honours_hints_and_stops_at_the_budget() {
        let cfg = RetryConfig {
            initial_interval: D::from_millis(100),
            max_interval: D::from_millis(400),
            max_elapsed_time: D::from_secs(1),
            ..RetryConfig::default()
        };
        let mut b = Backoff::new(&RetryPolicy::try_new(&cfg).unwrap());
        let waits: Vec<Duration> = (0..4).map(|_| b.next_wait(None).unwrap()).collect();
        for (w, base) in waits.iter().zip([100u64, 150, 225, 337]) {
            let base = Duration::from_millis(base);
            assert!(
                *w >= base.mul_f64(0.5) && *w <= base.mul_f64(1.5),
                "{w:?} not within ±50% of {base:?}"
            );
        }
        assert!(
            b.next_wait(Some(Duration::from_millis(900))).unwrap() >= Duration::from_millis(900)
        );
        assert_eq!(
            b.next_wait(Some(Duration::from_secs(5))),
            None,
            "a wait past max_elapsed_time gives up"
        );
        // A hostile Retry-After neither overflows nor parks the exporter for ever.
        let huge = http(503, "x", Some("18446744073709551615"));
        let Failure::Retryable { after, .. } = huge else {
            panic!()
        };
        let policy = |cfg: RetryConfig| RetryPolicy::try_new(&cfg).unwrap();
        let mut forever = Backoff::new(&policy(RetryConfig {
            max_elapsed_time: D::from_secs(0),
            ..RetryConfig::default()
        }));
        assert_eq!(forever.next_wait(after), Some(MAX_SERVER_HINT));
        assert_eq!(
            Backoff::new(&policy(RetryConfig::default())).next_wait(after),
            None
        );
        let mut off = Backoff::new(&policy(RetryConfig {
            enabled: false,
            ..RetryConfig::default()
        }));
        assert_eq!(off.next_wait(None), None);
    }

    #[test]
    fn settings_that_cannot_back_off_are_refused_at_construction() {
        let with = |f: fn(&mut RetryConfig)| {
            let mut cfg = RetryConfig::default();
            f(&mut cfg);
            RetryPolicy::try_new(&cfg).map(|_| ())
        };
        assert_eq!(
            with(|c| c.max_interval = D::from_millis(1)),
            Err(InvalidBackoff::MaxBelowInitial)
        );
        assert_eq!(
            with(|c| c.multiplier = 0.5),
            Err(InvalidBackoff::Multiplier(0.5))
        );
        assert!(matches!(
            with(|c| c.multiplier = f64::NAN),
            Err(InvalidBackoff::Multiplier(_))
        ));
        assert_eq!(
            with(|c| c.randomization_factor = 1.5),
            Err(InvalidBackoff::Randomization(1.5))
        );
        assert_eq!(
            InvalidBackoff::MaxBelowInitial.to_string(),
            "retry_on_failure: max_interval must not be less than initial_interval"
        );
        assert_eq!(with(|_| {}), Ok(()));
    }
}
