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
fn default_config_is_valid_and_round_trips_through_print_config() {
    let cfg = load_with_env(None, &no_env).unwrap();
    let grpc = match &cfg.receivers[&ComponentId::parse("otlp").unwrap()] {
        ReceiverConfig::Otlp(o) => o.protocols.grpc.clone().unwrap(),
        other => panic!("otlp receiver decoded as {other:?}"),
    };
    assert_eq!(grpc.endpoint.as_str(), "127.0.0.1:4317");
    assert_eq!(grpc.max_recv_msg_size_mib, 4);
    assert_eq!(
        cfg.service.telemetry.admin.endpoint.as_str(),
        "127.0.0.1:8888"
    );
    assert_eq!(cfg.service.pipelines.len(), 3);
    assert_eq!(cfg.service.telemetry.resource["service.name"], "llmtel");
    let printed = cfg.to_yaml();
    assert!(printed.contains("send_batch_size: 8192"), "{printed}");
    let again = parse(&printed, &no_env).unwrap();
    assert_eq!(
        again, cfg,
        "print-config output must load back to the same config:\n{printed}"
    );
}

#[test]
fn five_mistakes_are_all_reported_with_their_paths() {
    let yaml = include_str!("../tests/fixtures/five-mistakes.yaml");
    let errs = errors(yaml);
    let expect = [
        r#"receivers.otlp.protocols.grpc.endpont: unknown key "endpont" (did you mean "endpoint"?)"#,
        r#"processors.batch.send_batch_size: "lots": expected a whole number"#,
        r#"processors.batch.timeout: "soon": expected a duration"#,
        r#"exporters.debug.verbosity: unknown value "verbose""#,
        r#"service.pipelines.traces.receivers[0]: "otlp2" is not defined under receivers (did you mean "otlp"? defined: otlp)"#,
    ];
    assert_eq!(errs.len(), 5, "{errs:#?}");
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in {errs:#?}"
        );
    }
}

