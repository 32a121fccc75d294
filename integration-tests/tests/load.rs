//! `llmtel load` end to end, the real binary against the emulator: with N parallel slots the knee is at N,
//! throughput at saturation is N × the emulator's own token rate (from its record of the same run), queue wait
//! grows with the emulator's queue, and the files it writes parse and carry its figures; the SVG renders in
//! headless Chromium (the screenshot is kept under `target/load-test/`). Through the sidecar: every request is
//! tagged with the run and level on its span's metrics, and the generator's CPU time per request at 64 streams is
//! printed beside the sidecar's and is lower.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::emulator::{Emulator, Recorded, Script, Timings};
use integration_tests::{LlmtelProcess, default_config_on_port_zero, llmtel_binary, write_temp};
use serde_json::Value;

/// A script whose answer takes 30 ms of prompt, then 3 reasoning and 6 answer pieces 30 ms apart, with 10
/// output tokens: one slot makes about 10 tokens per 0.3 s.
fn paced() -> Script {
    Script {
        thinking: ["a", "b", "c"].map(String::from).to_vec(),
        answer: ["d", "e", "f", "g", "h", "i"].map(String::from).to_vec(),
        first_delay: Duration::from_millis(30),
        think_delay: Duration::from_millis(30),
        answer_delay: Duration::from_millis(30),
        completion_tokens: 10,
        timings: Timings::Measured,
        ..Script::default()
    }
}

