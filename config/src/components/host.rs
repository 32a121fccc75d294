//! Settings of the `host` receiver: the machine's CPU, memory, load, filesystems, disks and network interfaces.

use crate::decode::{Check, Ctx, child};
use crate::types::Duration;
use crate::{config_enum, config_struct};

config_enum! {
    /// Which names the `host` receiver's metrics carry.
    pub enum HostMetricNames {
        /// The OpenTelemetry `system.*` names of the Collector's hostmetrics receiver.
        Otel = "otel",
        /// Node Exporter's names, units, types and label values (`node_cpu_seconds_total{cpu="0",mode="idle"}`,
        /// `node_memory_MemAvailable_bytes`…), for a `prometheus` exporter with `add_metric_suffixes: false`.
        NodeExporter = "node_exporter",
    }
}

config_struct! {
    /// Receiver `host`: CPU time per CPU and mode, memory, load averages, filesystems, disk I/O and network I/O
    /// and errors of this machine, read from `/proc` and `statfs`. Linux only: elsewhere it warns once and sends
    /// nothing.
    pub struct HostReceiverConfig {
        /// How often to read (and to send the metrics on).
        interval: Duration = Duration::from_secs(15),
        /// `otel` (the `system.*` names) or `node_exporter` (Node Exporter's `node_*` names and label values).
        names: HostMetricNames = HostMetricNames::Otel,
    }
}

impl Check for HostReceiverConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.interval.get().is_zero() {
            ctx.error(
                &child(path, "interval"),
                "0s: expected a duration above zero",
            );
        }
    }
}