#[test]
fn unknown_component_types_and_sections_are_named() {
    let errs = errors(
        r#"
recievers: {}
exporters:
  promethues: {}
service:
  pipelines:
    traces: {receivers: [], exporters: []}
    spans: {receivers: [x], exporters: [y]}
"#,
    );
    let all = errs.join("\n");
    assert!(
        all.contains(r#"recievers: unknown key "recievers" (did you mean "receivers"?)"#),
        "{all}"
    );
    assert!(
        all.contains(r#"exporters.promethues: unknown type "promethues""#),
        "{all}"
    );
    assert!(
        all.contains("service.pipelines.traces.receivers: empty"),
        "{all}"
    );
    assert!(
        all.contains("service.pipelines.traces.exporters: empty"),
        "{all}"
    );
    assert!(
        all.contains(
            r#"service.pipelines.spans: "spans": a pipeline id is traces, metrics or logs"#
        ),
        "{all}"
    );
}

#[test]
fn connector_cycles_are_refused() {
    let errs = errors(
        r#"
receivers: {otlp: {}}
exporters: {debug: {}}
connectors: {forward/a: {}, forward/b: {}}
service:
  pipelines:
    traces/in: {receivers: [otlp], exporters: [forward/a]}
    traces/x: {receivers: [forward/a], exporters: [forward/b]}
    traces/y: {receivers: [forward/b], exporters: [forward/a, debug]}
"#,
    );
    let all = errs.join("\n");
    assert!(
        all.contains(
            "connectors form a cycle: traces/x -[forward/b]-> traces/y -[forward/a]-> traces/x"
        ),
        "{all}"
    );
}

#[test]
fn connectors_must_join_matching_signals_and_both_ends() {
    let errs = errors(
        r#"
receivers: {otlp: {}}
exporters: {debug: {}}
connectors: {forward: {}, forward/dangling: {}}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [forward, forward/dangling]}
    metrics: {receivers: [forward], exporters: [debug]}
"#,
    );
    let all = errs.join("\n");
    assert!(
        all.contains(
            "service.pipelines.metrics.receivers[0]: this connector cannot turn traces into metrics"
        ),
        "{all}"
    );
    assert!(
        all.contains(
            "connectors.forward/dangling: used as an exporter but no pipeline receives from it"
        ),
        "{all}"
    );
}

#[test]
fn env_substitution_and_otel_resource_variables() {
    let env = |k: &str| match k {
        "GRPC_PORT" => Some("5317".to_owned()),
        "OTEL_SERVICE_NAME" => Some("sidecar-1".to_owned()),
        "OTEL_RESOURCE_ATTRIBUTES" => Some("service.name=ignored,host.name=gpu-box".to_owned()),
        _ => None,
    };
    let cfg = parse(
        r#"
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:${GRPC_PORT}", max_recv_msg_size_mib: "${MIB:-8}"}}}
exporters: {debug: {}}
service:
  pipelines: {logs: {receivers: [otlp], exporters: [debug]}}
  telemetry: {resource: {deployment.environment: test}}
"#,
        &env,
    )
    .unwrap();
    let ReceiverConfig::Otlp(o) = &cfg.receivers[&ComponentId::parse("otlp").unwrap()] else {
        panic!("otlp receiver decoded as something else");
    };
    let grpc = o.protocols.grpc.as_ref().unwrap();
    assert_eq!(grpc.endpoint.as_str(), "127.0.0.1:5317");
    assert_eq!(grpc.max_recv_msg_size_mib, 8);
    assert!(
        o.protocols.http.is_none(),
        "only the listed protocols are enabled"
    );
    let res = &cfg.service.telemetry.resource;
    assert_eq!(res["service.name"], "sidecar-1");
    assert_eq!(res["host.name"], "gpu-box");
    assert_eq!(res["deployment.environment"], "test");

    let errs = errors(
        "receivers: {otlp: {protocols: {grpc: {endpoint: '${NOT_SET}'}}}}\nservice: {pipelines: {}}",
    );
    assert!(
        errs.iter().any(|e| e.starts_with(
            "receivers.otlp.protocols.grpc.endpoint: environment variable NOT_SET is not set"
        )),
        "{errs:#?}"
    );
}

#[test]
fn attribute_actions_and_batch_sizes_are_checked() {
    let errs = errors(
        r#"
receivers: {otlp: {}}
processors:
  attributes:
    actions:
      - {key: user.email, action: hash}
      - {key: tenant, action: insert}
      - {action: delete}
      - {key: x, action: delete, value: 1}
  batch: {send_batch_size: 100, send_batch_max_size: 10}
exporters: {debug: {}}
service:
  pipelines: {traces: {receivers: [otlp], processors: [attributes, batch], exporters: [debug]}}
"#,
    );
    let all = errs.join("\n");
    assert!(
        all.contains(
            "processors.attributes.actions[1].value: missing: action insert needs a value"
        ),
        "{all}"
    );
    assert!(
        all.contains("processors.attributes.actions[2].key: missing"),
        "{all}"
    );
    assert!(
        all.contains("processors.attributes.actions[3].value: action delete takes no value"),
        "{all}"
    );
    assert!(all.contains("processors.batch.send_batch_max_size: 10: must be 0 (no bound) or at least send_batch_size (100)"), "{all}");
    assert_eq!(errs.len(), 4, "{all}");
}

#[test]
fn colliding_listeners_and_bad_yaml_are_reported() {
    let errs = errors(
        r#"
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:7000"}, http: {endpoint: "127.0.0.1:7000"}}}
exporters: {debug: {}}
service:
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
"#,
    );
    assert!(errs.iter().any(|e| e.contains("http.endpoint: \"127.0.0.1:7000\" is already used by receivers.otlp.protocols.grpc.endpoint")), "{errs:#?}");
    let errs = errors("receivers: [unclosed");
    assert!(errs[0].starts_with("not valid YAML"), "{errs:#?}");
    let errs = errors(
        "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 'nope'}\nservice: {pipelines: {}}",
    );
    assert!(
        errs.iter().any(|e| e.contains("expected host:port")),
        "{errs:#?}"
    );
}

#[test]
fn every_shipped_example_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            if let Err(e) = load_with_env(Some(&path), &no_env) {
                panic!("{e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "no examples found in {}", dir.display());
}

#[test]
fn otel_exporter_variables_turn_forwarding_on_in_the_builtin_config() {
    let env = |k: &str| match k {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".to_owned()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=s3cr%3Dt,x-tenant=a".to_owned()),
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT" => Some("https://logs.example:443/ingest".to_owned()),
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL" => Some("grpc".to_owned()),
        "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("2500".to_owned()),
        _ => None,
    };
    let cfg = load_with_env(None, &env).unwrap();
    let get = |id: &str| cfg.exporters[&ComponentId::parse(id).unwrap()].clone();
    let ExporterConfig::OtlpHttp(traces) = get("otlp_http/traces") else {
        panic!()
    };
    assert_eq!(
        traces.http_url(Signal::Traces),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(traces.headers["api-key"].expose(), "s3cr=t");
    assert_eq!(traces.timeout, Duration::from_millis(2500));
    let ExporterConfig::Otlp(metrics) = get("otlp/metrics") else {
        panic!()
    };
    assert_eq!(metrics.endpoint, "http://collector:4318");
    let ExporterConfig::OtlpHttp(logs) = get("otlp_http/logs") else {
        panic!()
    };
    assert_eq!(
        logs.http_url(Signal::Logs),
        "https://logs.example:443/ingest",
        "a per-signal URL is used as is"
    );
    assert_eq!(
        cfg.service.pipelines["traces"].exporters,
        ["debug", "genai_metrics", "explorer", "otlp_http/traces"]
    );
    assert_eq!(
        cfg.service.pipelines["metrics"].exporters,
        ["prometheus", "otlp/metrics"]
    );
    let printed = cfg.to_yaml();
    assert!(
        !printed.contains("s3cr"),
        "secrets never printed:\n{printed}"
    );
    assert!(
        printed.contains("api-key: '[REDACTED]'") || printed.contains("api-key: \"[REDACTED]\""),
        "{printed}"
    );
    assert!(!format!("{cfg:?}").contains("s3cr"), "nor in debug output");
}

#[test]
fn otlp_exporter_settings_are_checked_and_endpoint_may_come_from_the_environment() {
    let yaml = r#"
receivers: {otlp: {}}
exporters:
  otlp: {encoding: json, headers: {"bad header": x}}
  otlp_http/a: {endpoint: "collector:4318", compression: zstd, retry_on_failure: {multiplier: 0.5}}
  otlp_http/b: {endpoint: "https://x:4318", sending_queue: {queue_size: 10}}
service:
  pipelines: {traces: {receivers: [otlp], exporters: [otlp, otlp_http/a, otlp_http/b]}}
"#;
    let all = errors(yaml).join("\n");
    assert!(
        all.contains("exporters.otlp.encoding: only for otlp_http"),
        "{all}"
    );
    assert!(
        all.contains("exporters.otlp.headers.bad header: \"bad header\": not a valid header name"),
        "{all}"
    );
    assert!(
        all.contains(
            "exporters.otlp.endpoint: missing: set it here or in OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
        "{all}"
    );
    assert!(all.contains("exporters.otlp_http/a.endpoint: \"collector:4318\": expected a URL starting with http://"), "{all}");
    assert!(
        all.contains("exporters.otlp_http/a.compression: unknown value \"zstd\""),
        "{all}"
    );
    assert!(
        all.contains("exporters.otlp_http/a.retry_on_failure.multiplier: 0.5: expected 1 to 100"),
        "{all}"
    );

    let env =
        |k: &str| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:4317".to_owned());
    let cfg = parse(
        "receivers: {otlp: {}}\nexporters: {otlp: {sending_queue: {queue_size: 10}}}\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [otlp]}}}",
        &env,
    )
    .unwrap();
    let ExporterConfig::Otlp(c) = &cfg.exporters[&ComponentId::parse("otlp").unwrap()] else {
        panic!()
    };
    assert_eq!(c.endpoint, "http://127.0.0.1:4317");
    assert_eq!(c.sending_queue.queue_size, 10);
    assert_eq!(
        c.sending_queue.num_consumers, 4,
        "fields left out keep the exporter's own defaults"
    );
}

#[test]
fn prometheus_exporter_settings_and_signal() {
    let cfg = parse(
        r#"
receivers: {otlp: {}}
exporters:
  prometheus: {endpoint: "0.0.0.0:9464", namespace: llm, const_labels: {site: eu}, metric_expiration: 1m, max_series_per_metric: 50}
service:
  pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}
"#,
        &no_env,
    )
    .unwrap();
    let ExporterConfig::Prometheus(p) = &cfg.exporters[&ComponentId::parse("prometheus").unwrap()]
    else {
        panic!()
    };
    assert_eq!((p.namespace.as_str(), p.max_series_per_metric), ("llm", 50));
    assert!(p.add_metric_suffixes && p.enable_open_metrics);
    let errs = errors(
        r#"
receivers: {otlp: {}}
exporters: {prometheus: {namespace: "a-b", const_labels: {"1x": y}, metric_expiration: 0}}
service:
  pipelines: {traces: {receivers: [otlp], exporters: [prometheus]}}
"#,
    )
    .join("\n");
    assert!(
        errs.contains("exporters.prometheus.namespace: \"a-b\": expected letters, digits and _"),
        "{errs}"
    );
    assert!(
        errs.contains(
            "exporters.prometheus.const_labels.1x: \"1x\": not a valid Prometheus label name"
        ),
        "{errs}"
    );
    assert!(
        errs.contains("exporters.prometheus.metric_expiration: 0s: expected a duration above zero"),
        "{errs}"
    );
    assert!(
        errs.contains("service.pipelines.traces.exporters[0]: \"prometheus\" cannot export traces"),
        "{errs}"
    );
}

#[test]
fn llm_proxy_settings_are_checked_and_the_flags_override_them() {
    let errors = errors(
        r#"
receivers:
  llm_proxy: {upstream: "gpu-box:8000", provider: "", read_timeout: 0s, listen: "nowhere"}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [llm_proxy], exporters: [debug]}}}
"#,
    );
    let joined = errors.join("\n");
    assert!(
        joined.contains("receivers.llm_proxy.upstream: \"gpu-box:8000\": no scheme"),
        "{joined}"
    );
    assert!(
        joined.contains("receivers.llm_proxy.provider: empty"),
        "{joined}"
    );
    assert!(
        joined.contains("receivers.llm_proxy.read_timeout: 0s"),
        "{joined}"
    );
    assert!(
        joined.contains("receivers.llm_proxy.listen: \"nowhere\""),
        "{joined}"
    );

    let mut cfg = load_with_env(None, &no_env).unwrap().into_inner();
    cfg.override_llm_proxy(Some("0.0.0.0:9000"), Some("https://[::1]:8443/prefix/"))
        .unwrap();
    let ReceiverConfig::LlmProxy(p) = &cfg.receivers[&ComponentId::parse("llm_proxy").unwrap()]
    else {
        panic!("the default config has an llm_proxy");
    };
    assert_eq!(p.listen.as_str(), "0.0.0.0:9000");
    assert_eq!(p.upstream, "https://[::1]:8443/prefix");
    let ReceiverConfig::Ollama(o) = &cfg.receivers[&ComponentId::parse("ollama").unwrap()] else {
        panic!("the default config has an ollama receiver");
    };
    assert_eq!(
        o.endpoint, "https://[::1]:8443/prefix",
        "the poller follows --upstream"
    );
    let err = cfg
        .override_llm_proxy(None, Some("http://h:99999"))
        .unwrap_err();
    assert!(
        err.starts_with("--upstream") && err.contains("port \"99999\""),
        "{err}"
    );

    let mut none = parse(
        "receivers: {otlp: {}}\nexporters: {debug: {}}\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}\n",
        &no_env,
    )
    .unwrap()
    .into_inner();
    let err = none
        .override_llm_proxy(Some("127.0.0.1:1"), None)
        .unwrap_err();
    assert_eq!(err, "--listen: the config has no llm_proxy receiver");
}

