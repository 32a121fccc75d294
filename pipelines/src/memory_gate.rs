//! The gate of the `memory_limiter` processor, with the Collector's semantics: while llmtel's resident memory is
//! at or above the soft limit (`limit_mib − spike_limit_mib`), new data is refused with a retryable error.
//!
//! Processors run after a pipeline's input queue, too late to refuse anything: so the refusal is this
//! [`MemoryGate`], which the pipeline's inlet consults before it reserves queue space (`crate::queue`). Receivers get
//! [`crate::SendError::OverMemory`] from `Output::try_send` and answer UNAVAILABLE / 503; connectors, which wait
//! instead, wait until memory is back under the limit. The processor in the pipeline
//! (`crate::processors::memory_limiter`) passes batches on.
//!
//! What it measures: the process's RSS, from `VmRSS` in `/proc/self/status` (in kB, so no page size is needed),
//! read at most once per `check_interval` by whichever admission comes first after the interval ran out: no task
//! of its own, and an idle llmtel reads nothing. Where the file cannot be read (not Linux) the gate warns once and
//! admits everything; the queues' own bounds still hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use llmtel_config::MemoryLimiterConfig;

const MIB: u64 = 1024 * 1024;

/// Where the RSS comes from; a function so tests can feed their own values.
pub type RssSource = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// Refuses admission while the RSS is at or above the soft limit. Shared by every pipeline listing the processor.
pub struct MemoryGate {
    id: String,
    soft_limit: u64,
    hard_limit: u64,
    interval: Duration,
    epoch: Instant,
    /// When the RSS was last read, in nanoseconds since `epoch`, plus one (0: never).
    checked_at: AtomicU64,
    rss: AtomicU64,
    unreadable: AtomicBool,
    read: RssSource,
    /// Admissions refused, for the warning and for tests (items are counted by the receivers).
    refusals: AtomicU64,
}

impl std::fmt::Debug for MemoryGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryGate")
            .field("id", &self.id)
            .field("soft_limit", &self.soft_limit)
            .field("rss", &self.rss.load(Ordering::Relaxed))
            .finish()
    }
}

/// A refusal: the RSS seen and the soft limit it crossed, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    /// Resident memory at the last check.
    pub rss: u64,
    /// The soft limit.
    pub soft_limit: u64,
}

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "data refused due to high memory usage: {} MiB resident, soft limit {} MiB",
            self.rss / MIB,
            self.soft_limit / MIB
        )
    }
}

/// The gate could not be built from its settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidLimiter {
    /// `check_interval` is zero.
    #[error("check_interval: 0: expected a duration above zero")]
    ZeroInterval,
    /// `limit_mib` is zero.
    #[error("limit_mib: 0: expected the memory limit in MiB")]
    ZeroLimit,
    /// The spike headroom leaves no soft limit.
    #[error("spike_limit_mib: {spike}: must be below limit_mib ({limit})")]
    SpikeTooLarge {
        /// The headroom.
        spike: u64,
        /// The hard limit.
        limit: u64,
    },
}

impl MemoryGate {
    /// A gate reading this process's RSS.
    pub fn try_new(id: &str, cfg: &MemoryLimiterConfig) -> Result<Self, InvalidLimiter> {
        Self::with_source(id, cfg, Arc::new(process_rss))
    }

    /// A gate reading the RSS from `read`.
    pub fn with_source(
        id: &str,
        cfg: &MemoryLimiterConfig,
        read: RssSource,
    ) -> Result<Self, InvalidLimiter> {
        if cfg.check_interval.get().is_zero() {
            return Err(InvalidLimiter::ZeroInterval);
        }
        if cfg.limit_mib == 0 {
            return Err(InvalidLimiter::ZeroLimit);
        }
        if cfg.spike_mib() >= cfg.limit_mib {
            return Err(InvalidLimiter::SpikeTooLarge {
                spike: cfg.spike_mib(),
                limit: cfg.limit_mib,
            });
        }
        Ok(Self {
            id: id.to_owned(),
            soft_limit: cfg.soft_limit_mib().saturating_mul(MIB),
            hard_limit: cfg.limit_mib.saturating_mul(MIB),
            interval: cfg.check_interval.get(),
            epoch: Instant::now(),
            checked_at: AtomicU64::new(0),
            rss: AtomicU64::new(0),
            unreadable: AtomicBool::new(false),
            read,
            refusals: AtomicU64::new(0),
        })
    }

    /// How often the RSS is read.
    pub fn check_interval(&self) -> Duration {
        self.interval
    }

    /// The RSS at the last check, in bytes.
    pub fn rss(&self) -> u64 {
        self.rss.load(Ordering::Relaxed)
    }

