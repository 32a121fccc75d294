//! The fleet example and Kubernetes manifests in `deploy/`: the manifests pass `kubernetes-validate --strict`
//! offline (and a broken one does not), every llmtel sidecar has its probes on `/healthz` and `/readyz`, limits and
//! a scrape port that exists (`deploy/kubernetes/check_manifests.py`), and every llmtel config in them and in
//! `deploy/fleet/` passes `llmtel validate`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use integration_tests::llmtel_binary;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "manifests in deploy/kubernetes: {files:?}"
    );
    files
}

fn kubernetes_validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("kubernetes-validate is not installed ({e}): run scripts/test.sh or `pip install kubernetes-validate==1.37.0`")
        });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn llmtel_validate(config: &std::path::Path) {
    let out = Command::new(llmtel_binary())
        .arg("--config")
        .arg(config)
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "llmtel validate {}:\n{}{}",
        config.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_kubernetes_manifests_pass_kubernetes_validate_offline() {
    let files = manifests();
    let (ok, said) = kubernetes_validate(&files);
    assert!(ok, "kubernetes-validate --strict:\n{said}");
    for f in &files {
        assert!(said.contains(&format!("{} passed", f.display())), "{said}");
    }
    // The check can fail: a port given as a word and an unknown field are refused.
    let broken = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    let text = std::fs::read_to_string(repo("deploy/kubernetes/ollama.yaml"))
        .unwrap()
        .replace("containerPort: 11435", "containerPort: eleven")
        .replace("readinessProbe:", "readinesProbe:");
    std::fs::write(broken.path(), text).unwrap();
    let (ok, said) = kubernetes_validate(&[broken.path().to_path_buf()]);
    assert!(!ok, "a broken manifest passed:\n{said}");
}

#[test]
fn sidecars_have_probes_limits_and_configs_llmtel_accepts() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(repo("deploy/kubernetes/check_manifests.py"))
        .arg(out_dir.path())
        .args(manifests())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_manifests.py:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut configs: Vec<PathBuf> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        configs.len(),
        2,
        "one llmtel config per manifest: {configs:?}"
    );
    configs.push(repo("deploy/fleet/sidecar.yaml"));
    configs.push(repo("deploy/fleet/gateway.yaml"));
    for c in &configs {
        llmtel_validate(c);
    }
    // And a config llmtel refuses is refused (the validation is real).
    let bad = integration_tests::write_temp(
        "exporters: {prometheusremotewrite: {endpoint: \"ftp://x\"}}\nreceivers: {otlp: {}}\nservice: {pipelines: {metrics: {receivers: [otlp], exporters: [prometheusremotewrite]}}}\n",
    );
    let out = Command::new(llmtel_binary())
        .arg("--config")
        .arg(bad.path())
        .arg("validate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exporters.prometheusremotewrite.endpoint")
            || String::from_utf8_lossy(&out.stdout)
                .contains("exporters.prometheusremotewrite.endpoint"),
        "{out:?}"
    );
}
