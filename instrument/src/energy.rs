//! The energy ledger: each request's share of GPU energy (`llmtel.gpu.energy`, an **estimate**; docs/energy.md).
//!
//! Fed by the `gpu` receiver's samples ([`Ledger::sample`]: NVML's energy counter where the GPU has one, else its
//! power draw), read by every `llm_proxy` ([`EnergyScope::start`] when a request starts, [`Ticket::finish`] when its
//! response ends). One ledger per llmtel, made by the collector's factory.
//!
//! The rule: between two samples a GPU's power is constant (ΔE/Δt); at each moment that power is shared equally
//! among the requests in flight on that GPU; a request's energy is the integral of its share over its life, summed
//! over the GPUs that serve its upstream. Energy while nothing is in flight is idle energy, counted per GPU apart.
//!
//! How, without any work per moment: per GPU the ledger keeps W(t) = ∫ 1/n(t) dt (n: requests in flight there),
//! advanced at each request start and end and at each sample, and a ring of the last [`RING`] samples as knots
//! (W(t_k), S_k) where S_k = ∫ P/n dt up to t_k. The energy share accrued by a request in flight is a function of W
//! alone: piecewise linear through the knots, with slope the interval's power. A request keeps W at its start and
//! reads A(W_end) − A(W_start) at its end: exact over finished sample intervals; the part after the newest sample
//! uses the last known power (the method's error). Each call holds one mutex for a few microseconds; nothing here
//! touches NVML.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Samples kept per GPU: at the gpu receiver's fastest ledger rate (2 per second) about 34 minutes. A request
/// that started before the oldest kept sample gets the oldest interval's power for the part before it.
pub const RING: usize = 4096;

/// The SDK counter of idle energy per GPU (J), exported by the `gpu` receiver.
pub const IDLE_ENERGY_METRIC: &str = "llmtel.gpu.energy.idle";

/// Which GPU a sample is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuKey {
    /// NVML index.
    pub index: u32,
    /// UUID, `GPU-…`: what identifies the GPU in the ledger.
    pub uuid: String,
    /// Product name (for the idle-energy series).
    pub name: String,
}

/// What one sample read.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PowerReading {
    /// NVML's energy counter, joules since the driver loaded.
    pub energy_j: Option<f64>,
    /// Power draw, watts.
    pub power_w: Option<f64>,
}

/// How a request's energy was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// From NVML's energy counter.
    Counter,
    /// From power samples × time (a GPU without the counter).
    Power,
}

impl Method {
    /// The value of `llmtel.gpu.energy.method`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Power => "power",
        }
    }
}

/// A request's energy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Energy {
    /// Joules.
    pub joules: f64,
    /// `power` if any GPU of the request was measured by power, else `counter`.
    pub method: Method,
}

/// One sample as a knot of A(W).
#[derive(Debug, Clone, Copy)]
struct Knot {
    /// W at the sample.
    w: f64,
    /// Energy share accrued per request in flight all along, up to the sample (J).
    s: f64,
    /// The power of the interval that ends here (W); `None` for a first sample (nothing known before it).
    p: Option<f64>,
}

/// The previous sample, for ΔE/Δt.
#[derive(Debug, Clone, Copy)]
struct Prev {
    at: Instant,
    reading: PowerReading,
    idle_secs: f64,
}

#[derive(Debug)]
struct Gpu {
    key: GpuKey,
    gone: bool,
    in_flight: u32,
    /// The instant W and `idle_secs` were last advanced to.
    last: Instant,
    w: f64,
    idle_secs: f64,
    knots: VecDeque<Knot>,
    prev: Option<Prev>,
    last_power: Option<f64>,
    method: Method,
    idle_joules: f64,
}

impl Gpu {
    fn new(key: GpuKey, at: Instant) -> Self {
        Self {
            key,
            gone: false,
            in_flight: 0,
            last: at,
            w: 0.0,
            idle_secs: 0.0,
            knots: VecDeque::new(),
            prev: None,
            last_power: None,
            method: Method::Counter,
            idle_joules: 0.0,
        }
    }

