//! What a run prints and writes: the table at the end (with the knee and the generator's own CPU time), and under
//! `--out DIR` `levels.json` (the whole [`Report`]), `levels.csv` (one row per level, the table's columns and
//! more, unrounded) and the SVG chart(s) ([`super::svg`]). The table rounds what the files hold exactly.

use std::fmt::Write as _;
use std::path::Path;

use super::run::Report;
use super::stats::{Dist, Level};

/// The CSV columns, in order; each is one figure of a [`Level`] (seconds for durations).
pub const CSV_COLUMNS: &[&str] = &[
    "think",
    "level",
    "concurrency",
    "rate",
    "ok",
    "errors",
    "timeouts",
    "interrupted",
    "wall_s",
    "requests_per_s",
    "output_tokens_per_s",
    "tokens_per_s_per_request_p50",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "ttfat_p50",
    "ttfat_p95",
    "ttfat_p99",
    "think_p50",
    "answer_p50",
    "itl_p50",
    "itl_p95",
    "itl_p99",
    "tpot_p50",
    "e2e_p50",
    "e2e_p95",
    "e2e_p99",
    "queue_wait_p50",
    "queue_wait_p95",
    "queue_wait_p99",
    "server_tokens_per_s_p50",
    "server_ttft_p50",
    "gpu_utilization_mean",
    "gpu_memory_max_bytes",
    "gpu_power_mean_w",
];

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// One CSV row of `l`, in [`CSV_COLUMNS`] order.
fn csv_row(l: &Level) -> Vec<String> {
    let d = |x: Option<Dist>, f: fn(Dist) -> f64| opt(x.map(f));
    type Pick = fn(Dist) -> f64;
    let (p50, p95, p99): (Pick, Pick, Pick) = (|d| d.p50, |d| d.p95, |d| d.p99);
    let gpu = l.gpu;
    vec![
        l.think.clone(),
        l.level.clone(),
        opt(l.concurrency.map(f64::from)),
        opt(l.rate),
        l.ok.to_string(),
        l.errors.to_string(),
        l.timeouts.to_string(),
        l.interrupted.to_string(),
        l.wall_s.to_string(),
        l.requests_per_s.to_string(),
        l.output_tokens_per_s.to_string(),
        d(l.tokens_per_s_per_request, p50),
        d(l.ttft, p50),
        d(l.ttft, p95),
        d(l.ttft, p99),
        d(l.ttfat, p50),
        d(l.ttfat, p95),
        d(l.ttfat, p99),
        d(l.think_s, p50),
        d(l.answer_s, p50),
        d(l.itl, p50),
        d(l.itl, p95),
        d(l.itl, p99),
        d(l.tpot, p50),
        d(l.e2e, p50),
        d(l.e2e, p95),
        d(l.e2e, p99),
        d(l.queue_wait, p50),
        d(l.queue_wait, p95),
        d(l.queue_wait, p99),
        d(l.server_tokens_per_s, p50),
        d(l.server_ttft, p50),
        opt(gpu.and_then(|g| g.utilization_mean)),
        opt(gpu.and_then(|g| g.memory_max_bytes)),
        opt(gpu.and_then(|g| g.power_mean_w)),
    ]
}

/// `levels.csv`: a header and one row per level (no field needs quoting: think modes and level tags are plain).
pub fn csv(r: &Report) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for l in &r.levels {
        out.push_str(&csv_row(l).join(","));
        out.push('\n');
    }
    out
}

/// `levels.json`: the whole report.
pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Milliseconds, as the table prints them.
pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}", v * 1e3))
}

/// The table's header.
pub const TABLE_HEADER: &[&str] = &[
    "think",
    "level",
    "ok",
    "err",
    "t/o",
    "req/s",
    "tok/s",
    "tok/s/req",
    "ttft p50",
    "ttfat p50",
    "think p50",
    "answer p50",
    "itl p50",
    "e2e p50",
    "e2e p95",
    "e2e p99",
    "queue p50",
    "gpu util",
];

/// One table row of `l` (durations in milliseconds).
pub fn table_row(l: &Level) -> Vec<String> {
    let p50 = |d: Option<Dist>| d.map(|d| d.p50);
    vec![
        l.think.clone(),
        format!("{}{}", l.level, if l.interrupted { "*" } else { "" }),
        l.ok.to_string(),
        l.errors.to_string(),
        l.timeouts.to_string(),
        format!("{:.2}", l.requests_per_s),
        format!("{:.1}", l.output_tokens_per_s),
        p50(l.tokens_per_s_per_request).map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")),
        ms(p50(l.ttft)),
        ms(p50(l.ttfat)),
        ms(p50(l.think_s)),
        ms(p50(l.answer_s)),
        ms(p50(l.itl)),
        ms(p50(l.e2e)),
        ms(l.e2e.map(|d| d.p95)),
        ms(l.e2e.map(|d| d.p99)),
        ms(p50(l.queue_wait)),
        l.gpu
            .and_then(|g| g.utilization_mean)
            .map_or_else(|| "-".to_owned(), |u| format!("{:.0}%", u * 100.0)),
    ]
}

/// The table at the end, the knee of each think mode, and the generator's CPU time.
pub fn table(r: &Report) -> String {
    let mut rows: Vec<Vec<String>> = vec![TABLE_HEADER.iter().map(|h| (*h).to_owned()).collect()];
    rows.extend(r.levels.iter().map(table_row));
    let widths: Vec<usize> = (0..TABLE_HEADER.len())
        .map(|c| {
            rows.iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "llmtel load {} → {}, model {}; durations in ms\n",
        r.run_id, r.target, r.model
    );
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    if r.levels.iter().any(|l| l.tokens_estimated) {
        out.push_str(
            "tok/s: chunk counts where the server reported no token counts (an estimate)\n",
        );
    }
    if r.levels.iter().any(|l| l.interrupted) {
        out.push_str("*: interrupted, figures of the requests that finished\n");
    }
    for l in r.levels.iter().filter(|l| l.first_error.is_some()) {
        let e = l.first_error.as_deref().unwrap_or_default();
        let _ = writeln!(out, "think {} level {}: first error: {e}", l.think, l.level);
    }
    for (think, knee) in &r.knees {
        let _ = match knee {
            Some(k) => writeln!(
                out,
                "knee (think {think}): level {k}: past it throughput stops rising while latency climbs"
            ),
            None => writeln!(
                out,
                "knee (think {think}): none: throughput still rose at the last level"
            ),
        };
    }
    if let Some(ms) = r.cpu_ms_per_request() {
        let _ = writeln!(
            out,
            "load generator CPU: {:.3} ms per request ({} requests)",
            ms, r.requests_sent
        );
    }
    out
}

/// Writes `levels.csv`, `levels.json` and the chart(s) into `dir` (made if missing).
pub fn write_dir(dir: &Path, r: &Report) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("--out {}: cannot make it: {e}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("--out: cannot write {}: {e}", p.display()))
    };
    write("levels.csv", &csv(r))?;
    write("levels.json", &json(r))?;
    let thinks: Vec<&String> = r.knees.iter().map(|(t, _)| t).collect();
    for (think, knee) in &r.knees {
        let levels: Vec<&Level> = r.levels.iter().filter(|l| &l.think == think).collect();
        let title = format!("{} · {} · think {think}", r.model, r.target);
        let svg = super::svg::chart(&title, &levels, knee.as_deref());
        let name = if thinks.len() == 1 {
            "chart.svg".to_owned()
        } else {
            format!("chart-think-{think}.svg")
        };
        write(&name, &svg)?;
    }
    Ok(())
}
