//! `llmtel-bench`: llmtel against its peers, side by side in one invocation, each result printed with the baseline
//! measured in the same run and their ratio. Run through `scripts/bench.sh`, which installs the peers and builds
//! release binaries; `docs/benchmarks.md` explains every number.
//!
//! ```text
//! llmtel-bench --llmtel target/release/llmtel --nginx /usr/sbin/nginx --rotel PATH [--only proxy,pipeline,expo,idle]
//! ```

mod alloc;
mod expo;
mod pipeline;
mod procs;
mod proxy;

use std::path::{Path, PathBuf};
use std::time::Duration;

use procs::{Proc, free_addr, wait_listening, write};
use proxy::{RunStats, quantile};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

struct Args {
    llmtel: PathBuf,
    nginx: Option<PathBuf>,
    rotel: Option<PathBuf>,
    only: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        llmtel: PathBuf::from("target/release/llmtel"),
        nginx: None,
        rotel: None,
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--llmtel" => args.llmtel = value().into(),
            "--nginx" => args.nginx = Some(value().into()),
            "--rotel" => args.rotel = Some(value().into()),
            "--only" => args.only = value().split(',').map(str::to_owned).collect(),
            other => panic!(
                "unknown argument {other}; see the top of integration-tests/src/bin/llmtel-bench/main.rs"
            ),
        }
    }
    args
}

/// Targets and whether they were met, for the summary.
#[derive(Default)]
struct Verdicts(Vec<(String, bool)>);

impl Verdicts {
    fn check(&mut self, what: String, met: bool) {
        println!("    target: {what}: {}", if met { "MET" } else { "MISSED" });
        self.0.push((what, met));
    }
}

fn main() {
    let args = parse_args();
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    let mut verdicts = Verdicts::default();
    println!(
        "llmtel-bench on {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    if wanted("proxy") {
        match &args.nginx {
            Some(nginx) => bench_proxy(&args.llmtel, nginx, dir.path(), &mut verdicts),
            None => println!("proxy: skipped (no --nginx)"),
        }
    }
    if wanted("pipeline") {
        match &args.rotel {
            Some(rotel) => bench_pipeline(&args.llmtel, rotel, dir.path(), &mut verdicts),
            None => println!("pipeline: skipped (no --rotel)"),
        }
    }
    if wanted("expo") {
        bench_expo(&mut verdicts);
    }
    if wanted("idle") {
        bench_idle(&args, dir.path(), &mut verdicts);
    }
    println!("\nsummary:");
    for (what, met) in &verdicts.0 {
        println!("  {:7} {what}", if *met { "MET" } else { "MISSED" });
    }
}

