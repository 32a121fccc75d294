//! The `host` receiver's readers: `/proc/stat`, `/proc/meminfo`, `/proc/loadavg`, `/proc/1/mounts` + `statfs`,
//! `/proc/diskstats` and `/proc/net/dev` into one [`Snapshot`]. Loads, mounts, disks and interfaces are parsed by
//! `procfs-core`; the CPU lines (their CPU numbers kept) and meminfo (every key, as Node Exporter reports them) by
//! hand. Every parser takes text, so the tests feed fixtures. The series are bounded as Node Exporter bounds them:
//! pseudo filesystems, partitions and `loop` / `ram` devices, and `lo` are left out.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;

use procfs_core::FromRead;

/// CPU modes in `/proc/stat` order, by Node Exporter's `mode` names.
pub const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// One CPU's time per mode ([`CPU_MODES`]), in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpu {
    /// The CPU's number (`cpu3` → 3).
    pub cpu: u32,
    /// Seconds per mode, in [`CPU_MODES`] order.
    pub seconds: [f64; 8],
}

/// One `/proc/meminfo` line.
#[derive(Debug, Clone, PartialEq)]
pub struct MemEntry {
    /// The key as Node Exporter names it: `:` dropped, `Active(anon)` → `Active_anon`.
    pub key: String,
    /// Bytes when `bytes`, else the bare number (`HugePages_Total`).
    pub value: f64,
    /// Whether the line had a `kB` unit (the value is then kB × 1024).
    pub bytes: bool,
}

/// One mounted filesystem and its `statfs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    /// What is mounted (`/dev/sda1`).
    pub device: String,
    /// Where.
    pub mountpoint: String,
    /// Type (`ext4`).
    pub fstype: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// Size, free and available-to-users bytes.
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    /// Inodes in all and free.
    pub files: f64,
    pub files_free: f64,
}

/// The space numbers of one filesystem, as `statfs` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FsStat {
    pub block_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_avail: u64,
    pub files: u64,
    pub files_free: u64,
}

/// One disk's counters from `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    pub device: String,
    pub reads: f64,
    pub writes: f64,
    pub read_bytes: f64,
    pub written_bytes: f64,
    /// Seconds spent reading, writing, and with I/O in progress.
    pub read_seconds: f64,
    pub write_seconds: f64,
    pub io_seconds: f64,
    pub reads_merged: f64,
    pub writes_merged: f64,
}

/// One network interface's counters from `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub device: String,
    /// bytes, packets, errs, drop; received and transmitted.
    pub receive: [f64; 4],
    pub transmit: [f64; 4],
}

/// Everything one read gives. A part that could not be read is empty (its source is in `failed`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub cpus: Vec<Cpu>,
    pub memory: Vec<MemEntry>,
    pub load: Option<[f64; 3]>,
    pub filesystems: Vec<Filesystem>,
    pub disks: Vec<Disk>,
    pub interfaces: Vec<Interface>,
    /// The sources that failed this time, each with why.
    pub failed: Vec<(&'static str, String)>,
}

impl Snapshot {
    /// The meminfo value of `key` (bytes for kB lines).
    pub fn mem(&self, key: &str) -> Option<f64> {
        self.memory.iter().find(|m| m.key == key).map(|m| m.value)
    }
}

/// The `cpuN` lines of `/proc/stat`, ticks ÷ `ticks_per_second`.
pub fn parse_cpus(stat: &str, ticks_per_second: u64) -> Result<Vec<Cpu>, String> {
    let tps = ticks_per_second.max(1) as f64;
    let mut out = Vec::new();
    for line in stat.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(name) = fields.next() else { continue };
        let Some(n) = name.strip_prefix("cpu").filter(|n| !n.is_empty()) else {
            continue;
        };
        let cpu: u32 = n
            .parse()
            .map_err(|_| format!("/proc/stat: bad CPU name {name:?}"))?;
        let mut seconds = [0.0; 8];
        for (slot, field) in seconds.iter_mut().zip(fields) {
            let ticks: u64 = field
                .parse()
                .map_err(|_| format!("/proc/stat: bad number {field:?} for {name}"))?;
            *slot = ticks as f64 / tps;
        }
        out.push(Cpu { cpu, seconds });
    }
    if out.is_empty() {
        return Err("/proc/stat: no cpuN lines".to_owned());
    }
    Ok(out)
}

