//! Receiver `gpu`: GPU metrics from NVML, per device, every `interval`.
//!
//! The device layer is a trait ([`Backend`], [`Device`]) with the NVML implementation in [`nvml`] (the library is
//! loaded at run time, so nothing NVIDIA is needed to build) and a fake in the tests. A [`Sampler`] reads every
//! field of every device into a snapshot; a field a device does not support is skipped for that device from then
//! on (one debug line), a device that vanishes is dropped (one warning). Observable instruments of an SDK meter
//! read the snapshot into the receiver's metrics pipelines. Without NVML (no GPU, no driver) the receiver warns
//! once and idles: llmtel runs on.

pub mod nvml;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use llmtel_config::GpuReceiverConfig;
use llmtel_pipelines::{BoxFuture, Output, Receiver, StartError};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use tokio_util::sync::CancellationToken;

/// A value a device may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// GPU utilisation, 0–1.
    Utilization,
    /// Memory-controller utilisation, 0–1.
    MemoryControllerUtilization,
    /// Memory used, bytes.
    MemoryUsed,
    /// Memory free, bytes.
    MemoryFree,
    /// Memory in all, bytes.
    MemoryTotal,
    /// Temperature, °C.
    Temperature,
    /// Power draw, W.
    PowerDraw,
    /// Enforced power limit, W.
    PowerLimit,
    /// Energy since the driver loaded, J.
    Energy,
    /// SM clock, Hz.
    SmClock,
    /// Memory clock, Hz.
    MemoryClock,
    /// Fan speed, 0–1 of the maximum.
    FanSpeed,
    /// PCIe bytes sent per second.
    PcieTransmit,
    /// PCIe bytes received per second.
    PcieReceive,
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The device does not have this (skipped from now on).
    NotSupported,
    /// The device is gone (fell off the bus, was reset).
    Gone,
    /// Anything else (tried again next time).
    Other(String),
}

/// What identifies a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId {
    /// NVML index.
    pub index: u32,
    /// UUID, e.g. `GPU-5e4c…`.
    pub uuid: String,
    /// Product name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
}

/// One GPU.
pub trait Device: Send {
    /// Its identity.
    fn id(&self) -> &DeviceId;
    /// Reads one field, in the unit [`Field`] documents.
    fn read(&mut self, field: Field) -> Result<f64, ReadError>;
    /// The clock-throttle reasons that are active now.
    fn throttle_reasons(&mut self) -> Result<Vec<&'static str>, ReadError>;
    /// Processes using the GPU: (pid, bytes of GPU memory).
    fn processes(&mut self) -> Result<Vec<(u32, u64)>, ReadError>;
}

/// The GPUs of this machine.
pub trait Backend: Send {
    /// Every device.
    fn devices(&mut self) -> Result<Vec<Box<dyn Device>>, String>;
}

/// Opens a backend; `Err` says why there are no GPU metrics.
pub type OpenBackend = Box<dyn FnOnce() -> Result<Box<dyn Backend>, String> + Send>;

/// Every throttle reason llmtel reports (0 or 1 each), so that a reason turning on is a change, not a new series.
pub const THROTTLE_REASONS: &[&str] = &[
    "gpu_idle",
    "applications_clocks_setting",
    "sw_power_cap",
    "hw_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "display_clock_setting",
];

/// How a field is exported.
struct FieldMetric {
    field: Field,
    metric: &'static str,
    extra: Option<(&'static str, &'static str)>,
}

const FIELDS: &[FieldMetric] = &[
    FieldMetric {
        field: Field::Utilization,
        metric: "hw.gpu.utilization",
        extra: Some(("hw.gpu.task", "general")),
    },
    FieldMetric {
        field: Field::MemoryControllerUtilization,
        metric: "hw.gpu.memory_controller.utilization",
        extra: None,
    },
    FieldMetric {
        field: Field::MemoryUsed,
        metric: "hw.gpu.memory.usage",
        extra: None,
    },
    FieldMetric {
        field: Field::MemoryFree,
        metric: "hw.gpu.memory.free",
        extra: None,
    },
    FieldMetric {
        field: Field::MemoryTotal,
        metric: "hw.gpu.memory.limit",
        extra: None,
    },
    FieldMetric {
        field: Field::Temperature,
        metric: "hw.gpu.temperature",
        extra: None,
    },
    FieldMetric {
        field: Field::PowerDraw,
        metric: "hw.gpu.power.draw",
        extra: None,
    },
    FieldMetric {
        field: Field::PowerLimit,
        metric: "hw.gpu.power.limit",
        extra: None,
    },
    FieldMetric {
        field: Field::Energy,
        metric: "hw.gpu.energy.consumed",
        extra: None,
    },
    FieldMetric {
        field: Field::SmClock,
        metric: "hw.gpu.clock.sm",
        extra: None,
    },
    FieldMetric {
        field: Field::MemoryClock,
        metric: "hw.gpu.clock.memory",
        extra: None,
    },
    FieldMetric {
        field: Field::FanSpeed,
        metric: "hw.gpu.fan_speed",
        extra: None,
    },
    FieldMetric {
        field: Field::PcieTransmit,
        metric: "hw.gpu.pcie.throughput",
        extra: Some(("network.io.direction", "transmit")),
    },
    FieldMetric {
        field: Field::PcieReceive,
        metric: "hw.gpu.pcie.throughput",
        extra: Some(("network.io.direction", "receive")),
    },
];

