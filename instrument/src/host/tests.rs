//! The readers on fixture `/proc` files (trimmed from a real Linux 6.x machine) and both name sets.

use std::collections::BTreeMap;

use super::names::{self, Family, Kind};
use super::read::{self, FsStat, excluded_disk};

const STAT: &str = "\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
cpu1 1335 20 500 100000 100 7 9 3 0 0
intr 199292 0 0
ctxt 1990473
btime 1062191376
processes 2915
procs_running 1
procs_blocked 0
";

const MEMINFO: &str = "\
MemTotal:       16304084 kB
MemFree:         1234567 kB
MemAvailable:    9876543 kB
Buffers:          204800 kB
Cached:          6000000 kB
SwapCached:            0 kB
Active(anon):    3000000 kB
SReclaimable:     400000 kB
SUnreclaim:       100000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

const MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=8131356k,nr_inodes=2032839,mode=755 0 0
/dev/nvme0n1p2 / ext4 rw,relatime,errors=remount-ro 0 0
/dev/nvme0n1p2 / ext4 rw,relatime,errors=remount-ro 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1631632k,mode=755 0 0
tmpfs /tmp/work tmpfs rw,nosuid,nodev,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
/dev/loop0 /snap/core/1 squashfs ro,nodev,relatime 0 0
/dev/sdb1 /models xfs ro,relatime 0 0
/dev/sdc1 /mnt/usb vfat rw 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,relatime 0 0
";

const DISKSTATS: &str = "\
   7       0 loop0 100 0 2000 50 0 0 0 0 0 60 50 0 0 0 0
   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 259       0 nvme0n1 211342 73563 13282010 62839 486003 388417 25013632 575040 0 352488 658832 0 0 0 0 26810 20952
 259       1 nvme0n1p1 300 0 12000 100 2 0 8 1 0 120 101 0 0 0 0
   8      16 sdb 1000 10 8000 1500 2000 20 16000 2500 0 3000 4000
   8      17 sdb1 900 10 7000 1400 1900 20 15000 2400 0 2900 3800
 253       0 dm-0 5 0 40 1 0 0 0 0 0 1 1
";

const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 9378282   88088    0    0    0     0          0         0  9378282   88088    0    0    0     0       0          0
  eth0: 1016914436 886442   3    7    0     0          0      1045 60457376  423120    1    2    0     0       0          0
";

fn statfs_fixture(mountpoint: &str) -> Option<FsStat> {
    match mountpoint {
        "/" => Some(FsStat {
            block_size: 4096,
            blocks: 1000,
            blocks_free: 300,
            blocks_avail: 250,
            files: 640,
            files_free: 600,
        }),
        "/tmp/work" => Some(FsStat {
            block_size: 4096,
            blocks: 10,
            blocks_free: 10,
            blocks_avail: 10,
            files: 5,
            files_free: 4,
        }),
        _ => None,
    }
}

#[test]
fn cpu_lines_keep_their_number_and_ticks_become_seconds() {
    let cpus = read::parse_cpus(STAT, 100).unwrap();
    assert_eq!(cpus.len(), 2, "the aggregate `cpu` line is not a CPU");
    assert_eq!(cpus[0].cpu, 0);
    assert_eq!(cpus[1].cpu, 1);
    // user nice system idle iowait irq softirq steal
    assert_eq!(
        cpus[1].seconds,
        [13.35, 0.2, 5.0, 1000.0, 1.0, 0.07, 0.09, 0.03]
    );
    assert_eq!(cpus[0].seconds[3], 133432.92);
    assert!(read::parse_cpus("intr 1 2\n", 100).is_err());
    let err = read::parse_cpus("cpu0 1 x 3\n", 100).unwrap_err();
    assert!(err.contains("\"x\""), "{err}");
}

#[test]
fn meminfo_keys_are_named_as_node_exporter_names_them() {
    let m = read::parse_meminfo(MEMINFO).unwrap();
    let get = |k: &str| m.iter().find(|e| e.key == k).cloned().unwrap();
    assert_eq!(get("MemTotal").value, 16304084.0 * 1024.0);
    assert!(get("MemTotal").bytes);
    assert_eq!(get("Active_anon").value, 3000000.0 * 1024.0);
    let huge = get("HugePages_Total");
    assert!(!huge.bytes, "a count, not kB");
    assert_eq!(huge.value, 0.0);
    assert_eq!(m.len(), 11);
}

#[test]
fn loadavg_reads_three_windows() {
    assert_eq!(
        read::parse_loadavg("0.25 1.50 2.00 3/456 7890\n").unwrap(),
        [0.25, 1.5, 2.0]
    );
    assert!(read::parse_loadavg("").is_err());
}

