//! Unit tests of `llmtel load`'s arithmetic and files: percentiles, the knee, the command line's checks, the
//! request bodies as the sidecar reads them, and that CSV, JSON and the table carry the same numbers.

use std::time::Duration;

use super::client::{End, Outcome};
use super::run::Report;
use super::stats::{Dist, Level, knee, level};
use super::*;

fn outcome(e2e_ms: u64, tokens: u64) -> Outcome {
    let ms = Duration::from_millis;
    Outcome {
        end: End::Ok,
        e2e: ms(e2e_ms),
        first_token: Some(ms(e2e_ms / 4)),
        first_answer: Some(ms(e2e_ms / 2)),
        think: Some(ms(e2e_ms / 4)),
        answer: Some(ms(e2e_ms / 2)),
        last_token: Some(ms(e2e_ms)),
        output_tokens: tokens,
        tokens_estimated: false,
        token_chunks: tokens,
        queue_wait: Some(ms(1)),
        server_prefill: None,
        server_decode: Some(ms(e2e_ms / 2)),
        server_decode_tokens: Some(tokens),
        server_first_token: None,
    }
}

/// A level of `c` streams that made `tput` tokens/s with median latency `lat` s.
fn lv(c: u32, tput: f64, lat: f64) -> Level {
    let mut l = level(
        "default",
        Some(c),
        None,
        &c.to_string(),
        &[outcome(1000, 10)],
        Duration::from_secs(1),
    );
    l.output_tokens_per_s = tput;
    l.e2e = Some(Dist {
        p50: lat,
        p95: lat,
        p99: lat,
        mean: lat,
    });
    l
}

#[test]
fn nearest_rank_percentiles() {
    let d = Dist::of((1..=100).map(f64::from).collect()).unwrap();
    assert_eq!((d.p50, d.p95, d.p99), (50.0, 95.0, 99.0));
    assert_eq!(Dist::of(vec![3.0]).unwrap().p99, 3.0);
    assert!(Dist::of(Vec::new()).is_none());
}

#[test]
fn the_knee_is_where_throughput_flattens_while_latency_climbs() {
    let levels = [
        lv(1, 100.0, 1.0),
        lv(2, 198.0, 1.0),
        lv(4, 390.0, 1.05),
        lv(8, 395.0, 2.0),
        lv(16, 396.0, 4.0),
    ];
    let refs: Vec<&Level> = levels.iter().collect();
    assert_eq!(knee(&refs), Some(2), "level 4");
    // Still rising: no knee.
    assert_eq!(knee(&refs[..3]), None);
    // Flat throughput but flat latency too (an idle server at its client limit) is no knee.
    let flat = [lv(1, 100.0, 1.0), lv(2, 100.0, 1.0)];
    assert_eq!(knee(&flat.iter().collect::<Vec<_>>()), None);
}

#[test]
fn a_level_counts_errors_and_timeouts_apart_and_rates_over_its_wall_time() {
    let mut outs = vec![outcome(1000, 11), outcome(2000, 21)];
    outs.push(Outcome {
        end: End::Timeout,
        ..outcome(5000, 0)
    });
    outs.push(Outcome {
        end: End::Error("HTTP 500".into()),
        ..outcome(5, 0)
    });
    let l = level("on", Some(2), None, "2", &outs, Duration::from_secs(4));
    assert_eq!((l.ok, l.errors, l.timeouts), (2, 1, 1));
    assert_eq!(l.requests_per_s, 0.5);
    assert_eq!(l.output_tokens_per_s, 8.0);
    // TPOT of the first: (1 s − 0.25 s) / 10 tokens.
    assert!((l.tpot.unwrap().p50 - 0.075).abs() < 1e-9);
}

fn args(extra: &[&str]) -> LoadArgs {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: LoadArgs,
    }
    let mut argv = vec!["load", "--model", "m"];
    argv.extend_from_slice(extra);
    Cli::parse_from(argv).a
}

