//! The device layer of the `gpu` receiver: what a GPU can report ([`Field`]), how a read fails ([`ReadError`]),
//! and the traits the NVML backend (`nvml.rs`) and the tests' fakes implement.

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