    /// Moves W (or the idle time) on to `at`; an instant before the last one counts as the last one.
    fn advance(&mut self, at: Instant) {
        let dt = at.saturating_duration_since(self.last).as_secs_f64();
        if dt > 0.0 {
            if self.in_flight > 0 {
                self.w += dt / f64::from(self.in_flight);
            } else {
                self.idle_secs += dt;
            }
            self.last = at;
        }
    }

    /// The power of the interval from the previous sample to this one, and how it is known.
    fn interval_power(prev: &Prev, at: Instant, now: PowerReading) -> Option<(f64, Method)> {
        let dt = at.saturating_duration_since(prev.at).as_secs_f64();
        if dt <= 0.0 {
            return None;
        }
        if let (Some(e0), Some(e1)) = (prev.reading.energy_j, now.energy_j)
            && e1 >= e0
        {
            return Some(((e1 - e0) / dt, Method::Counter));
        }
        // A counter that went back (driver reloaded) or is absent: the power samples, averaged over the interval.
        now.power_w.map(|p1| {
            (
                (prev.reading.power_w.unwrap_or(p1) + p1) / 2.0,
                Method::Power,
            )
        })
    }

    fn sample(&mut self, at: Instant, reading: PowerReading) {
        self.advance(at);
        let at = at.max(self.last);
        let power = self
            .prev
            .as_ref()
            .and_then(|prev| Self::interval_power(prev, at, reading).map(|p| (p, prev.idle_secs)));
        let (s_before, w_before) = self.knots.back().map_or((0.0, self.w), |k| (k.s, k.w));
        let knot = match power {
            Some(((p, method), idle_before)) => {
                self.idle_joules += p * (self.idle_secs - idle_before);
                self.last_power = Some(p);
                self.method = method;
                Knot {
                    w: self.w,
                    s: s_before + p * (self.w - w_before),
                    p: Some(p),
                }
            }
            None => Knot {
                w: self.w,
                s: s_before,
                p: None,
            },
        };
        self.knots.push_back(knot);
        while self.knots.len() > RING {
            self.knots.pop_front();
        }
        self.prev = Some(Prev {
            at,
            reading,
            idle_secs: self.idle_secs,
        });
    }

    /// A(W): the energy share accrued up to the moment W was `w`.
    fn accrued(&self, w: f64) -> f64 {
        let Some(first) = self.knots.front() else {
            return 0.0;
        };
        let i = self.knots.partition_point(|k| k.w < w);
        if i == 0 {
            // Before the oldest kept sample: that interval's power backwards, or nothing before a first sample.
            return first.s - first.p.unwrap_or(0.0) * (first.w - w);
        }
        let before = self.knots[i - 1];
        match self.knots.get(i) {
            Some(k) => before.s + k.p.unwrap_or(0.0) * (w - before.w),
            // After the newest sample: the last known power (none once the GPU is gone).
            None if self.gone => before.s,
            None => before.s + self.last_power.unwrap_or(0.0) * (w - before.w),
        }
    }
}

/// The GPUs' power over time and the requests in flight on each.
#[derive(Debug, Default)]
pub struct Ledger {
    gpus: Mutex<Vec<Gpu>>,
}

impl Ledger {
    /// An empty ledger (no GPU until the first sample).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Gpu>> {
        // A panic while holding the lock leaves plain numbers behind; they are still usable.
        self.gpus.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one sample of `gpu`, read at `at`. A GPU is known from its first sample on.
    pub fn sample(&self, gpu: &GpuKey, at: Instant, reading: PowerReading) {
        let mut gpus = self.lock();
        let slot = match gpus.iter().position(|g| g.key.uuid == gpu.uuid) {
            Some(i) => i,
            None => {
                gpus.push(Gpu::new(gpu.clone(), at));
                gpus.len() - 1
            }
        };
        let g = &mut gpus[slot];
        if g.gone {
            // Back after a reset: a new counter, nothing to take the difference with.
            g.gone = false;
            g.prev = None;
        }
        g.sample(at, reading);
    }

