//! The sampler of the `gpu` receiver: reads every field of every device into [`Reading`]s (a field a device does
//! not support is skipped for that device from then on, a device that vanishes is dropped with one warning), and
//! the energy and power of each device, more often, for the energy ledger ([`Sampler::sample_power`]).

use std::collections::BTreeSet;
use std::time::Instant;

use super::device::{Device, DeviceId, Field, ReadError};
use super::metrics::{FIELDS, THROTTLE_REASONS};
use crate::energy::PowerReading;

/// One value of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Metric name (one of [`METRICS`]).
    pub metric: &'static str,
    /// Value.
    pub value: f64,
    /// Attributes: the device's, plus the reading's own.
    pub attributes: Vec<(&'static str, String)>,
}

struct Slot {
    dev: Box<dyn Device>,
    unsupported: BTreeSet<Field>,
    processes_unsupported: bool,
    throttle_unsupported: bool,
}

/// Reads every device.
pub struct Sampler {
    slots: Vec<Slot>,
    /// Devices dropped since [`Sampler::take_gone`] was last called.
    gone: Vec<DeviceId>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("devices", &self.slots.len())
            .finish()
    }
}

impl Sampler {
    /// A sampler over `devices`.
    pub fn new(devices: Vec<Box<dyn Device>>) -> Self {
        Self {
            slots: devices
                .into_iter()
                .map(|dev| Slot {
                    dev,
                    unsupported: BTreeSet::new(),
                    processes_unsupported: false,
                    throttle_unsupported: false,
                })
                .collect(),
            gone: Vec::new(),
        }
    }

    /// Devices still sampled.
    pub fn devices(&self) -> usize {
        self.slots.len()
    }

    /// Reads everything once.
    pub fn sample(&mut self) -> Vec<Reading> {
        let mut out = Vec::new();
        self.slots
            .retain_mut(|slot| match sample_device(slot, &mut out) {
                Ok(()) => true,
                Err(()) => {
                    vanished(slot, &mut self.gone);
                    false
                }
            });
        out
    }

    /// Reads the energy counter and the power draw of every device, for the energy ledger, each with the instant
    /// its counter was read. Cheaper than [`Sampler::sample`] (two reads per device), so it can run more often.
    pub fn sample_power(&mut self) -> Vec<(DeviceId, Instant, PowerReading)> {
        let mut out = Vec::new();
        let gone = &mut self.gone;
        self.slots.retain_mut(|slot| {
            let mut reading = PowerReading::default();
            let mut at = None;
            for field in [Field::Energy, Field::PowerDraw] {
                if slot.unsupported.contains(&field) {
                    continue;
                }
                match slot.dev.read(field) {
                    Ok(v) if field == Field::Energy => {
                        reading.energy_j = Some(v);
                        at = Some(Instant::now());
                    }
                    Ok(v) => reading.power_w = Some(v),
                    Err(ReadError::NotSupported) => {
                        slot.unsupported.insert(field);
                    }
                    Err(ReadError::Gone) => {
                        vanished(slot, gone);
                        return false;
                    }
                    Err(ReadError::Other(_)) => {}
                }
            }
            out.push((
                slot.dev.id().clone(),
                at.unwrap_or_else(Instant::now),
                reading,
            ));
            true
        });
        out
    }

    /// The devices dropped since the last call (they vanished: fell off the bus, were reset).
    pub fn take_gone(&mut self) -> Vec<DeviceId> {
        std::mem::take(&mut self.gone)
    }
}

/// One warning for a device that vanished; remembered for [`Sampler::take_gone`].
fn vanished(slot: &Slot, gone: &mut Vec<DeviceId>) {
    let id = slot.dev.id();
    tracing::warn!(gpu.index = id.index, gpu.uuid = %id.uuid, "GPU vanished; its metrics stop");
    gone.push(id.clone());
}

/// Reads one device into `out`; `Err` when the device is gone (its partial readings are removed).
fn sample_device(slot: &mut Slot, out: &mut Vec<Reading>) -> Result<(), ()> {
    let start = out.len();
    let id = slot.dev.id().clone();
    let base = vec![
        ("hw.id", id.uuid.clone()),
        ("hw.name", id.name.clone()),
        ("hw.vendor", "NVIDIA".to_owned()),
        ("gpu.index", id.index.to_string()),
    ];
    let push = |out: &mut Vec<Reading>, metric, value, extra: &[(&'static str, String)]| {
        let mut attributes = base.clone();
        attributes.extend_from_slice(extra);
        out.push(Reading {
            metric,
            value,
            attributes,
        });
    };
    let mut gone = false;
    let skip = |slot_unsupported: &mut bool, what: &str, e: ReadError, gone: &mut bool| match e {
        ReadError::NotSupported => {
            *slot_unsupported = true;
            tracing::debug!(
                gpu.index = id.index,
                what,
                "not supported by this GPU; skipped from now on"
            );
        }
        ReadError::Gone => *gone = true,
        ReadError::Other(msg) => {
            tracing::debug!(gpu.index = id.index, what, error = %msg, "GPU read failed")
        }
    };
    let (mut used, mut total) = (None, None);
    for f in FIELDS {
        if slot.unsupported.contains(&f.field) {
            continue;
        }
        match slot.dev.read(f.field) {
            Ok(v) => {
                match f.field {
                    Field::MemoryUsed => used = Some(v),
                    Field::MemoryTotal => total = Some(v),
                    _ => {}
                }
                let extra: Vec<(&'static str, String)> =
                    f.extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
                push(out, f.metric, v, &extra);
            }
            Err(e) => {
                let mut unsupported = false;
                skip(&mut unsupported, f.metric, e, &mut gone);
                if unsupported {
                    slot.unsupported.insert(f.field);
                }
            }
        }
        if gone {
            break;
        }
    }
    if let (Some(u), Some(t)) = (used, total)
        && t > 0.0
    {
        push(out, "hw.gpu.memory.utilization", u / t, &[]);
    }
    if !gone && !slot.throttle_unsupported {
        match slot.dev.throttle_reasons() {
            Ok(active) => {
                for reason in THROTTLE_REASONS {
                    let on = f64::from(u8::from(active.contains(reason)));
                    push(
                        out,
                        "hw.gpu.throttle",
                        on,
                        &[("hw.gpu.throttle_reason", (*reason).to_owned())],
                    );
                }
            }
            Err(e) => skip(
                &mut slot.throttle_unsupported,
                "throttle reasons",
                e,
                &mut gone,
            ),
        }
    }
    if !gone && !slot.processes_unsupported {
        match slot.dev.processes() {
            Ok(procs) => {
                for (pid, bytes) in procs {
                    push(
                        out,
                        "hw.gpu.process.memory.usage",
                        bytes as f64,
                        &[
                            ("process.pid", pid.to_string()),
                            ("process.executable.name", process_name(pid)),
                        ],
                    );
                }
            }
            Err(e) => skip(&mut slot.processes_unsupported, "processes", e, &mut gone),
        }
    }
    if gone {
        out.truncate(start);
        return Err(());
    }
    Ok(())
}

/// The executable name of `pid` (`/proc/PID/comm` on Linux), or `unknown`.
fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