    /// Admissions refused so far.
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// Admits, or refuses while the RSS is at or above the soft limit. Reads the RSS when the last reading is
    /// older than `check_interval`; one caller reads, the others use the value it stores.
    pub fn admit(&self) -> Result<(), OverLimit> {
        self.refresh();
        let rss = self.rss.load(Ordering::Relaxed);
        if rss < self.soft_limit {
            return Ok(());
        }
        let n = self.refusals.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            tracing::warn!(
                processor = %self.id,
                rss_mib = rss / MIB,
                soft_limit_mib = self.soft_limit / MIB,
                limit_mib = self.hard_limit / MIB,
                "memory above the soft limit: refusing new data until it falls (counted as refused)"
            );
        }
        Err(OverLimit {
            rss,
            soft_limit: self.soft_limit,
        })
    }

    fn refresh(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
        let last = self.checked_at.load(Ordering::Relaxed);
        let interval = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < interval {
            return;
        }
        // Whoever wins the exchange reads; the others keep the previous value for this round.
        if self
            .checked_at
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        match (self.read)() {
            Some(rss) => self.rss.store(rss, Ordering::Relaxed),
            None => {
                if !self.unreadable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        processor = %self.id,
                        "cannot read this process's resident memory (/proc/self/status): the memory_limiter \
                         admits everything; the queues' bounds still hold"
                    );
                }
            }
        }
    }
}

/// This process's resident memory in bytes, from `VmRSS` in `/proc/self/status`; `None` where there is no such
/// file (not Linux) or it has no such line.
pub fn process_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kb(&status, "VmRSS:").map(|kb| kb.saturating_mul(1024))
}

/// The value in kB of the line starting with `key` in a `/proc/PID/status` text.
pub fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings with `interval_s` seconds between checks (0: one nanosecond, so every admission reads).
    fn limiter(
        limit_mib: u64,
        spike_limit_mib: Option<u64>,
        interval_s: u64,
    ) -> MemoryLimiterConfig {
        let interval = match interval_s {
            0 => Duration::from_nanos(1),
            s => Duration::from_secs(s),
        };
        MemoryLimiterConfig {
            check_interval: llmtel_config::Duration(interval),
            limit_mib,
            spike_limit_mib,
        }
    }

    fn gate(limit: u64, spike: Option<u64>, rss_mib: Arc<AtomicU64>) -> MemoryGate {
        let read: RssSource = Arc::new(move || Some(rss_mib.load(Ordering::Relaxed) * MIB));
        MemoryGate::with_source("memory_limiter", &limiter(limit, spike, 0), read).unwrap()
    }

    #[test]
    fn refuses_at_the_soft_limit_and_admits_below_it() {
        let rss = Arc::new(AtomicU64::new(50));
        // limit 100, spike 20 % → soft limit 80 MiB.
        let g = gate(100, None, rss.clone());
        assert!(g.admit().is_ok());
        rss.store(80, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(2));
        let e = g.admit().unwrap_err();
        assert_eq!(e.soft_limit, 80 * MIB);
        assert!(
            e.to_string().contains("80 MiB resident, soft limit 80 MiB"),
            "{e}"
        );
        rss.store(79, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(2));
        assert!(g.admit().is_ok());
        assert_eq!(g.refusals(), 1);
    }

    #[test]
    fn reads_at_most_once_per_interval() {
        let reads = Arc::new(AtomicU64::new(0));
        let r = reads.clone();
        let read: RssSource = Arc::new(move || {
            r.fetch_add(1, Ordering::Relaxed);
            Some(MIB)
        });
        let g = MemoryGate::with_source("m", &limiter(100, Some(10), 3600), read).unwrap();
        for _ in 0..1000 {
            assert!(g.admit().is_ok());
        }
        assert_eq!(reads.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn bad_settings_are_refused_at_construction() {
        let read: RssSource = Arc::new(|| Some(0));
        assert_eq!(
            MemoryGate::with_source("m", &limiter(0, None, 1), read.clone()).unwrap_err(),
            InvalidLimiter::ZeroLimit
        );
        assert_eq!(
            MemoryGate::with_source("m", &limiter(100, Some(100), 1), read).unwrap_err(),
            InvalidLimiter::SpikeTooLarge {
                spike: 100,
                limit: 100
            }
        );
    }

    #[test]
    fn unreadable_memory_admits_everything() {
        let read: RssSource = Arc::new(|| None);
        let g = MemoryGate::with_source("m", &limiter(1, None, 1), read).unwrap();
        assert!(g.admit().is_ok());
    }

    #[test]
    fn reads_this_process_rss_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = process_rss().unwrap();
            assert!(rss > MIB && rss < 64 * 1024 * MIB, "{rss}");
        }
        assert_eq!(
            status_kb("Name:\tx\nVmHWM:\t  1234 kB\n", "VmHWM:"),
            Some(1234)
        );
    }
}