/// Every `/proc/meminfo` line, named as Node Exporter names it.
pub fn parse_meminfo(text: &str) -> Result<Vec<MemEntry>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(number) = parts.next() else { continue };
        let value: f64 = number
            .parse::<u64>()
            .map_err(|_| format!("/proc/meminfo: bad number {number:?} for {key}"))?
            as f64;
        let bytes = parts.next() == Some("kB");
        let key = key.trim().replace('(', "_").replace(')', "");
        out.push(MemEntry {
            key,
            value: if bytes { value * 1024.0 } else { value },
            bytes,
        });
    }
    if out.is_empty() {
        return Err("/proc/meminfo: no entries".to_owned());
    }
    Ok(out)
}

/// The three load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let l = procfs_core::LoadAverage::from_read(Cursor::new(text))
        .map_err(|e| format!("/proc/loadavg: {e}"))?;
    Ok([f64::from(l.one), f64::from(l.five), f64::from(l.fifteen)])
}

/// Filesystem types Node Exporter leaves out by default (pseudo and read-only image filesystems).
const EXCLUDED_FSTYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
];

/// Whether Node Exporter (1.5, as Debian ships it) leaves out a mount point by default: `/dev`, `/proc`, `/run`,
/// `/sys`, `/mnt`, `/media` and what is below them, and what is below `/var/lib/docker` and
/// `/var/lib/containers/storage` (its `^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`).
fn excluded_mountpoint(m: &str) -> bool {
    let under = |root: &str| m == root || m.starts_with(&format!("{root}/"));
    let strictly_under = |root: &str| m.starts_with(&format!("{root}/"));
    ["/dev", "/proc", "/run", "/sys", "/mnt", "/media"]
        .into_iter()
        .any(under)
        || strictly_under("/var/lib/docker")
        || strictly_under("/var/lib/containers/storage")
}

/// The filesystems of a mounts table worth reporting, each with its `statfs` (a mount `statfs` fails on is
/// skipped), one per device, mount point and type.
pub fn filesystems(
    mounts: &str,
    statfs: &mut dyn FnMut(&str) -> Option<FsStat>,
) -> Result<Vec<Filesystem>, String> {
    let entries: Vec<procfs_core::MountEntry> =
        FromRead::from_read(Cursor::new(mounts)).map_err(|e| format!("mounts: {e}"))?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in entries {
        if EXCLUDED_FSTYPES.contains(&e.fs_vfstype.as_str()) || excluded_mountpoint(&e.fs_file) {
            continue;
        }
        if !seen.insert((e.fs_spec.clone(), e.fs_file.clone(), e.fs_vfstype.clone())) {
            continue;
        }
        let Some(st) = statfs(&e.fs_file) else {
            continue;
        };
        let bs = st.block_size as f64;
        out.push(Filesystem {
            readonly: e.fs_mntops.contains_key("ro"),
            device: e.fs_spec,
            mountpoint: e.fs_file,
            fstype: e.fs_vfstype,
            size: st.blocks as f64 * bs,
            free: st.blocks_free as f64 * bs,
            avail: st.blocks_avail as f64 * bs,
            files: st.files as f64,
            files_free: st.files_free as f64,
        });
    }
    Ok(out)
}

/// Whether Node Exporter leaves out a disk by default: partitions (`sda1`, `nvme0n1p1`) and `ram`, `loop` and
/// floppy devices (its `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`; `zram0` stays).
pub fn excluded_disk(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(|c: char| c.is_ascii_digit()) else {
        return false;
    };
    let stem = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    let lower_letter = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_lowercase());
    if ["ram", "loop", "fd"].contains(&stem) {
        return true;
    }
    for prefix in ["hd", "sd", "vd", "xvd"] {
        if let Some(rest) = stem.strip_prefix(prefix)
            && lower_letter(rest)
        {
            return true;
        }
    }
    // nvme<d>n<d>p<d>
    if let Some(rest) = stem.strip_prefix("nvme")
        && let Some(rest) = rest.strip_suffix('p')
        && let Some((ctrl, ns)) = rest.split_once('n')
    {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        return digits(ctrl) && digits(ns);
    }
    false
}