/// How long each saturation run lasts: 4 s, or `LLMTEL_BENCH_SATURATION_SECS` (longer, to profile it).
fn saturation_time() -> Duration {
    let secs = std::env::var("LLMTEL_BENCH_SATURATION_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    Duration::from_secs(secs)
}

fn us(v: f64) -> String {
    format!("{v:.0} µs")
}

fn bench_proxy(llmtel: &Path, nginx: &Path, dir: &Path, verdicts: &mut Verdicts) {
    const CHUNKS: u64 = 512;
    const PACE_US: u64 = 2000;
    const REPEATS: usize = 3;
    println!(
        "\n== proxy overhead: {CHUNKS}-chunk thinking-then-answering NDJSON stream, paced {PACE_US} µs per chunk (latency, median of {REPEATS} runs) or unpaced (saturation)"
    );
    let upstream = proxy::start_upstream();
    // llmtel with the request explorer (its admin endpoint, the page's live list, an `explorer` exporter), and
    // without any of it: the page's bookkeeping, measured in the same run.
    let modes = ["direct", "nginx", "llmtel", "llmtel-nopage"];
    // results[mode][concurrency index][repeat]
    let mut paced: Vec<Vec<Vec<RunStats>>> = Vec::new();
    let mut saturation: Vec<(f64, Option<f64>)> = Vec::new();
    let levels = [(1usize, 4usize), (16, 2), (64, 1)];
    for mode in modes {
        let proc_and_addr: Option<(Proc, std::net::SocketAddr)> = match mode {
            "nginx" => Some(proxy::start_nginx(nginx, dir, upstream)),
            "llmtel" => Some(proxy::start_llmtel_sidecar(llmtel, dir, upstream, true)),
            "llmtel-nopage" => Some(proxy::start_llmtel_sidecar(llmtel, dir, upstream, false)),
            _ => None,
        };
        let target = proc_and_addr.as_ref().map_or(upstream, |(_, a)| *a);
        // Warm-up: connections, pools, page cache.
        proxy::run_clients(target, 4, 1, None, 64, 0, false);
        let mut runs = Vec::new();
        for (c, per) in levels {
            let repeats = (0..REPEATS)
                .map(|_| proxy::run_clients(target, c, per, None, CHUNKS, PACE_US, true))
                .collect();
            runs.push(repeats);
        }
        paced.push(runs);
        let cpu0 = proc_and_addr.as_ref().map(|(p, _)| p.cpu_seconds());
        let sat = proxy::run_clients(target, 64, 0, Some(saturation_time()), CHUNKS, 0, false);
        let cpu = proc_and_addr
            .as_ref()
            .zip(cpu0)
            .map(|((p, _), c0)| (p.cpu_seconds() - c0) / sat.chunks.max(1) as f64 * 1e6);
        saturation.push((sat.chunks as f64 / sat.seconds, cpu));
    }
    println!(
        "  {:<5} {:<22} {:>10} {:>12} {:>12} {:>14}",
        "conc", "measure", "direct", "nginx +", "llmtel +", "llmtel/nginx"
    );
    let mut worst_gap: f64 = f64::NEG_INFINITY;
    for (li, (c, _)) in levels.iter().enumerate() {
        // Each figure is the median over the repeats: one descheduled vCPU can move a single p99 by milliseconds.
        let row = |label: &str, pick: &dyn Fn(&mut RunStats) -> f64| {
            let median = |runs: &[RunStats]| {
                let mut v: Vec<f64> = runs.iter().map(|r| pick(&mut r.clone())).collect();
                quantile(&mut v, 0.5)
            };
            let d = median(&paced[0][li]);
            let n = median(&paced[1][li]);
            let l = median(&paced[2][li]);
            println!(
                "  {:<5} {:<22} {:>10} {:>12} {:>12} {:>14.2}",
                c,
                label,
                us(d),
                us(n - d),
                us(l - d),
                l / n
            );
            (n - d, l - d)
        };
        row("TTFB p50", &|s| quantile(&mut s.ttfb_us, 0.5));
        row("chunk delay p50", &|s| quantile(&mut s.chunk_us, 0.5));
        let (n99, l99) = row("chunk delay p99", &|s| quantile(&mut s.chunk_us, 0.99));
        worst_gap = worst_gap.max(l99 - n99);
    }
    println!("  request explorer page on vs off (same run; + is time added to direct):");
    for (li, (c, _)) in levels.iter().enumerate() {
        let median = |runs: &[RunStats], q: f64| {
            let mut v: Vec<f64> = runs
                .iter()
                .map(|r| quantile(&mut r.clone().chunk_us, q))
                .collect();
            quantile(&mut v, 0.5)
        };
        let d = (median(&paced[0][li], 0.5), median(&paced[0][li], 0.99));
        let on = (median(&paced[2][li], 0.5), median(&paced[2][li], 0.99));
        let off = (median(&paced[3][li], 0.5), median(&paced[3][li], 0.99));
        println!(
            "  {:<5} chunk delay p50 on + {} / off + {}; p99 on + {} / off + {}",
            c,
            us(on.0 - d.0),
            us(off.0 - d.0),
            us(on.1 - d.1),
            us(off.1 - d.1)
        );
    }
    let ((_, _), (_, on_cpu), (off_sat, off_cpu)) = (saturation[0], saturation[2], saturation[3]);
    println!(
        "  saturation chunks/s page on {:.0}, off {off_sat:.0} (on/off {:.2}); CPU s per million chunks on {:.2}, off {:.2} (on/off {:.2})",
        saturation[2].0,
        saturation[2].0 / off_sat,
        on_cpu.unwrap_or(f64::NAN),
        off_cpu.unwrap_or(f64::NAN),
        on_cpu.unwrap_or(f64::NAN) / off_cpu.unwrap_or(f64::NAN)
    );
    println!(
        "  (direct: measured; nginx + / llmtel +: time added to direct; llmtel/nginx: ratio of the totals)"
    );
    let ((d_sat, _), (n_sat, n_cpu), (l_sat, l_cpu)) =
        (saturation[0], saturation[1], saturation[2]);
    println!(
        "  saturation (64 clients, unpaced): chunks/s direct {d_sat:.0}, nginx {n_sat:.0}, llmtel {l_sat:.0}; llmtel/nginx {:.2}",
        l_sat / n_sat
    );
    println!(
        "  CPU seconds per million chunks: nginx {:.2}, llmtel {:.2}; llmtel/nginx {:.2}",
        n_cpu.unwrap_or(f64::NAN),
        l_cpu.unwrap_or(f64::NAN),
        l_cpu.unwrap_or(f64::NAN) / n_cpu.unwrap_or(f64::NAN)
    );
    verdicts.check(
        format!(
            "proxy: llmtel's added p99 chunk delay within nginx's + 100 µs (worst gap {})",
            us(worst_gap)
        ),
        worst_gap <= 100.0,
    );
    verdicts.check(
        format!(
            "proxy: saturation throughput >= 0.8x nginx ({:.2}x)",
            l_sat / n_sat
        ),
        l_sat >= 0.8 * n_sat,
    );
}

fn bench_pipeline(llmtel: &Path, rotel: &Path, dir: &Path, verdicts: &mut Verdicts) {
    println!(
        "\n== pipeline: OTLP/gRPC traces, 100 spans per request, forwarded over OTLP/gRPC to a counting sink"
    );
    let sink = pipeline::Sink::start();
    let mut results = Vec::new();
    for name in ["rotel", "llmtel"] {
        // A fresh process for each run: memory taken at full speed is not given back, and would count at 10k/s.
        let start = || match name {
            "rotel" => pipeline::start_rotel(rotel, sink.addr),
            _ => pipeline::start_llmtel(llmtel, dir, sink.addr),
        };
        let (p, addr) = start();
        let max = pipeline::drive(addr, &p, &sink, 8, None, 5.0);
        drop(p);
        let (p, addr) = start();
        let fixed = pipeline::drive(addr, &p, &sink, 1, Some(100), 15.0);
        println!(
            "  {name:<7} max {:>9.0} spans/s (cpu {:>4.0}%, rss {:>6.1} MiB, refused {}) | at 10k spans/s: delivered {:>7.0}/s, cpu {:>5.1}%, rss {:>5.1} MiB",
            max.delivered_per_s,
            max.cpu_percent,
            max.rss_kib as f64 / 1024.0,
            max.refused,
            fixed.delivered_per_s,
            fixed.cpu_percent,
            fixed.rss_kib as f64 / 1024.0
        );
        results.push((max, fixed));
        drop(p);
    }
    let (r, l) = (&results[0], &results[1]);
    let ratio = l.0.delivered_per_s / r.0.delivered_per_s;
    println!(
        "  llmtel/rotel: max spans/s {ratio:.2}, CPU at 10k spans/s {:.2}, RSS at 10k spans/s {:.2}",
        l.1.cpu_percent / r.1.cpu_percent,
        l.1.rss_kib as f64 / r.1.rss_kib as f64
    );
    verdicts.check(
        format!("pipeline: max spans/s >= 1.2x rotel ({ratio:.2}x)"),
        ratio >= 1.2,
    );
    verdicts.check(
        format!(
            "pipeline: CPU at 10k spans/s <= rotel's ({:.1}% vs {:.1}%)",
            l.1.cpu_percent, r.1.cpu_percent
        ),
        l.1.cpu_percent <= r.1.cpu_percent,
    );
    let rss = l.1.rss_kib as f64 / 1024.0;
    verdicts.check(
        format!("pipeline: RSS at 10k spans/s <= 15 MiB ({rss:.1} MiB)"),
        rss <= 15.0,
    );
}

fn bench_expo(verdicts: &mut Verdicts) {
    println!(
        "\n== exposition: 40% counters, 40% gauges, 20% histograms (8 buckets); llmtel store vs the prometheus crate"
    );
    println!(
        "  {:<8} {:<22} {:>10} {:>12} {:>14} {:>11} {:>8}",
        "series", "renderer", "render ms", "held MiB", "render peak MiB", "output MiB", "ratio"
    );
    for n in [10_000usize, 100_000] {
        let base = expo::baseline(n);
        let (text, om) = expo::llmtel(n);
        for (label, r) in [
            ("prometheus crate text", &base),
            ("llmtel text", &text),
            ("llmtel OpenMetrics", &om),
        ] {
            println!(
                "  {:<8} {:<22} {:>10.1} {:>12.1} {:>14.1} {:>11.1} {:>8.2}",
                n,
                label,
                r.ms,
                r.held_mib,
                r.peak_render_mib,
                r.output_mib,
                r.ms / base.ms
            );
        }
        if n == 100_000 {
            verdicts.check(
                format!("exposition: 100k series text <= 50 ms ({:.1} ms)", text.ms),
                text.ms <= 50.0,
            );
            verdicts.check(
                format!(
                    "exposition: 100k series OpenMetrics <= 50 ms ({:.1} ms)",
                    om.ms
                ),
                om.ms <= 50.0,
            );
        }
    }
}

fn bench_idle(args: &Args, dir: &Path, verdicts: &mut Verdicts) {
    println!("\n== idle resident memory, 5 s after start, nothing sent");
    let cfg = write(
        dir,
        "llmtel-default.yaml",
        &integration_tests::default_config_on_port_zero(),
    );
    let llmtel = Proc::spawn("llmtel", &args.llmtel, &["--config", &cfg], &[]);
    std::thread::sleep(Duration::from_secs(5));
    let l = llmtel.rss_kib() as f64 / 1024.0;
    drop(llmtel);
    let mut line = format!("  llmtel (default config) {l:.1} MiB");
    if let Some(rotel) = &args.rotel {
        let sink = free_addr();
        let (p, _) = pipeline::start_rotel(rotel, sink);
        std::thread::sleep(Duration::from_secs(5));
        let r = p.rss_kib() as f64 / 1024.0;
        line += &format!(
            " | rotel (OTLP in/out) {r:.1} MiB; llmtel/rotel {:.2}",
            l / r
        );
    }
    if let Some(nginx) = &args.nginx {
        let upstream = free_addr();
        let (p, addr) = proxy::start_nginx(nginx, dir, upstream);
        wait_listening(addr, "nginx");
        std::thread::sleep(Duration::from_secs(2));
        let n = p.rss_kib() as f64 / 1024.0;
        line += &format!(" | nginx (master + 2 workers) {n:.1} MiB");
    }
    println!("{line}");
    verdicts.check(
        format!("idle: llmtel RSS <= 15 MiB ({l:.1} MiB)"),
        l <= 15.0,
    );
}
