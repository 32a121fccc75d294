//! The `memory_limiter` processor's settings: its place in a pipeline, its limits, its defaults.

use crate::*;

#[test]
fn a_memory_limiter_must_come_first_and_have_a_limit() {
    let yaml = r#"
receivers: {otlp: {}}
processors:
  batch: {}
  memory_limiter: {limit_mib: 100, spike_limit_mib: 100}
  memory_limiter/none: {}
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch, memory_limiter], exporters: [debug]}
"#;
    let errors: Vec<String> = parse(yaml, &|_| None)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    let joined = errors.join("\n");
    assert!(
        joined.contains(
            "service.pipelines.traces.processors[1]: \"memory_limiter\" is a memory_limiter: it must be the first processor"
        ),
        "{joined}"
    );
    assert!(
        joined.contains(
            "processors.memory_limiter.spike_limit_mib: 100: must be below limit_mib (100)"
        ),
        "{joined}"
    );
    assert!(
        joined.contains("processors.memory_limiter/none.limit_mib: 0 or missing"),
        "{joined}"
    );
    let ok = parse(
        "receivers: {otlp: {}}\nprocessors: {memory_limiter: {limit_mib: 100}}\nexporters: {debug: {}}\nservice: {pipelines: {traces: {receivers: [otlp], processors: [memory_limiter], exporters: [debug]}}}",
        &|_| None,
    )
    .unwrap();
    let Some(ProcessorConfig::MemoryLimiter(m)) = ok.processors.values().next() else {
        panic!("a memory_limiter");
    };
    assert_eq!(
        (m.spike_mib(), m.soft_limit_mib()),
        (20, 80),
        "spike 20 % of the limit by default"
    );
}