/// Every metric the receiver exports: (name, unit, description, is a counter).
pub const METRICS: &[(&str, &str, &str, bool)] = &[
    (
        "hw.gpu.utilization",
        "1",
        "Fraction of time the GPU was busy",
        false,
    ),
    (
        "hw.gpu.memory_controller.utilization",
        "1",
        "Fraction of time the memory controller was busy",
        false,
    ),
    ("hw.gpu.memory.usage", "By", "GPU memory used", false),
    ("hw.gpu.memory.free", "By", "GPU memory free", false),
    ("hw.gpu.memory.limit", "By", "GPU memory in all", false),
    (
        "hw.gpu.memory.utilization",
        "1",
        "Fraction of GPU memory used",
        false,
    ),
    ("hw.gpu.temperature", "Cel", "GPU temperature", false),
    ("hw.gpu.power.draw", "W", "Power the GPU draws", false),
    (
        "hw.gpu.power.limit",
        "W",
        "Power limit enforced on the GPU",
        false,
    ),
    (
        "hw.gpu.energy.consumed",
        "J",
        "Energy the GPU consumed since the driver loaded",
        true,
    ),
    ("hw.gpu.clock.sm", "Hz", "SM clock", false),
    ("hw.gpu.clock.memory", "Hz", "Memory clock", false),
    (
        "hw.gpu.fan_speed",
        "1",
        "Fan speed, fraction of the maximum",
        false,
    ),
    ("hw.gpu.pcie.throughput", "By/s", "PCIe throughput", false),
    (
        "hw.gpu.throttle",
        "1",
        "1 while the clocks are held back for this reason",
        false,
    ),
    (
        "hw.gpu.process.memory.usage",
        "By",
        "GPU memory used by a process",
        false,
    ),
];

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
        }
    }

    /// Devices still sampled.
    pub fn devices(&self) -> usize {
        self.slots.len()
    }

    /// Reads everything once.
    pub fn sample(&mut self) -> Vec<Reading> {
        let mut out = Vec::new();
        self.slots.retain_mut(|slot| match sample_device(slot, &mut out) {
            Ok(()) => true,
            Err(()) => {
                let id = slot.dev.id();
                tracing::warn!(gpu.index = id.index, gpu.uuid = %id.uuid, "GPU vanished; its metrics stop");
                false
            }
        });
        out
    }
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

/// The `gpu` receiver.
pub struct GpuReceiver {
    id: String,
    cfg: GpuReceiverConfig,
    resource: Resource,
    open: OpenBackend,
}

impl std::fmt::Debug for GpuReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuReceiver")
            .field("id", &self.id)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl GpuReceiver {
    /// A receiver reading the devices `open` gives (NVML: [`nvml::open`]).
    pub fn new(id: &str, cfg: &GpuReceiverConfig, resource: Resource, open: OpenBackend) -> Self {
        Self {
            id: id.to_owned(),
            cfg: cfg.clone(),
            resource,
            open,
        }
    }
}

impl Receiver for GpuReceiver {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        Box::pin(async move {
            let Self {
                id,
                cfg,
                resource,
                open,
            } = *self;
            // Loading the library and enumerating devices may block for a moment.
            let opened = tokio::task::spawn_blocking(move || open().and_then(|mut b| b.devices()))
                .await
                .unwrap_or_else(|e| Err(format!("opening NVML panicked: {e}")));
            let devices = match opened {
                Ok(d) if !d.is_empty() => d,
                Ok(_) => {
                    tracing::warn!(receiver = %id, "NVML not available: no GPU found; GPU metrics disabled");
                    return Ok(idle(output, shutdown));
                }
                Err(why) => {
                    tracing::warn!(receiver = %id, "NVML not available: {why}; GPU metrics disabled");
                    return Ok(idle(output, shutdown));
                }
            };
            let names: Vec<String> = devices
                .iter()
                .map(|d| format!("{} ({})", d.id().name, d.id().index))
                .collect();
            tracing::info!(receiver = %id, gpus = %names.join(", "), "gpu receiver sampling");
            let snapshot: Arc<Mutex<Vec<Reading>>> = Arc::default();
            let provider = crate::sdk::meter_provider(&output, resource, cfg.interval.get());
            register(&provider, &snapshot);
            let interval = cfg.interval.get();
            let serve: BoxFuture<'static, ()> = Box::pin(async move {
                let mut sampler = Some(Sampler::new(devices));
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = shutdown.cancelled() => break,
                    }
                    let Some(mut s) = sampler.take() else { break };
                    // NVML calls block; they run off the async workers.
                    let Ok((s, readings)) = tokio::task::spawn_blocking(move || {
                        let r = s.sample();
                        (s, r)
                    })
                    .await
                    else {
                        break;
                    };
                    *snapshot.lock().unwrap_or_else(|p| p.into_inner()) = readings;
                    sampler = Some(s);
                }
                let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
                drop(output);
            });
            Ok(serve)
        })
    }
}

/// The receiver without GPUs: nothing to send; ends at shutdown.
fn idle(output: Output, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        shutdown.cancelled().await;
        drop(output);
    })
}

/// One observable instrument per metric, each reading its values from `snapshot`.
fn register(
    provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
    snapshot: &Arc<Mutex<Vec<Reading>>>,
) {
    let meter = provider.meter("llmtel.gpu");
    for &(name, unit, description, counter) in METRICS {
        let snap = snapshot.clone();
        let observe = move |emit: &mut dyn FnMut(f64, &[KeyValue])| {
            for r in snap
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|r| r.metric == name)
            {
                let attrs: Vec<KeyValue> = r
                    .attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(*k, v.clone()))
                    .collect();
                emit(r.value, &attrs);
            }
        };
        if counter {
            meter
                .f64_observable_counter(name)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |o| observe(&mut |v, a| o.observe(v, a)))
                .build();
        } else {
            meter
                .f64_observable_gauge(name)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |o| observe(&mut |v, a| o.observe(v, a)))
                .build();
        }
    }
}

#[cfg(test)]
mod tests;