/// The target folder (`target/`), from the test executable's path `target/<profile>/deps/…`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Runs `llmtel load args…` to its end; its exit status, stdout and stderr.
fn load(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(llmtel_binary())
        .arg("load")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The level tag a recorded request was sent at (its `baggage`).
fn level_of(r: &Recorded) -> Option<String> {
    let b = r.headers.get("baggage")?.to_str().ok()?;
    b.split(',')
        .find_map(|m| m.trim().strip_prefix("llmtel.load.level="))
        .map(str::to_owned)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Whether a PNG shows more than a blank page: its pixel data (inflated IDAT) has many distinct byte values.
fn png_has_content(path: &Path) -> bool {
    let png = std::fs::read(path).unwrap();
    assert_eq!(
        &png[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    let mut idat = Vec::new();
    let mut i = 8;
    while i + 8 <= png.len() {
        let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        if &png[i + 4..i + 8] == b"IDAT" {
            idat.extend_from_slice(&png[i + 8..i + 8 + len]);
        }
        i += 12 + len;
    }
    let mut pixels = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&idat[..]), &mut pixels)
        .unwrap();
    let mut seen = [false; 256];
    pixels.iter().for_each(|b| seen[*b as usize] = true);
    seen.iter().filter(|s| **s).count() > 32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_slots_put_the_knee_at_four_and_saturate_at_four_times_the_token_rate() {
    let emu = Emulator::start(Script {
        slots: Some(4),
        ..paced()
    })
    .await;
    let out = target_dir().join("load-test").join("four-slots");
    let _ = std::fs::remove_dir_all(&out);
    let target = emu.url();
    let out_s = out.to_str().unwrap().to_owned();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        load(&[
            "--target",
            &target,
            "--model",
            "qwen3:14b",
            "--think",
            "on",
            "--concurrency",
            "1,2,4,8,16",
            "--requests",
            "16",
            "--warmup",
            "1",
            "--run-id",
            "slots4",
            "--out",
            &out_s,
        ])
    })
    .await
    .unwrap();
    println!("{stdout}");
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("knee (think on): level 4:"), "{stdout}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("levels.json")).unwrap()).unwrap();
    let levels = report["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 5);
    for l in levels {
        assert_eq!(l["ok"], 16, "{l}");
        assert_eq!(l["errors"], 0, "{l}");
        // The server's counts, not chunk counts.
        assert_eq!(l["tokens_estimated"], false);
    }
    // The emulator's own rate per slot, from its record of the same run: tokens over the time a slot is busy.
    let busy: Vec<f64> = emu
        .requests()
        .iter()
        .filter(|r| r.path == "/api/chat")
        .map(|r| (r.phases.prompt + r.phases.generation).as_secs_f64())
        .collect();
    let per_slot = 10.0 / median(busy);
    for l in &levels[3..] {
        let tput = l["output_tokens_per_s"].as_f64().unwrap();
        let want = 4.0 * per_slot;
        assert!(
            (tput - want).abs() <= 0.10 * want,
            "level {}: {tput:.1} tok/s, 4 slots × {per_slot:.1} = {want:.1}",
            l["level"]
        );
    }
    // Queue wait: none while streams fit the slots, then it grows with the queue, as the emulator measured it.
    // Means: with 16 requests on 4 slots, 16 streams wait 0, 1, 2 or 3 services, 8 streams 0 or 1.
    let q = |i: usize| levels[i]["queue_wait"]["mean"].as_f64().unwrap();
    let service = 1.0 / per_slot * 10.0;
    assert!(q(2) < 0.25 * service, "level 4 waits {:.3} s", q(2));
    assert!(
        q(3) > 0.5 * service && q(4) > 1.3 * q(3),
        "levels 8, 16: {:.3} s, {:.3} s",
        q(3),
        q(4)
    );
    let recorded = |tag: &str| {
        let w: Vec<f64> = emu
            .requests()
            .iter()
            .filter(|r| level_of(r).as_deref() == Some(tag))
            .map(|r| r.phases.slot_wait.as_secs_f64())
            .collect();
        w.iter().sum::<f64>() / w.len() as f64
    };
    for (i, tag) in [(3, "8"), (4, "16")] {
        let (est, truth) = (q(i), recorded(tag));
        assert!(
            (est - truth).abs() <= 0.2 * truth + 0.02,
            "level {tag}: estimate {est:.3} s, emulator {truth:.3} s"
        );
    }
    // Think-aware: time to first answer token is after the reasoning.
    for l in levels {
        assert!(
            l["ttfat"]["p50"].as_f64() > l["ttft"]["p50"].as_f64(),
            "{l}"
        );
        assert!(l["think_s"]["p50"].as_f64().unwrap() > 0.05, "{l}");
    }

    // The CSV has the same numbers.
    let csv = std::fs::read_to_string(out.join("levels.csv")).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    for (row, l) in rows.zip(levels) {
        let cells: Vec<&str> = row.split(',').collect();
        let col = |n: &str| {
            cells[header.iter().position(|h| *h == n).unwrap()]
                .parse::<f64>()
                .unwrap()
        };
        // The same number: both files write the shortest exact form, but serde_json's default float parsing
        // may land one unit in the last place away from the exact value (its `float_roundtrip` feature is off).
        let same = |name: &str, json: f64| {
            let csv = col(name);
            assert!(
                (csv - json).abs() <= 4.0 * f64::EPSILON * json.abs(),
                "{name}: CSV {csv}, JSON {json}"
            );
        };
        same(
            "output_tokens_per_s",
            l["output_tokens_per_s"].as_f64().unwrap(),
        );
        same("queue_wait_p95", l["queue_wait"]["p95"].as_f64().unwrap());
        same("ttfat_p50", l["ttfat"]["p50"].as_f64().unwrap());
        // And the table printed them, rounded.
        assert!(
            stdout.contains(&format!("{:.1}", col("output_tokens_per_s"))),
            "{stdout}"
        );
    }

    // The chart: axis titles in the SVG, and Chromium draws it.
    let svg_path = out.join("chart.svg");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    for label in [
        "output tokens/s (all streams)",
        "latency (s)",
        "concurrent streams",
        "knee",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    let png = out.join("chart.png");
    let status = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .args(["--window-size=1280,900"])
        .arg(format!("file://{}", svg_path.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "chromium made no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        png_has_content(&png),
        "the screenshot {} is blank",
        png.display()
    );
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/PID/stat` (clock ticks of 1/100 s).
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_sidecar_at_64_streams_requests_are_tagged_and_the_generator_costs_less_cpu() {
    let emu = Emulator::start(Script {
        first_delay: Duration::from_millis(5),
        think_delay: Duration::from_millis(2),
        answer_delay: Duration::from_millis(2),
        ..Script::default()
    })
    .await;
    let cfg = write_temp(&default_config_on_port_zero());
    let sidecar = LlmtelProcess::spawn(&[
        "--config",
        cfg.path().to_str().unwrap(),
        "--upstream",
        &emu.url(),
    ]);
    let proxy = sidecar.endpoint("llm_proxy listening");
    let prom = sidecar.endpoint("prometheus exporter listening");
    let out = target_dir().join("load-test").join("sidecar-64");
    let _ = std::fs::remove_dir_all(&out);
    let out_s = out.to_str().unwrap().to_owned();
    let before = cpu_of(sidecar.pid());
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        load(&[
            "--target",
            &format!("http://{proxy}"),
            "--model",
            "qwen3:14b",
            "--concurrency",
            "64",
            "--requests",
            "512",
            "--warmup",
            "0",
            "--run-id",
            "cpu64",
            "--out",
            &out_s,
        ])
    })
    .await
    .unwrap();
    let sidecar_cpu = cpu_of(sidecar.pid()) - before;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("levels.json")).unwrap()).unwrap();
    assert_eq!(report["levels"][0]["ok"], 512, "{stdout}");
    let n = report["requests_sent"].as_f64().unwrap();
    let load_ms = report["generator_cpu_s"].as_f64().unwrap() * 1e3 / n;
    let sidecar_ms = sidecar_cpu * 1e3 / n;
    println!(
        "CPU per request at 64 streams: llmtel load {load_ms:.3} ms, the sidecar {sidecar_ms:.3} ms ({n} requests)"
    );
    assert!(
        load_ms < sidecar_ms,
        "the load generator {load_ms:.3} ms ≥ the sidecar {sidecar_ms:.3} ms per request"
    );

    // Every request reached the upstream tagged, and its metrics carry the run and level.
    let tagged = emu
        .requests()
        .iter()
        .filter(|r| level_of(r).as_deref() == Some("64"))
        .count();
    assert_eq!(tagged, 512);
    let url = format!("http://{prom}/metrics");
    let run_line = |text: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("gen_ai_client_operation_duration_seconds_count")
                    && l.contains("llmtel_load_run_id=\"cpu64\"")
            })
            .map(str::to_owned)
    };
    let mut text = String::new();
    // The last requests' spans become metrics a moment after their responses end: wait for all 512.
    for _ in 0..100 {
        text = String::from_utf8_lossy(
            &integration_tests::http_request("GET", &url, &[], Vec::new())
                .await
                .body,
        )
        .into_owned();
        if run_line(&text).is_some_and(|l| l.trim_end().ends_with(" 512")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let line = run_line(&text).unwrap_or_else(|| panic!("no series of the run:\n{text}"));
    assert!(line.contains("llmtel_load_level=\"64\""), "{line}");
    let refused: Vec<&str> = text.lines().filter(|l| l.contains("refused")).collect();
    assert!(
        line.trim_end().ends_with(" 512"),
        "{line}\nrefusals: {refused:?}"
    );
    let _ = sidecar.terminate();
}

/// Ctrl-C (SIGINT) in the middle of a level: `llmtel load` stops at once, cancels what is in flight, still prints
/// its table and writes its files with the requests that finished, the level marked interrupted, and exits 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_and_still_reports_what_it_measured() {
    // Each request takes about 1.2 s: the interrupt lands while some are in flight.
    let emu = Emulator::start(Script {
        first_delay: Duration::from_millis(100),
        answer_delay: Duration::from_millis(120),
        ..paced()
    })
    .await;
    let out = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(llmtel_binary())
        .args(["load", "--target", &emu.url(), "--model", "qwen3:14b"])
        .args(["--concurrency", "2", "--requests", "40", "--warmup", "0"])
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let a few requests finish, then interrupt.
    integration_tests::wait_until(
        "three finished load requests",
        Duration::from_secs(20),
        || emu.requests().iter().filter(|r| r.completed).count() >= 3,
    )
    .await;
    let sent_before = emu.requests().len();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let interrupted_at = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let took = interrupted_at.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        took < Duration::from_secs(5),
        "it took {took:?} to stop after the interrupt"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.contains("*: interrupted"), "{stdout}");
    // Nothing more was sent after the interrupt than what was already on its way, and it did not run to 40.
    let sent = emu.requests().len();
    assert!(
        sent <= sent_before + 2 && sent < 40,
        "{sent_before} then {sent}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("levels.json")).unwrap())
            .unwrap();
    let level = &report["levels"][0];
    assert_eq!(level["interrupted"], true, "{level}");
    let ok = level["ok"].as_u64().unwrap();
    assert!((3..40).contains(&ok), "{level}");
    assert!(
        std::fs::read_to_string(out.path().join("levels.csv"))
            .unwrap()
            .lines()
            .nth(1)
            .is_some_and(|row| row.contains("true"))
    );
}
