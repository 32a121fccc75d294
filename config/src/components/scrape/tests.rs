use super::*;

#[test]
fn targets_resolve_like_prometheus() {
    let u = scrape_url("127.0.0.1:9100", "http", "/metrics").unwrap();
    assert_eq!(u.url, "http://127.0.0.1:9100/metrics");
    assert_eq!(u.instance, "127.0.0.1:9100");
    let u = scrape_url("https://gpu-1/probe", "http", "/metrics").unwrap();
    assert_eq!(
        (u.url.as_str(), u.port, u.scheme.as_str()),
        ("https://gpu-1:443/probe", 443, "https")
    );
    let u = scrape_url("[::1]:8080", "http", "/m").unwrap();
    assert_eq!(
        (u.host.as_str(), u.url.as_str()),
        ("::1", "http://[::1]:8080/m")
    );
    assert!(scrape_url("ftp://x:1", "http", "/").is_err());
    assert!(scrape_url("x:99999", "http", "/").is_err());
    assert!(scrape_url(":80", "http", "/").is_err());
    assert!(scrape_url("user@x:80", "http", "/").is_err());
}

#[test]
fn label_names_are_checked() {
    assert!(check_label_name("env").is_ok());
    assert!(check_label_name("9x").is_err());
    assert!(check_label_name("__name__").is_err());
    assert!(check_label_name("job").is_err());
    assert!(check_label_name("a-b").is_err());
}

fn errors(receiver: &str) -> Vec<String> {
    let yaml = format!(
        "receivers:\n  prometheus: {receiver}\nexporters:\n  debug: {{}}\nservice:\n  pipelines: {{metrics: {{receivers: [prometheus], exporters: [debug]}}}}\n"
    );
    match crate::parse(&yaml, &|_| None) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_good_config_decodes_and_its_token_never_prints() {
    let yaml = "receivers:\n  prometheus:\n    config:\n      scrape_configs:\n        - job_name: llama\n          scrape_interval: 15s\n          bearer_token: hunter2\n          static_configs: [{targets: [\"127.0.0.1:8080\"], labels: {env: prod}}]\nexporters:\n  debug: {}\nservice:\n  pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}\n";
    let cfg = crate::parse(yaml, &|_| None).unwrap();
    let printed = format!("{cfg:?}");
    assert!(printed.contains("llama"), "{printed}");
    assert!(!printed.contains("hunter2"), "the token printed: {printed}");
}

#[test]
fn bad_configs_name_the_path() {
    let e = errors("{config: {scrape_configs: []}}");
    assert!(
        e.iter().any(
            |e| e.contains("receivers.prometheus.config.scrape_configs") && e.contains("empty")
        ),
        "{e:?}"
    );
    let e = errors(
        "{config: {scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 10s, scheme: ftp, bearer_token: x, bearer_token_file: /t, static_configs: [{targets: [\"x:99999\"], labels: {job: j}}]}, {job_name: a, static_configs: [{targets: [\"y:1\"]}]}]}}",
    );
    let joined = e.join("\n");
    for want in [
        "scrape_configs[0].scrape_timeout",
        "scrape_configs[0].scheme",
        "scrape_configs[0].bearer_token_file",
        "scrape_configs[0].static_configs[0].targets[0]",
        "scrape_configs[0].static_configs[0].labels.job",
        "scrape_configs[1].job_name",
    ] {
        assert!(joined.contains(want), "no error at {want}:\n{joined}");
    }
    assert!(!joined.contains("x\""), "the token in an error: {joined}");
    let e = errors("{config: {scrape_configs: [{job_name: a}]}}");
    assert!(
        e.iter()
            .any(|e| e.contains("static_configs") && e.contains("no target")),
        "{e:?}"
    );
}