#[test]
fn filesystems_leave_out_pseudo_filesystems_and_duplicates() {
    let fs = read::filesystems(MOUNTS, &mut statfs_fixture).unwrap();
    let points: Vec<(&str, &str)> = fs
        .iter()
        .map(|f| (f.mountpoint.as_str(), f.fstype.as_str()))
        .collect();
    // /models is listed but statfs fails on it (skipped); sysfs, proc, devtmpfs, cgroup2, squashfs, /run, /mnt/…
    // and the overlay under /var/lib/docker are left out; `/` is mounted twice and reported once.
    assert_eq!(points, [("/", "ext4"), ("/tmp/work", "tmpfs")]);
    let root = &fs[0];
    assert_eq!(root.device, "/dev/nvme0n1p2");
    assert_eq!(root.size, 4096.0 * 1000.0);
    assert_eq!(root.free, 4096.0 * 300.0);
    assert_eq!(root.avail, 4096.0 * 250.0);
    assert!(!root.readonly);
    let mut all = |_: &str| Some(FsStat::default());
    let fs = read::filesystems(MOUNTS, &mut all).unwrap();
    let models = fs.iter().find(|f| f.mountpoint == "/models").unwrap();
    assert!(models.readonly);
}

#[test]
fn disks_leave_out_partitions_loop_and_ram_devices() {
    for name in ["sda1", "nvme0n1p1", "loop0", "ram0", "xvda3", "vdb2", "fd0"] {
        assert!(excluded_disk(name), "{name}");
    }
    for name in ["sda", "nvme0n1", "dm-0", "md0", "mmcblk0", "vda", "zram0"] {
        assert!(!excluded_disk(name), "{name}");
    }
    let disks = read::parse_diskstats(DISKSTATS).unwrap();
    let names: Vec<&str> = disks.iter().map(|d| d.device.as_str()).collect();
    assert_eq!(names, ["nvme0n1", "sdb", "dm-0"]);
    let sdb = &disks[1];
    assert_eq!(sdb.reads, 1000.0);
    assert_eq!(sdb.read_bytes, 8000.0 * 512.0);
    assert_eq!(sdb.written_bytes, 16000.0 * 512.0);
    assert_eq!(sdb.read_seconds, 1.5);
    assert_eq!(sdb.io_seconds, 3.0);
}

#[test]
fn network_leaves_out_loopback() {
    let n = read::parse_net_dev(NET_DEV).unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].device, "eth0");
    assert_eq!(n[0].receive, [1016914436.0, 886442.0, 3.0, 7.0]);
    assert_eq!(n[0].transmit, [60457376.0, 423120.0, 1.0, 2.0]);
}

/// A fixture `/proc` directory, read the way the receiver reads the real one.
fn fixture_snapshot() -> read::Snapshot {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("llmtel-host-proc-{}-{n}", std::process::id()));
    std::fs::create_dir_all(dir.join("1")).unwrap();
    std::fs::create_dir_all(dir.join("net")).unwrap();
    for (name, text) in [
        ("stat", STAT),
        ("meminfo", MEMINFO),
        ("loadavg", "0.25 1.50 2.00 3/456 7890\n"),
        ("1/mounts", MOUNTS),
        ("diskstats", DISKSTATS),
        ("net/dev", NET_DEV),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let snap = read::read(&dir, 100, &mut statfs_fixture);
    std::fs::remove_dir_all(&dir).unwrap();
    snap
}

fn by_name(list: Vec<Family>) -> BTreeMap<String, Family> {
    list.into_iter().map(|f| (f.name.clone(), f)).collect()
}

fn value(f: &Family, attrs: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = f
        .points
        .iter()
        .filter(|(_, a)| {
            a.len() == attrs.len()
                && attrs
                    .iter()
                    .all(|(k, v)| a.iter().any(|(ak, av)| ak == k && av == v))
        })
        .map(|(v, _)| *v)
        .collect();
    assert_eq!(found.len(), 1, "{} {attrs:?}: {:?}", f.name, f.points);
    found[0]
}