#[test]
fn signal_index_is_the_position_in_all() {
    for (i, s) in Signal::ALL.into_iter().enumerate() {
        assert_eq!(s.index(), i, "{s}");
        assert_eq!(Signal::from_index(i), Some(s));
    }
    assert_eq!(Signal::from_index(Signal::ALL.len()), None);
}

#[test]
fn validate_accepts_what_parse_made_and_catches_what_an_edit_broke() {
    let cfg = load_with_env(None, &no_env).unwrap();
    assert_eq!(validate(cfg.clone().into_inner()).unwrap(), cfg);

    let mut edited = cfg.clone().into_inner();
    let batch = ComponentId::parse("batch").unwrap();
    let Some(ProcessorConfig::Batch(b)) = edited.processors.get_mut(&batch) else {
        panic!("the default config has a batch processor");
    };
    b.send_batch_size = 0;
    edited
        .service
        .pipelines
        .get_mut("traces")
        .unwrap()
        .queue_size = 0;
    let errs: Vec<String> = validate(edited)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            "service.pipelines.traces.queue_size: 0: expected at least 1",
            "processors.batch.send_batch_size: 0: expected at least 1",
        ],
        "the section checks run on edited values, with their paths"
    );

    let mut edited = cfg.into_inner();
    edited
        .service
        .pipelines
        .get_mut("traces")
        .unwrap()
        .receivers = vec!["otlp2".to_owned()];
    let errs = validate(edited).unwrap_err();
    assert!(
        errs.iter().any(|e| e
            .to_string()
            .starts_with("service.pipelines.traces.receivers[0]: \"otlp2\" is not defined")),
        "{errs:?}"
    );
}

#[test]
fn every_shipped_example_passes_validate_again_unchanged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let cfg = load_with_env(Some(&path), &no_env).unwrap();
            let again = validate(cfg.clone().into_inner())
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert_eq!(again, cfg, "{}", path.display());
        }
    }
}

#[test]
fn a_listen_override_that_collides_is_refused_with_the_paths() {
    let cfg = load_with_env(None, &no_env).unwrap();
    let err = cfg
        .clone()
        .override_llm_proxy(Some("127.0.0.1:4317"), None)
        .unwrap_err();
    assert!(
        err.contains("receivers.otlp.protocols.grpc.endpoint: \"127.0.0.1:4317\" is already used by receivers.llm_proxy.listen"),
        "{err}"
    );
    let moved = cfg.override_llm_proxy(Some("127.0.0.1:0"), None).unwrap();
    let ReceiverConfig::LlmProxy(p) = &moved.receivers[&ComponentId::parse("llm_proxy").unwrap()]
    else {
        panic!("the default config has an llm_proxy");
    };
    assert_eq!(p.listen.as_str(), "127.0.0.1:0");
}

mod memory_limiter;
