//! The queries the live test runs against a real Prometheus: the dashboard's (panels and annotations, Grafana's
//! variables filled in) and the metric names the loaded rules use.

/// Every `expr` of the dashboard's panels (rows included) and annotations, with Grafana's variables filled in as
/// "All", a 1-minute rate window and a 5-minute time range.
pub fn dashboard_queries(dash: &serde_json::Value) -> Vec<(String, String)> {
    let mut panels: Vec<&serde_json::Value> = Vec::new();
    let mut stack: Vec<&serde_json::Value> = dash["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner);
        }
        panels.push(p);
    }
    let mut out = Vec::new();
    let substitute = |expr: &str| {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "5m")
            .replace("$model", ".*");
        assert!(!expr.contains('$'), "unknown variable in {expr}");
        expr
    };
    for p in panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("every target has an expr");
            out.push((
                p["title"].as_str().unwrap_or("?").to_owned(),
                substitute(expr),
            ));
        }
    }
    assert!(out.len() >= 45, "only {} panel queries", out.len());
    let annotations = dash["annotations"]["list"].as_array().unwrap();
    for a in annotations.iter().filter(|a| a.get("builtIn").is_none()) {
        let expr = a["expr"].as_str().expect("every annotation has an expr");
        out.push((
            format!("annotation {}", a["name"].as_str().unwrap()),
            substitute(expr),
        ));
    }
    assert!(
        out.iter()
            .filter(|(t, _)| t.starts_with("annotation "))
            .count()
            >= 3,
        "cold load, load and unload annotations: {out:?}"
    );
    out
}

/// Queries that cannot have data in the live test, each run all the same (they must parse and execute), with
/// why, and where their meaning is checked instead.
pub const NO_LIVE_DATA: &[(&str, &str)] = &[(
    "annotation Model unloaded",
    "the simulated server never unloads a model; \
     the_load_and_unload_annotations_mark_a_model_coming_and_going checks it with promtool",
)];

/// Metric names the rules' queries use, as Prometheus formatted them: words of ours outside label matchers
/// (`{…}`) and grouping clauses (`by (…)`, `on (…)`…).
pub fn rule_metric_names(rules: &serde_json::Value) -> Vec<String> {
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let mut names = Vec::new();
    for g in rules["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let q: Vec<char> = r["query"].as_str().unwrap().chars().collect();
            let mut i = 0;
            let mut last_word = String::new();
            while i < q.len() {
                let c = q[i];
                if c == '{' || (c == '(' && GROUPING.contains(&last_word.as_str())) {
                    let close = if c == '{' { '}' } else { ')' };
                    while i < q.len() && q[i] != close {
                        i += 1;
                    }
                    i += 1;
                    last_word.clear();
                    continue;
                }
                if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                    let start = i;
                    while i < q.len()
                        && (q[i].is_ascii_alphanumeric() || q[i] == '_' || q[i] == ':')
                    {
                        i += 1;
                    }
                    last_word = q[start..i].iter().collect();
                    let ours = ["gen_ai_", "llmtel_", "hw_", "ollama_"]
                        .iter()
                        .any(|p| last_word.starts_with(p));
                    if ours && !names.contains(&last_word) {
                        names.push(last_word.clone());
                    }
                    continue;
                }
                if !c.is_whitespace() {
                    last_word.clear();
                }
                i += 1;
            }
        }
    }
    assert!(
        names.len() >= 8,
        "too few metric names found in the rules: {names:?}"
    );
    names
}