#[test]
fn a_missing_source_is_reported_and_the_rest_still_read() {
    let dir = std::env::temp_dir().join(format!("llmtel-host-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("meminfo"), MEMINFO).unwrap();
    let snap = read::read(&dir, 100, &mut statfs_fixture);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(snap.mem("MemTotal"), Some(16304084.0 * 1024.0));
    let failed: Vec<&str> = snap.failed.iter().map(|(s, _)| *s).collect();
    assert_eq!(failed, ["cpu", "load", "filesystem", "disk", "network"]);
    assert!(snap.failed[0].1.contains("stat"), "{:?}", snap.failed[0]);
    // Every fixed family is still there, empty, so instruments do not depend on the first read.
    let otel = by_name(names::otel(&snap));
    assert!(otel["system.cpu.time"].points.is_empty());
    assert_eq!(otel.len(), names::otel(&fixture_snapshot()).len());
}

#[test]
fn otel_names_follow_hostmetrics() {
    let f = by_name(names::otel(&fixture_snapshot()));
    let cpu = &f["system.cpu.time"];
    assert_eq!((cpu.kind, cpu.unit), (Kind::Counter, "s"));
    assert_eq!(value(cpu, &[("cpu", "cpu1"), ("state", "wait")]), 1.0);
    assert_eq!(value(cpu, &[("cpu", "cpu1"), ("state", "interrupt")]), 0.07);
    assert_eq!(cpu.points.len(), 16);
    assert_eq!(value(&f["system.cpu.load_average.5m"], &[]), 1.5);
    let mem = &f["system.memory.usage"];
    assert_eq!((mem.kind, mem.unit), (Kind::UpDown, "By"));
    let states = ["used", "free", "buffered", "cached", "slab_reclaimable"];
    let sum: f64 = states.iter().map(|s| value(mem, &[("state", s)])).sum();
    assert_eq!(sum, 16304084.0 * 1024.0, "the states add up to MemTotal");
    assert_eq!(value(&f["system.memory.limit"], &[]), 16304084.0 * 1024.0);
    assert_eq!(
        value(&f["system.linux.memory.available"], &[]),
        9876543.0 * 1024.0
    );
    let root = [
        ("device", "/dev/nvme0n1p2"),
        ("mode", "rw"),
        ("mountpoint", "/"),
        ("type", "ext4"),
    ];
    let fs = &f["system.filesystem.usage"];
    let with = |state| {
        let mut a = root.to_vec();
        a.push(("state", state));
        value(fs, &a)
    };
    assert_eq!(with("used"), 700.0 * 4096.0);
    assert_eq!(with("free"), 250.0 * 4096.0);
    assert_eq!(with("reserved"), 50.0 * 4096.0);
    let io = &f["system.disk.io"];
    assert_eq!(
        value(io, &[("device", "sdb"), ("direction", "write")]),
        16000.0 * 512.0
    );
    assert_eq!(value(&f["system.disk.io_time"], &[("device", "sdb")]), 3.0);
    let errors = &f["system.network.errors"];
    assert_eq!(
        value(errors, &[("device", "eth0"), ("direction", "receive")]),
        3.0
    );
    assert_eq!(
        value(errors, &[("device", "eth0"), ("direction", "transmit")]),
        1.0
    );
    assert_eq!(
        value(
            &f["system.network.dropped"],
            &[("device", "eth0"), ("direction", "receive")]
        ),
        7.0
    );
}

#[test]
fn node_exporter_names_units_and_label_values() {
    let f = by_name(names::node_exporter(&fixture_snapshot()));
    let cpu = &f["node_cpu_seconds_total"];
    assert_eq!(cpu.kind, Kind::Counter);
    assert_eq!(value(cpu, &[("cpu", "0"), ("mode", "idle")]), 133432.92);
    assert_eq!(value(cpu, &[("cpu", "1"), ("mode", "iowait")]), 1.0);
    assert_eq!(value(cpu, &[("cpu", "1"), ("mode", "irq")]), 0.07);
    assert_eq!(value(&f["node_load15"], &[]), 2.0);
    let total = &f["node_memory_MemTotal_bytes"];
    assert_eq!(total.kind, Kind::Gauge);
    assert_eq!(value(total, &[]), 16304084.0 * 1024.0);
    assert_eq!(
        value(&f["node_memory_MemAvailable_bytes"], &[]),
        9876543.0 * 1024.0
    );
    assert_eq!(
        value(&f["node_memory_Active_anon_bytes"], &[]),
        3000000.0 * 1024.0
    );
    assert_eq!(value(&f["node_memory_HugePages_Total"], &[]), 0.0);
    let root = [
        ("device", "/dev/nvme0n1p2"),
        ("fstype", "ext4"),
        ("mountpoint", "/"),
    ];
    assert_eq!(
        value(&f["node_filesystem_size_bytes"], &root),
        4096.0 * 1000.0
    );
    assert_eq!(
        value(&f["node_filesystem_avail_bytes"], &root),
        4096.0 * 250.0
    );
    assert_eq!(
        value(&f["node_filesystem_free_bytes"], &root),
        4096.0 * 300.0
    );
    assert_eq!(value(&f["node_filesystem_readonly"], &root), 0.0);
    assert_eq!(
        value(&f["node_disk_read_bytes_total"], &[("device", "sdb")]),
        8000.0 * 512.0
    );
    assert_eq!(
        value(
            &f["node_disk_io_time_seconds_total"],
            &[("device", "nvme0n1")]
        ),
        352.488
    );
    assert_eq!(
        value(&f["node_network_receive_errs_total"], &[("device", "eth0")]),
        3.0
    );
    assert_eq!(
        value(
            &f["node_network_transmit_drop_total"],
            &[("device", "eth0")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &f["node_network_transmit_bytes_total"],
            &[("device", "eth0")]
        ),
        60457376.0
    );
    assert!(f.keys().all(|k| k.starts_with("node_")));
}
