//! The dashboard's model annotations as `promtool` unit tests: the load, unload and cold-load queries evaluated on
//! series where a model comes and goes, since the simulated server in the live test never unloads one.

/// The dashboard's annotation named `name`: its query.
fn annotation_expr(dash: &serde_json::Value, name: &str) -> String {
    dash["annotations"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["expr"].as_str())
        .unwrap_or_else(|| panic!("no annotation {name}"))
        .to_owned()
}

/// A `promtool test rules` file that evaluates the dashboard's load, unload and cold-load annotation queries on
/// series where a model comes and goes.
pub fn promtool_test(dash: &serde_json::Value) -> String {
    let (loaded, unloaded, cold) = (
        annotation_expr(dash, "Model loaded"),
        annotation_expr(dash, "Model unloaded"),
        annotation_expr(dash, "Cold loads"),
    );
    // qwen3 is in /api/ps from 5m to 15m (its series goes stale at 16m, as when llmtel stops exporting it);
    // llama is loaded throughout. One request made the server load qwen3, at 5m.
    let labels = r#"job="llmtel", instance="127.0.0.1:9464", otel_scope_name="llmtel.ollama", server_address="127.0.0.1""#;
    let case = |expr: &str, at: &str, model: Option<&str>| {
        let samples = model.map_or_else(String::new, |m| {
            format!(
                "\n          - labels: '{{gen_ai_request_model=\"{m}\", server_address=\"127.0.0.1\"}}'\n            value: 1"
            )
        });
        format!(
            "      - expr: {}\n        eval_time: {at}\n        exp_samples:{}\n",
            serde_json::to_string(expr).unwrap(),
            if samples.is_empty() {
                " []".to_owned()
            } else {
                samples
            }
        )
    };
    let series = |name: &str, extra: &str, values: &str| {
        format!("      - series: '{name}{{{labels}, {extra}}}'\n        values: '{values}'\n")
    };
    let mut tests =
        String::from("evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n");
    tests += &series(
        "ollama_model_size_bytes",
        r#"gen_ai_request_model="qwen3:14b""#,
        "_x5 9e9x10 stale",
    );
    tests += &series(
        "ollama_model_size_bytes",
        r#"gen_ai_request_model="llama3.2:3b""#,
        "3e9x20",
    );
    tests += &series(
        "llmtel_model_cold_loads_total",
        r#"gen_ai_request_model="qwen3:14b", llmtel_think_mode="on""#,
        "0x4 1x15",
    );
    tests += "    promql_expr_test:\n";
    for (expr, at, model) in [
        (&loaded, "0m", Some("llama3.2:3b")),
        (&loaded, "4m", None),
        (&loaded, "5m", Some("qwen3:14b")),
        (&loaded, "6m", None),
        (&unloaded, "15m", None),
        (&unloaded, "16m", Some("qwen3:14b")),
        (&unloaded, "17m", None),
        (&cold, "5m", Some("qwen3:14b")),
        (&cold, "7m", None),
    ] {
        tests.push_str(&case(expr, at, model));
    }
    tests
}
