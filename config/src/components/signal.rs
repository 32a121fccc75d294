//! The three kinds of telemetry a pipeline carries, and the one order per-signal tables agree on.

/// The three kinds of telemetry a pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals, in [`Signal::index`] order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The signal's position in [`Signal::ALL`]: the index of per-signal arrays (counters, URLs) and the byte
    /// that names the signal in a persistent-queue file, so that all of them agree on one order.
    pub const fn index(self) -> usize {
        match self {
            Signal::Traces => 0,
            Signal::Metrics => 1,
            Signal::Logs => 2,
        }
    }

    /// The signal at `index` in [`Signal::ALL`], if there is one.
    pub fn from_index(index: usize) -> Option<Signal> {
        Signal::ALL.get(index).copied()
    }

    /// The word used in pipeline ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
