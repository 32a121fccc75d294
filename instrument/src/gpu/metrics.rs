//! What the `gpu` receiver exports: each field's metric, every metric's name, unit and kind, and the throttle
//! reasons it reports.

use super::device::Field;

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
pub(super) struct FieldMetric {
    pub(super) field: Field,
    pub(super) metric: &'static str,
    pub(super) extra: Option<(&'static str, &'static str)>,
}

pub(super) const FIELDS: &[FieldMetric] = &[
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
