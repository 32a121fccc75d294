//! What the `host` receiver exports from a [`Snapshot`]: the OpenTelemetry `system.*` metrics of the Collector's
//! hostmetrics receiver ([`otel`]), or Node Exporter's `node_*` metrics with its units, types and label values
//! ([`node_exporter`]). Every fixed family is listed even when its source could not be read, so the instruments
//! are the same from the first read on.

use super::read::{CPU_MODES, Snapshot};

/// How a family is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic cumulative sum.
    Counter,
    /// Gauge.
    Gauge,
    /// Non-monotonic cumulative sum.
    UpDown,
}

/// One exported metric and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub unit: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub points: Vec<(f64, Vec<(&'static str, String)>)>,
}

fn family(name: &str, unit: &'static str, kind: Kind, description: &'static str) -> Family {
    Family {
        name: name.to_owned(),
        unit,
        description,
        kind,
        points: Vec::new(),
    }
}

/// hostmetrics' `state` names of the CPU modes, in [`CPU_MODES`] order.
const OTEL_CPU_STATES: [&str; 8] = [
    "user",
    "nice",
    "system",
    "idle",
    "wait",
    "interrupt",
    "softirq",
    "steal",
];

/// The `system.*` metrics.
pub fn otel(s: &Snapshot) -> Vec<Family> {
    use Kind::*;
    let mut cpu = family(
        "system.cpu.time",
        "s",
        Counter,
        "Seconds each logical CPU spent in each mode",
    );
    for c in &s.cpus {
        for (state, v) in OTEL_CPU_STATES.iter().zip(c.seconds) {
            cpu.points.push((
                v,
                vec![
                    ("cpu", format!("cpu{}", c.cpu)),
                    ("state", (*state).to_owned()),
                ],
            ));
        }
    }
    let mut out = vec![cpu];
    for (i, window) in ["1m", "5m", "15m"].iter().enumerate() {
        let mut f = family(
            &format!("system.cpu.load_average.{window}"),
            "{thread}",
            Gauge,
            "Average number of runnable and uninterruptible threads",
        );
        if let Some(l) = s.load {
            f.points.push((l[i], Vec::new()));
        }
        out.push(f);
    }
    let mut usage = family(
        "system.memory.usage",
        "By",
        UpDown,
        "Bytes of memory in use, by state (used + free + buffered + cached + slab_reclaimable = total)",
    );
    let mut limit = family(
        "system.memory.limit",
        "By",
        UpDown,
        "Total memory (MemTotal)",
    );
    let mut available = family(
        "system.linux.memory.available",
        "By",
        UpDown,
        "Memory available for starting new programs without swapping (MemAvailable)",
    );
    if let (Some(total), Some(free)) = (s.mem("MemTotal"), s.mem("MemFree")) {
        let get = |k| s.mem(k).unwrap_or(0.0);
        let (buffers, cached, reclaimable) = (get("Buffers"), get("Cached"), get("SReclaimable"));
        let used = (total - free - buffers - cached - reclaimable).max(0.0);
        for (state, v) in [
            ("used", used),
            ("free", free),
            ("buffered", buffers),
            ("cached", cached),
            ("slab_reclaimable", reclaimable),
            ("slab_unreclaimable", get("SUnreclaim")),
        ] {
            usage.points.push((v, vec![("state", state.to_owned())]));
        }
        limit.points.push((total, Vec::new()));
    }
    if let Some(a) = s.mem("MemAvailable") {
        available.points.push((a, Vec::new()));
    }
    out.extend([usage, limit, available]);

    let mut fs_usage = family(
        "system.filesystem.usage",
        "By",
        UpDown,
        "Filesystem space, by state (reserved: free to root only)",
    );
    let mut fs_inodes = family(
        "system.filesystem.inodes.usage",
        "{inode}",
        UpDown,
        "Filesystem inodes, by state",
    );
    for f in &s.filesystems {
        let attrs = |state: &str| {
            vec![
                ("device", f.device.clone()),
                ("mode", if f.readonly { "ro" } else { "rw" }.to_owned()),
                ("mountpoint", f.mountpoint.clone()),
                ("type", f.fstype.clone()),
                ("state", state.to_owned()),
            ]
        };
        fs_usage
            .points
            .push(((f.size - f.free).max(0.0), attrs("used")));
        fs_usage.points.push((f.avail, attrs("free")));
        fs_usage
            .points
            .push(((f.free - f.avail).max(0.0), attrs("reserved")));
        fs_inodes
            .points
            .push(((f.files - f.files_free).max(0.0), attrs("used")));
        fs_inodes.points.push((f.files_free, attrs("free")));
    }
    out.extend([fs_usage, fs_inodes]);

    let mut io = family(
        "system.disk.io",
        "By",
        Counter,
        "Disk bytes read and written",
    );
    let mut ops = family(
        "system.disk.operations",
        "{operation}",
        Counter,
        "Disk reads and writes completed",
    );
    let mut op_time = family(
        "system.disk.operation_time",
        "s",
        Counter,
        "Time spent in disk reads and writes",
    );
    let mut merged = family(
        "system.disk.merged",
        "{operation}",
        Counter,
        "Disk reads and writes merged into others",
    );
    let mut io_time = family(
        "system.disk.io_time",
        "s",
        Counter,
        "Time the disk had I/O in progress",
    );
    for d in &s.disks {
        let dir = |direction: &str| {
            vec![
                ("device", d.device.clone()),
                ("direction", direction.to_owned()),
            ]
        };
        io.points.push((d.read_bytes, dir("read")));
        io.points.push((d.written_bytes, dir("write")));
        ops.points.push((d.reads, dir("read")));
        ops.points.push((d.writes, dir("write")));
        op_time.points.push((d.read_seconds, dir("read")));
        op_time.points.push((d.write_seconds, dir("write")));
        merged.points.push((d.reads_merged, dir("read")));
        merged.points.push((d.writes_merged, dir("write")));
        io_time
            .points
            .push((d.io_seconds, vec![("device", d.device.clone())]));
    }
    out.extend([io, ops, op_time, merged, io_time]);

    let mut net = [
        family(
            "system.network.io",
            "By",
            Counter,
            "Bytes received and sent",
        ),
        family(
            "system.network.packets",
            "{packet}",
            Counter,
            "Packets received and sent",
        ),
        family(
            "system.network.errors",
            "{error}",
            Counter,
            "Receive and transmit errors",
        ),
        family(
            "system.network.dropped",
            "{packet}",
            Counter,
            "Packets dropped on receive and transmit",
        ),
    ];
    for i in &s.interfaces {
        for (k, f) in net.iter_mut().enumerate() {
            for (direction, values) in [("receive", &i.receive), ("transmit", &i.transmit)] {
                f.points.push((
                    values[k],
                    vec![
                        ("device", i.device.clone()),
                        ("direction", direction.to_owned()),
                    ],
                ));
            }
        }
    }
    out.extend(net);
    out
}

