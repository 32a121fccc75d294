//! The NVML backend: `libnvidia-ml.so` loaded at run time through `nvml-wrapper`.

use std::sync::Arc;

use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{Clock, PcieUtilCounter, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;

use super::{Backend, Device, DeviceId, Field, ReadError};

/// Loads NVML; `Err` says why not (no driver, no library).
pub fn open() -> Result<Box<dyn Backend>, String> {
    let nvml = Nvml::init().map_err(|e| e.to_string())?;
    Ok(Box::new(NvmlBackend {
        nvml: Arc::new(nvml),
    }))
}

struct NvmlBackend {
    nvml: Arc<Nvml>,
}

impl Backend for NvmlBackend {
    fn devices(&mut self) -> Result<Vec<Box<dyn Device>>, String> {
        let n = self
            .nvml
            .device_count()
            .map_err(|e| format!("count GPUs: {e}"))?;
        let mut out: Vec<Box<dyn Device>> = Vec::new();
        for index in 0..n {
            let dev = match self.nvml.device_by_index(index) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(gpu.index = index, error = %e, "GPU cannot be opened; skipped");
                    continue;
                }
            };
            let id = DeviceId {
                index,
                uuid: dev.uuid().unwrap_or_else(|_| format!("gpu-{index}")),
                name: dev.name().unwrap_or_else(|_| "unknown".to_owned()),
            };
            out.push(Box::new(NvmlDevice {
                nvml: self.nvml.clone(),
                id,
            }));
        }
        Ok(out)
    }
}

struct NvmlDevice {
    nvml: Arc<Nvml>,
    id: DeviceId,
}

fn err(e: NvmlError) -> ReadError {
    match e {
        NvmlError::NotSupported | NvmlError::FunctionNotFound => ReadError::NotSupported,
        NvmlError::GpuLost | NvmlError::NotFound => ReadError::Gone,
        other => ReadError::Other(other.to_string()),
    }
}

impl NvmlDevice {
    fn with<T>(
        &self,
        f: impl FnOnce(&nvml_wrapper::Device<'_>) -> Result<T, NvmlError>,
    ) -> Result<T, ReadError> {
        // Looked up each time (a cheap handle lookup), so that no device borrows the library across samples.
        let dev = self.nvml.device_by_index(self.id.index).map_err(err)?;
        f(&dev).map_err(err)
    }
}

impl Device for NvmlDevice {
    fn id(&self) -> &DeviceId {
        &self.id
    }

    fn read(&mut self, field: Field) -> Result<f64, ReadError> {
        match field {
            Field::Utilization => self
                .with(|d| d.utilization_rates())
                .map(|u| f64::from(u.gpu) / 100.0),
            Field::MemoryControllerUtilization => self
                .with(|d| d.utilization_rates())
                .map(|u| f64::from(u.memory) / 100.0),
            Field::MemoryUsed => self.with(|d| d.memory_info()).map(|m| m.used as f64),
            Field::MemoryFree => self.with(|d| d.memory_info()).map(|m| m.free as f64),
            Field::MemoryTotal => self.with(|d| d.memory_info()).map(|m| m.total as f64),
            Field::Temperature => self
                .with(|d| d.temperature(TemperatureSensor::Gpu))
                .map(f64::from),
            // Milliwatts and millijoules.
            Field::PowerDraw => self
                .with(|d| d.power_usage())
                .map(|mw| f64::from(mw) / 1000.0),
            Field::PowerLimit => self
                .with(|d| d.enforced_power_limit())
                .map(|mw| f64::from(mw) / 1000.0),
            Field::Energy => self
                .with(|d| d.total_energy_consumption())
                .map(|mj| mj as f64 / 1000.0),
            // MHz.
            Field::SmClock => self
                .with(|d| d.clock_info(Clock::SM))
                .map(|mhz| f64::from(mhz) * 1e6),
            Field::MemoryClock => self
                .with(|d| d.clock_info(Clock::Memory))
                .map(|mhz| f64::from(mhz) * 1e6),
            Field::FanSpeed => self
                .with(|d| d.fan_speed(0))
                .map(|pct| f64::from(pct) / 100.0),
            // KB/s.
            Field::PcieTransmit => self
                .with(|d| d.pcie_throughput(PcieUtilCounter::Send))
                .map(|kb| f64::from(kb) * 1024.0),
            Field::PcieReceive => self
                .with(|d| d.pcie_throughput(PcieUtilCounter::Receive))
                .map(|kb| f64::from(kb) * 1024.0),
        }
    }

    fn throttle_reasons(&mut self) -> Result<Vec<&'static str>, ReadError> {
        let r = self.with(|d| d.current_throttle_reasons())?;
        let named = [
            (ThrottleReasons::GPU_IDLE, "gpu_idle"),
            (
                ThrottleReasons::APPLICATIONS_CLOCKS_SETTING,
                "applications_clocks_setting",
            ),
            (ThrottleReasons::SW_POWER_CAP, "sw_power_cap"),
            (ThrottleReasons::HW_SLOWDOWN, "hw_slowdown"),
            (ThrottleReasons::SYNC_BOOST, "sync_boost"),
            (ThrottleReasons::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
            (ThrottleReasons::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
            (
                ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN,
                "hw_power_brake_slowdown",
            ),
            (
                ThrottleReasons::DISPLAY_CLOCK_SETTING,
                "display_clock_setting",
            ),
        ];
        Ok(named
            .into_iter()
            .filter(|(bit, _)| r.contains(*bit))
            .map(|(_, n)| n)
            .collect())
    }

    fn processes(&mut self) -> Result<Vec<(u32, u64)>, ReadError> {
        let mut procs = self.with(|d| d.running_compute_processes())?;
        procs.extend(
            self.with(|d| d.running_graphics_processes())
                .unwrap_or_default(),
        );
        let mut out: Vec<(u32, u64)> = Vec::new();
        for p in procs {
            let bytes = match p.used_gpu_memory {
                UsedGpuMemory::Used(b) => b,
                UsedGpuMemory::Unavailable => continue,
            };
            // A process can be both compute and graphics: count it once.
            if !out.iter().any(|(pid, _)| *pid == p.pid) {
                out.push((p.pid, bytes));
            }
        }
        Ok(out)
    }
}
