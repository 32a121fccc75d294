//! A GPU for tests on machines without one: an NVML-shaped backend with one steady H100-like device, and a
//! factory that gives llmtel's `gpu` receivers that backend instead of NVML. Everything else is llmtel's own.

use llmtel_collector::{CollectorFactory, Listeners};
use llmtel_config::{ComponentId, ExporterConfig, ReceiverConfig};
use llmtel_instrument::gpu::{Backend, Device, DeviceId, Field, GpuReceiver, ReadError};
use llmtel_pipelines::graph::{BuildError, Factory};
use llmtel_pipelines::{Exporter, Receiver};

/// One GPU at 42% utilisation, 60 of 80 GB used, 312.5 W, 61 °C.
#[derive(Debug)]
pub struct SteadyGpu {
    id: DeviceId,
}

impl Device for SteadyGpu {
    fn id(&self) -> &DeviceId {
        &self.id
    }
    fn read(&mut self, field: Field) -> Result<f64, ReadError> {
        Ok(match field {
            Field::Utilization => 0.42,
            Field::MemoryControllerUtilization => 0.17,
            Field::MemoryUsed => 60e9,
            Field::MemoryFree => 20e9,
            Field::MemoryTotal => 80e9,
            Field::Temperature => 61.0,
            Field::PowerDraw => 312.5,
            Field::PowerLimit => 700.0,
            Field::Energy => 123_456.0,
            Field::SmClock => 1.98e9,
            Field::MemoryClock => 2.6e9,
            Field::FanSpeed | Field::PcieTransmit | Field::PcieReceive => {
                return Err(ReadError::NotSupported);
            }
        })
    }
    fn throttle_reasons(&mut self) -> Result<Vec<&'static str>, ReadError> {
        Ok(Vec::new())
    }
    fn processes(&mut self) -> Result<Vec<(u32, u64)>, ReadError> {
        Ok(Vec::new())
    }
}

/// A backend with one [`SteadyGpu`], index 0, UUID `GPU-test-0`.
#[derive(Debug)]
pub struct SteadyBackend;

impl Backend for SteadyBackend {
    fn devices(&mut self) -> Result<Vec<Box<dyn Device>>, String> {
        Ok(vec![Box::new(SteadyGpu {
            id: DeviceId {
                index: 0,
                uuid: "GPU-test-0".into(),
                name: "NVIDIA H100 80GB HBM3".into(),
            },
        })])
    }
}

/// llmtel's real factory, except that `gpu` receivers read a [`SteadyBackend`].
#[derive(Debug, Clone)]
pub struct SteadyGpuFactory {
    inner: CollectorFactory,
}

impl SteadyGpuFactory {
    /// A factory recording bound addresses in `listeners`.
    pub fn new(listeners: Listeners) -> Self {
        Self {
            inner: CollectorFactory::new(listeners),
        }
    }
}

impl Factory for SteadyGpuFactory {
    fn receiver(
        &self,
        id: &ComponentId,
        cfg: &ReceiverConfig,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        match cfg {
            ReceiverConfig::Gpu(c) => Ok(Box::new(GpuReceiver::new(
                id.as_str(),
                c,
                opentelemetry_sdk::Resource::builder().build(),
                Box::new(|| Ok(Box::new(SteadyBackend) as Box<dyn Backend>)),
            ))),
            other => self.inner.receiver(id, other),
        }
    }
    fn exporter(
        &self,
        id: &ComponentId,
        cfg: &ExporterConfig,
    ) -> Result<Box<dyn Exporter>, BuildError> {
        self.inner.exporter(id, cfg)
    }
}
