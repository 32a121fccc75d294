//! Settings of the `prometheusremotewrite` exporter: decoded, checked with their paths, secrets redacted.

use super::{ExporterConfig, parse};

fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml, &|_: &str| None) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn with(exporter: &str) -> String {
    format!(
        "receivers: {{otlp: {{}}}}\nexporters:\n  prometheusremotewrite: {exporter}\nservice:\n  pipelines: {{metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}}}\n"
    )
}

#[test]
fn remote_write_settings_are_checked_with_their_paths() {
    let cfg = parse(
        &with(r#"{endpoint: "https://mimir.example/api/v1/push", headers: {X-Scope-OrgID: t1}, basic_auth: {username: u, password: p4ss}, external_labels: {cluster: eu}}"#),
        &|_: &str| None,
    )
    .unwrap();
    let Some(ExporterConfig::PrometheusRemoteWrite(c)) = cfg.exporters.values().next() else {
        panic!("a prometheusremotewrite exporter");
    };
    assert_eq!(
        c.sending_queue.num_consumers, 1,
        "one consumer keeps samples in order"
    );
    let t = c.translation();
    assert_eq!(
        t.const_labels.get("cluster").map(String::as_str),
        Some("eu")
    );
    assert!(t.add_metric_suffixes);
    assert!(!cfg.to_yaml().contains("p4ss"), "the password is redacted");

    let p = "exporters.prometheusremotewrite";
    for (settings, path) in [
        ("{}", format!("{p}.endpoint")),
        (r#"{endpoint: "ftp://x"}"#, format!("{p}.endpoint")),
        (
            r#"{endpoint: "http://h/w", bearer_token: t, basic_auth: {username: u, password: p}}"#,
            format!("{p}.bearer_token"),
        ),
        (
            r#"{endpoint: "http://h/w", headers: {Content-Encoding: gzip}}"#,
            format!("{p}.headers.Content-Encoding"),
        ),
        (
            r#"{endpoint: "http://h/w", external_labels: {"bad-name": x}}"#,
            format!("{p}.external_labels.bad-name"),
        ),
        (
            r#"{endpoint: "http://h/w", timeout: 0s}"#,
            format!("{p}.timeout"),
        ),
    ] {
        let errs = errors(&with(settings));
        assert!(
            errs.iter().any(|e| e.starts_with(&format!("{path}:"))),
            "{settings}: {errs:?}"
        );
    }
}