/// Node Exporter's metrics, as `node_exporter` 1.x on Linux names them.
pub fn node_exporter(s: &Snapshot) -> Vec<Family> {
    use Kind::*;
    let mut cpu = family(
        "node_cpu_seconds_total",
        "s",
        Counter,
        "Seconds the CPUs spent in each mode.",
    );
    for c in &s.cpus {
        for (mode, v) in CPU_MODES.iter().zip(c.seconds) {
            cpu.points.push((
                v,
                vec![("cpu", c.cpu.to_string()), ("mode", (*mode).to_owned())],
            ));
        }
    }
    let mut out = vec![cpu];
    for (i, name) in ["node_load1", "node_load5", "node_load15"]
        .iter()
        .enumerate()
    {
        let mut f = family(name, "", Gauge, "Load average.");
        if let Some(l) = s.load {
            f.points.push((l[i], Vec::new()));
        }
        out.push(f);
    }
    for m in &s.memory {
        let (name, unit) = if m.bytes {
            (format!("node_memory_{}_bytes", m.key), "By")
        } else {
            (format!("node_memory_{}", m.key), "")
        };
        let mut f = family(
            &name,
            unit,
            Gauge,
            "Memory information field from /proc/meminfo.",
        );
        f.points.push((m.value, Vec::new()));
        out.push(f);
    }

    type FsField = fn(&super::read::Filesystem) -> f64;
    let fs_fields: [(&str, &'static str, &'static str, FsField); 6] = [
        (
            "node_filesystem_size_bytes",
            "By",
            "Filesystem size in bytes.",
            |f| f.size,
        ),
        (
            "node_filesystem_free_bytes",
            "By",
            "Filesystem free space in bytes.",
            |f| f.free,
        ),
        (
            "node_filesystem_avail_bytes",
            "By",
            "Filesystem space available to non-root users in bytes.",
            |f| f.avail,
        ),
        (
            "node_filesystem_files",
            "",
            "Filesystem total file nodes.",
            |f| f.files,
        ),
        (
            "node_filesystem_files_free",
            "",
            "Filesystem total free file nodes.",
            |f| f.files_free,
        ),
        (
            "node_filesystem_readonly",
            "",
            "Filesystem read-only status.",
            |f| f64::from(u8::from(f.readonly)),
        ),
    ];
    for (name, unit, description, get) in fs_fields {
        let mut fam = family(name, unit, Gauge, description);
        for f in &s.filesystems {
            fam.points.push((
                get(f),
                vec![
                    ("device", f.device.clone()),
                    ("fstype", f.fstype.clone()),
                    ("mountpoint", f.mountpoint.clone()),
                ],
            ));
        }
        out.push(fam);
    }

    type DiskField = fn(&super::read::Disk) -> f64;
    let disk_fields: [(&str, &'static str, &'static str, DiskField); 9] = [
        (
            "node_disk_reads_completed_total",
            "",
            "The total number of reads completed successfully.",
            |d| d.reads,
        ),
        (
            "node_disk_writes_completed_total",
            "",
            "The total number of writes completed successfully.",
            |d| d.writes,
        ),
        (
            "node_disk_read_bytes_total",
            "By",
            "The total number of bytes read successfully.",
            |d| d.read_bytes,
        ),
        (
            "node_disk_written_bytes_total",
            "By",
            "The total number of bytes written successfully.",
            |d| d.written_bytes,
        ),
        (
            "node_disk_read_time_seconds_total",
            "s",
            "The total number of seconds spent by all reads.",
            |d| d.read_seconds,
        ),
        (
            "node_disk_write_time_seconds_total",
            "s",
            "This is the total number of seconds spent by all writes.",
            |d| d.write_seconds,
        ),
        (
            "node_disk_io_time_seconds_total",
            "s",
            "Total seconds spent doing I/Os.",
            |d| d.io_seconds,
        ),
        (
            "node_disk_reads_merged_total",
            "",
            "The total number of reads merged.",
            |d| d.reads_merged,
        ),
        (
            "node_disk_writes_merged_total",
            "",
            "The number of writes merged.",
            |d| d.writes_merged,
        ),
    ];
    for (name, unit, description, get) in disk_fields {
        let mut fam = family(name, unit, Counter, description);
        for d in &s.disks {
            fam.points
                .push((get(d), vec![("device", d.device.clone())]));
        }
        out.push(fam);
    }

    for (dir, pick) in [("receive", 0usize), ("transmit", 1)] {
        for (k, what) in ["bytes", "packets", "errs", "drop"].iter().enumerate() {
            let mut fam = family(
                &format!("node_network_{dir}_{what}_total"),
                if k == 0 { "By" } else { "" },
                Counter,
                "Network device statistic from /proc/net/dev.",
            );
            for i in &s.interfaces {
                let values = if pick == 0 { &i.receive } else { &i.transmit };
                fam.points
                    .push((values[k], vec![("device", i.device.clone())]));
            }
            out.push(fam);
        }
    }
    out
}