/// The disks of `/proc/diskstats` worth reporting (sectors are 512 bytes there, times milliseconds).
pub fn parse_diskstats(text: &str) -> Result<Vec<Disk>, String> {
    let stats = procfs_core::DiskStats::from_read(Cursor::new(text))
        .map_err(|e| format!("/proc/diskstats: {e}"))?;
    Ok(stats
        .0
        .into_iter()
        .filter(|d| !excluded_disk(&d.name))
        .map(|d| Disk {
            reads: d.reads as f64,
            writes: d.writes as f64,
            read_bytes: d.sectors_read as f64 * 512.0,
            written_bytes: d.sectors_written as f64 * 512.0,
            read_seconds: d.time_reading as f64 / 1000.0,
            write_seconds: d.time_writing as f64 / 1000.0,
            io_seconds: d.time_in_progress as f64 / 1000.0,
            reads_merged: d.merged as f64,
            writes_merged: d.writes_merged as f64,
            device: d.name,
        })
        .collect())
}

/// The interfaces of `/proc/net/dev`, `lo` left out, sorted by name.
pub fn parse_net_dev(text: &str) -> Result<Vec<Interface>, String> {
    let devs = procfs_core::net::InterfaceDeviceStatus::from_read(Cursor::new(text))
        .map_err(|e| format!("/proc/net/dev: {e}"))?;
    let mut out: Vec<Interface> = devs
        .0
        .into_values()
        .filter(|d| d.name != "lo")
        .map(|d| Interface {
            receive: [
                d.recv_bytes as f64,
                d.recv_packets as f64,
                d.recv_errs as f64,
                d.recv_drop as f64,
            ],
            transmit: [
                d.sent_bytes as f64,
                d.sent_packets as f64,
                d.sent_errs as f64,
                d.sent_drop as f64,
            ],
            device: d.name,
        })
        .collect();
    out.sort_by(|a, b| a.device.cmp(&b.device));
    Ok(out)
}

/// How many sources [`read`] reads (CPU, memory, load, filesystems, disks, network).
pub const SOURCES: usize = 6;

/// Reads everything under `proc` (normally `/proc`), with `statfs` for the filesystems' space.
pub fn read(
    proc: &Path,
    ticks_per_second: u64,
    statfs: &mut dyn FnMut(&str) -> Option<FsStat>,
) -> Snapshot {
    let mut snap = Snapshot::default();
    let text = |name: &str| {
        std::fs::read_to_string(proc.join(name))
            .map_err(|e| format!("{}: {e}", proc.join(name).display()))
    };
    match text("stat").and_then(|t| parse_cpus(&t, ticks_per_second)) {
        Ok(c) => snap.cpus = c,
        Err(e) => snap.failed.push(("cpu", e)),
    }
    match text("meminfo").and_then(|t| parse_meminfo(&t)) {
        Ok(m) => snap.memory = m,
        Err(e) => snap.failed.push(("memory", e)),
    }
    match text("loadavg").and_then(|t| parse_loadavg(&t)) {
        Ok(l) => snap.load = Some(l),
        Err(e) => snap.failed.push(("load", e)),
    }
    // PID 1's view, as Node Exporter reads it: the host's mounts even when llmtel runs in its own namespace.
    match text("1/mounts")
        .or_else(|_| text("self/mounts"))
        .and_then(|t| filesystems(&t, statfs))
    {
        Ok(f) => snap.filesystems = f,
        Err(e) => snap.failed.push(("filesystem", e)),
    }
    match text("diskstats").and_then(|t| parse_diskstats(&t)) {
        Ok(d) => snap.disks = d,
        Err(e) => snap.failed.push(("disk", e)),
    }
    match text("net/dev").and_then(|t| parse_net_dev(&t)) {
        Ok(n) => snap.interfaces = n,
        Err(e) => snap.failed.push(("network", e)),
    }
    snap
}

/// `statfs` of a mount point on this machine.
#[cfg(target_os = "linux")]
pub fn statfs(mountpoint: &str) -> Option<FsStat> {
    let s = rustix::fs::statfs(mountpoint).ok()?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between libc targets
    Some(FsStat {
        block_size: s.f_bsize as u64,
        blocks: s.f_blocks as u64,
        blocks_free: s.f_bfree as u64,
        blocks_avail: s.f_bavail as u64,
        files: s.f_files as u64,
        files_free: s.f_ffree as u64,
    })
}
