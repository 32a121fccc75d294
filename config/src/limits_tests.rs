//! The `llm_proxy` limits' defaults and checks (`max_concurrent_requests`, `write_timeout`, `drain_timeout`).

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml, &no_env) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn llm_proxy_limits_have_defaults_and_are_checked() {
    let cfg = load_with_env(None, &no_env).unwrap();
    let ReceiverConfig::LlmProxy(p) = &cfg.receivers[&ComponentId::parse("llm_proxy").unwrap()]
    else {
        panic!("the default config has an llm_proxy");
    };
    assert_eq!(p.max_concurrent_requests, 512);
    assert_eq!(p.write_timeout.get(), std::time::Duration::from_secs(60));
    assert_eq!(p.drain_timeout.get(), std::time::Duration::from_secs(25));
    assert_eq!(cfg.max_drain(), std::time::Duration::from_secs(25));
    let joined = errors(
        r#"
receivers:
  llm_proxy: {max_concurrent_requests: 0, write_timeout: 0s, drain_timeout: 0s}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [llm_proxy], exporters: [debug]}}}
"#,
    )
    .join("\n");
    assert!(
        joined.contains("receivers.llm_proxy.max_concurrent_requests: 0: expected at least 1"),
        "{joined}"
    );
    assert!(
        joined.contains("receivers.llm_proxy.write_timeout: 0s"),
        "{joined}"
    );
    assert!(
        !joined.contains("drain_timeout"),
        "a drain of 0s (cut at once) is allowed: {joined}"
    );
}