    /// `uuid` is gone (fell off the bus): new requests leave it out, and requests in flight get no more of it
    /// than up to its last sample.
    pub fn gone(&self, uuid: &str) {
        if let Some(g) = self.lock().iter_mut().find(|g| g.key.uuid == uuid) {
            g.gone = true;
        }
    }

    /// Idle energy so far (J) of every GPU still present: power while no request was in flight on it.
    pub fn idle_energy(&self) -> Vec<(GpuKey, f64)> {
        self.lock()
            .iter()
            .filter(|g| !g.gone)
            .map(|g| (g.key.clone(), g.idle_joules))
            .collect()
    }

    /// A request starts at `at` on the GPUs `selector` picks.
    pub fn start(self: &Arc<Self>, selector: &GpuSelector, at: Instant) -> Ticket {
        let mut gpus = self.lock();
        let mut parts = Vec::new();
        for (slot, g) in gpus.iter_mut().enumerate() {
            if g.gone || !selector.picks(&g.key) {
                continue;
            }
            g.advance(at);
            g.in_flight += 1;
            parts.push((slot, g.w));
        }
        Ticket {
            ledger: self.clone(),
            parts,
        }
    }

    fn end(&self, parts: &[(usize, f64)], at: Instant) -> Option<Energy> {
        let mut gpus = self.lock();
        let mut joules = 0.0;
        let mut method = Method::Counter;
        let mut known = false;
        for &(slot, w_start) in parts {
            let Some(g) = gpus.get_mut(slot) else {
                continue;
            };
            g.advance(at);
            let share = g.accrued(g.w) - g.accrued(w_start);
            g.in_flight = g.in_flight.saturating_sub(1);
            if g.last_power.is_some() {
                known = true;
                joules += share.max(0.0);
                if g.method == Method::Power {
                    method = Method::Power;
                }
            }
        }
        known.then_some(Energy { joules, method })
    }
}

/// The GPUs that serve one upstream (`llm_proxy.gpus`): NVML indices (`"0"`) or UUIDs; empty picks every GPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuSelector {
    names: Vec<String>,
}

impl GpuSelector {
    /// From the config's list.
    pub fn new(names: &[String]) -> Self {
        Self {
            names: names.iter().map(|n| n.trim().to_owned()).collect(),
        }
    }

    /// Whether `gpu` serves the upstream. UUIDs compare without regard to case.
    pub fn picks(&self, gpu: &GpuKey) -> bool {
        self.names.is_empty()
            || self.names.iter().any(|n| {
                n.parse::<u32>().is_ok_and(|i| i == gpu.index) || n.eq_ignore_ascii_case(&gpu.uuid)
            })
    }
}

/// A ledger and the GPUs of one upstream: what an `llm_proxy` holds.
#[derive(Debug, Clone)]
pub struct EnergyScope {
    ledger: Arc<Ledger>,
    gpus: GpuSelector,
}

impl EnergyScope {
    /// Requests of this scope share the GPUs `gpus` picks.
    pub fn new(ledger: Arc<Ledger>, gpus: GpuSelector) -> Self {
        Self { ledger, gpus }
    }

    /// A request starts now-ish (`at`).
    pub fn start(&self, at: Instant) -> Ticket {
        self.ledger.start(&self.gpus, at)
    }
}

/// A request in flight, counted on its GPUs until [`Ticket::finish`] or drop.
#[derive(Debug)]
pub struct Ticket {
    ledger: Arc<Ledger>,
    parts: Vec<(usize, f64)>,
}

impl Ticket {
    /// The request ended at `at`: its energy, or `None` when none of its GPUs has a known power yet (or it has
    /// no GPU: no `gpu` receiver, no GPU sampled when it started).
    pub fn finish(mut self, at: Instant) -> Option<Energy> {
        let parts = std::mem::take(&mut self.parts);
        if parts.is_empty() {
            return None;
        }
        self.ledger.end(&parts, at)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.parts.is_empty() {
            let _ = self.ledger.end(&self.parts, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests;
