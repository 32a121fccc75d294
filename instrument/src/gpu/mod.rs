//! Receiver `gpu`: GPU metrics from NVML, per device, every `interval`.
//!
//! The device layer is a trait ([`Backend`], [`Device`]) with the NVML implementation in [`nvml`] (the library is
//! loaded at run time, so nothing NVIDIA is needed to build) and a fake in the tests. A [`Sampler`] reads every
//! field of every device into a snapshot; a field a device does not support is skipped for that device from then
//! on (one debug line), a device that vanishes is dropped (one warning). Observable instruments of an SDK meter
//! read the snapshot into the receiver's metrics pipelines. Without NVML (no GPU, no driver) the receiver warns
//! once and idles: llmtel runs on.

mod device;
mod metrics;
pub mod nvml;
mod sampler;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmtel_config::GpuReceiverConfig;
use llmtel_pipelines::{BoxFuture, Output, Receiver, StartError};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use tokio_util::sync::CancellationToken;

pub use self::device::{Backend, Device, DeviceId, Field, OpenBackend, ReadError};
pub use self::metrics::{METRICS, THROTTLE_REASONS};
pub use self::sampler::{Reading, Sampler};
use crate::energy::{GpuKey, IDLE_ENERGY_METRIC, Ledger, PowerReading};

/// The `gpu` receiver.
pub struct GpuReceiver {
    id: String,
    cfg: GpuReceiverConfig,
    resource: Resource,
    open: OpenBackend,
    ledger: Option<Arc<Ledger>>,
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
            ledger: None,
        }
    }

    /// Also feeds `ledger` (each request's energy share, `crate::energy`), reading the energy counter and power
    /// every [`LEDGER_INTERVAL`] (or `interval`, if shorter), and exports its idle energy per GPU.
    pub fn with_ledger(mut self, ledger: Arc<Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }
}

/// How often the energy counter and power are read for the ledger when the receiver's `interval` is longer: a
/// request's share is exact over whole sample intervals, so they should be short next to a request. Two reads per
/// GPU, microseconds each on a real driver.
pub const LEDGER_INTERVAL: Duration = Duration::from_millis(500);

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
                ledger,
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
            if let Some(l) = &ledger {
                let uuids = devices.iter().map(|d| d.id().uuid.clone()).collect();
                register_idle(&provider, l.clone(), uuids);
            }
            let interval = cfg.interval.get();
            let serve: BoxFuture<'static, ()> = Box::pin(async move {
                let mut sampler = Some(Sampler::new(devices));
                // Each tick with a ledger reads power for it, the export tick too (evenly spaced samples).
                let feeding = ledger.is_some();
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut power_tick = tokio::time::interval(interval.min(LEDGER_INTERVAL));
                power_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    let full = tokio::select! {
                        _ = tick.tick() => true,
                        _ = power_tick.tick(), if ledger.is_some() => false,
                        () = shutdown.cancelled() => break,
                    };
                    let Some(mut s) = sampler.take() else { break };
                    // NVML calls block; they run off the async workers.
                    let Ok((mut s, readings, power)) = tokio::task::spawn_blocking(move || {
                        let power = if feeding {
                            s.sample_power()
                        } else {
                            Vec::new()
                        };
                        let r = if full { Some(s.sample()) } else { None };
                        (s, r, power)
                    })
                    .await
                    else {
                        break;
                    };
                    let gone = s.take_gone();
                    if let Some(l) = &ledger {
                        feed(l, power, gone);
                    }
                    if let Some(readings) = readings {
                        *snapshot.lock().unwrap_or_else(|p| p.into_inner()) = readings;
                    }
                    sampler = Some(s);
                }
                let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
                drop(output);
            });
            Ok(serve)
        })
    }
}

/// Hands one round of power readings, and the GPUs that vanished, to the ledger.
fn feed(ledger: &Ledger, power: Vec<(DeviceId, Instant, PowerReading)>, gone: Vec<DeviceId>) {
    for (id, at, reading) in power {
        let key = GpuKey {
            index: id.index,
            uuid: id.uuid,
            name: id.name,
        };
        ledger.sample(&key, at, reading);
    }
    for id in gone {
        ledger.gone(&id.uuid);
    }
}

/// The idle-energy counter of this receiver's GPUs (`uuids`), read from the ledger.
fn register_idle(
    provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
    ledger: Arc<Ledger>,
    uuids: Vec<String>,
) {
    provider
        .meter("llmtel.gpu")
        .f64_observable_counter(IDLE_ENERGY_METRIC)
        .with_unit("J")
        .with_description(
            "GPU energy while no request was in flight on the GPU (not given to any request's llmtel.gpu.energy)",
        )
        .with_callback(move |o| {
            for (key, joules) in ledger.idle_energy() {
                if uuids.contains(&key.uuid) {
                    o.observe(
                        joules,
                        &[
                            KeyValue::new("hw.id", key.uuid),
                            KeyValue::new("hw.name", key.name),
                            KeyValue::new("hw.vendor", "NVIDIA"),
                            KeyValue::new("gpu.index", key.index.to_string()),
                        ],
                    );
                }
            }
        })
        .build();
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
