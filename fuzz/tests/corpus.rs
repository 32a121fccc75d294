//! Replays every seed (`corpus/<target>/`) and every saved crash (`regressions/<target>/`) through its target,
//! without AFL: the targets' invariants hold on real traffic, and no crash the fuzzer found comes back.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            eprintln!("{target}: {}", path.display());
            run(&data);
            seen += 1;
        }
    }
    assert!(seen > 0, "no seed for target {target}");
}

#[test]
fn stream() {
    replay("stream", llmtel_fuzz::stream::run);
}

#[test]
fn request() {
    replay("request", llmtel_fuzz::request::run);
}

#[test]
fn otlp() {
    replay("otlp", llmtel_fuzz::otlp::run);
}

#[test]
fn config() {
    replay("config", llmtel_fuzz::config::run);
}

#[test]
fn prometheus() {
    replay("prometheus", llmtel_fuzz::prometheus::run);
}