#[test]
fn the_command_line_is_checked_whole_and_defaults_are_safe() {
    let p = plan(args(&[])).unwrap();
    assert_eq!(p.target.base, "http://127.0.0.1:11434");
    assert!(p.target.loopback);
    assert_eq!(p.levels.len(), 5);
    assert_eq!(p.args.requests, 32);
    let errs = plan(args(&[
        "--target",
        "https://x",
        "--concurrency",
        "0,2",
        "--requests",
        "0",
        "--timeout=-1",
    ]))
    .unwrap_err();
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs.iter().any(|e| e.starts_with("--target \"https://x\"")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("--concurrency 0")),
        "{errs:?}"
    );
    let remote = plan(args(&["--target", "http://gpu-box:8000/v1"])).unwrap();
    assert_eq!(remote.target.base, "http://gpu-box:8000");
    assert!(!remote.target.loopback);
}

#[test]
fn every_api_asks_for_think_modes_as_the_sidecar_reads_them() {
    for api in [
        LoadApi::Ollama,
        LoadApi::OpenaiChat,
        LoadApi::OpenaiResponses,
        LoadApi::Anthropic,
    ] {
        for (mode, want) in [
            (ThinkMode::On, Some("on")),
            (ThinkMode::Off, Some("off")),
            (ThinkMode::Default, None),
        ] {
            let b = target::body(api, "m", "hi", mode, Some(64)).to_string();
            let facts = llmtel_instrument::proxy::request::parse(api.api(), b.as_bytes(), false);
            let got = facts
                .think
                .as_deref()
                .map(|t| if t == "medium" { "on" } else { t });
            assert_eq!(got, want, "{api:?} {mode:?}: {b}");
            assert!(facts.stream, "{api:?} streams");
            assert_eq!(facts.model.as_deref(), Some("m"));
        }
    }
}

fn report() -> Report {
    let levels = vec![lv(1, 100.0, 1.0), lv(2, 190.5, 1.2)];
    Report {
        run_id: "r1".into(),
        target: "http://127.0.0.1:1".into(),
        api: LoadApi::Ollama,
        model: "m".into(),
        levels,
        knees: vec![("default".into(), None)],
        requests_sent: 2,
        generator_cpu_s: Some(0.01),
        interrupted: false,
    }
}

#[test]
fn csv_json_and_table_carry_the_same_numbers() {
    let r = report();
    let json: serde_json::Value = serde_json::from_str(&output::json(&r)).unwrap();
    let csv = output::csv(&r);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, output::CSV_COLUMNS);
    let table = output::table(&r);
    for (i, row) in lines.enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), header.len());
        let col = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
        let j = &json["levels"][i];
        assert_eq!(
            col("output_tokens_per_s").parse::<f64>().unwrap(),
            j["output_tokens_per_s"].as_f64().unwrap()
        );
        assert_eq!(
            col("e2e_p50").parse::<f64>().unwrap(),
            j["e2e"]["p50"].as_f64().unwrap()
        );
        let trow = output::table_row(&r.levels[i]).join(" ");
        assert!(
            table.contains(&format!(
                "{:.1}",
                j["output_tokens_per_s"].as_f64().unwrap()
            )),
            "{table}"
        );
        assert!(
            trow.contains(&output::ms(j["e2e"]["p50"].as_f64())),
            "{trow}"
        );
    }
    assert!(table.contains("knee (think default): none"), "{table}");
}

#[test]
fn the_chart_has_its_axis_titles_and_the_knee() {
    let r = report();
    let refs: Vec<&Level> = r.levels.iter().collect();
    let svg = svg::chart("m", &refs, Some("2"));
    for label in [
        "output tokens/s (all streams)",
        "latency (s)",
        "concurrent streams",
        "median time (s)",
        "knee",
        "think",
        "answer",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    assert!(!svg.contains("NaN"), "{svg}");
    assert!(!svg.contains("href"), "self-contained");
}

#[test]
fn tick_labels_are_short() {
    let r = report();
    let mut refs: Vec<Level> = r.levels.clone();
    for l in &mut refs {
        l.e2e = Some(Dist {
            p50: 0.7,
            p95: 0.7,
            p99: 0.7,
            mean: 0.7,
        });
    }
    let svg = svg::chart("m", &refs.iter().collect::<Vec<_>>(), None);
    assert!(!svg.contains("00000"), "{svg}");
}
