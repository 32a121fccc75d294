//! OTLP → Prometheus names: metric names with unit and type suffixes, label names, per the OpenTelemetry
//! "Prometheus and OpenMetrics compatibility" specification and the Collector's translator.

/// What kind of Prometheus metric a name is for (it decides `_total` and `_ratio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Counter,
    Gauge,
    Other,
}

/// Replaces every character outside `[a-zA-Z0-9_:]` by `_`, collapses runs of `_`, trims `_` at both ends, and
/// prefixes `_` when the result starts with a digit.
pub(crate) fn sanitize_metric(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_underscore = false;
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == ':' {
            c
        } else {
            '_'
        };
        if c == '_' {
            if last_underscore {
                continue;
            }
            last_underscore = true;
        } else {
            last_underscore = false;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('_');
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{trimmed}")
    } else if trimmed.is_empty() {
        "_".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A label name: invalid characters become `_`; a name starting with a digit gets `key_`, one starting with a
/// single `_` gets `key` (`_foo` → `key_foo`), while `__x` is kept as it is.
pub(crate) fn sanitize_label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        return "key_".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// The UCUM unit as a Prometheus name part: `s` → `seconds`, `By` → `bytes`, `m/s` → `meters_per_second`;
/// `{token}`-style annotations are dropped; `1` becomes `ratio` (used on gauges only). Empty when there is none.
pub(crate) fn unit_suffix(unit: &str) -> String {
    // Drop {annotations}: `{token}` → "", `By{packet}` → "By".
    let mut clean = String::with_capacity(unit.len());
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    let clean = clean.trim();
    if clean.is_empty() {
        return String::new();
    }
    if clean == "1" {
        return "ratio".to_owned();
    }
    match clean.split_once('/') {
        Some((num, den)) => {
            let num = main_unit(num.trim());
            let den = per_unit(den.trim());
            match (num.is_empty(), den.is_empty()) {
                (true, true) => String::new(),
                (true, false) => format!("per_{den}"),
                (false, true) => num,
                (false, false) => format!("{num}_per_{den}"),
            }
        }
        None => main_unit(clean),
    }
}

fn main_unit(u: &str) -> String {
    let word = match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        other => return sanitize_metric(other).trim_matches('_').to_owned(),
    };
    word.to_owned()
}

fn per_unit(u: &str) -> String {
    let word = match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => return main_unit(other),
    };
    word.to_owned()
}

/// How one OTLP metric is named in Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Naming {
    /// The family name (a counter's without `_total`; OpenMetrics samples add it).
    pub(crate) family: String,
    /// A counter's sample name in text format 0.0.4 (the family name for other kinds).
    pub(crate) text_sample: String,
    /// The unit word the family name ends with (for OpenMetrics `# UNIT`), or empty.
    pub(crate) unit: String,
}

/// Names an OTLP metric. With `add_suffixes`, unit and type suffixes are added; without, the sanitised name is
/// kept as it is (OpenMetrics still requires `_total` on counter samples, so only there it is added).
pub(crate) fn family_name(
    namespace: &str,
    name: &str,
    unit: &str,
    kind: NameKind,
    add_suffixes: bool,
) -> Naming {
    let base = if namespace.is_empty() {
        sanitize_metric(name)
    } else {
        sanitize_metric(&format!("{namespace}_{name}"))
    };
    if !add_suffixes {
        let family = match kind {
            NameKind::Counter => base
                .strip_suffix("_total")
                .map_or_else(|| base.clone(), str::to_owned),
            _ => base.clone(),
        };
        return Naming {
            family,
            text_sample: base,
            unit: String::new(),
        };
    }
    let mut base = base;
    if kind == NameKind::Counter
        && let Some(stripped) = base.strip_suffix("_total")
    {
        base = stripped.to_owned();
    }
    let mut unit_word = unit_suffix(unit);
    if unit_word == "ratio" && kind != NameKind::Gauge {
        unit_word.clear();
    }
    if !unit_word.is_empty() && !base.ends_with(&format!("_{unit_word}")) && base != unit_word {
        base = format!("{base}_{unit_word}");
    }
    let text_sample = if kind == NameKind::Counter {
        format!("{base}_total")
    } else {
        base.clone()
    };
    Naming {
        family: base,
        text_sample,
        unit: unit_word,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_spec() {
        let f = |name, unit, kind| family_name("", name, unit, kind, true).family;
        assert_eq!(
            f("gen_ai.client.operation.duration", "s", NameKind::Other),
            "gen_ai_client_operation_duration_seconds"
        );
        assert_eq!(
            f("gen_ai.client.token.usage", "{token}", NameKind::Other),
            "gen_ai_client_token_usage"
        );
        assert_eq!(
            f("hw.gpu.memory.usage", "By", NameKind::Gauge),
            "hw_gpu_memory_usage_bytes"
        );
        assert_eq!(
            f("hw.gpu.utilization", "1", NameKind::Gauge),
            "hw_gpu_utilization_ratio"
        );
        assert_eq!(
            f("requests", "1", NameKind::Counter),
            "requests",
            "_ratio only on gauges"
        );
        assert_eq!(
            f("http.server.requests", "", NameKind::Counter),
            "http_server_requests"
        );
        assert_eq!(
            f("throughput", "m/s", NameKind::Gauge),
            "throughput_meters_per_second"
        );
        assert_eq!(
            f("rpc.latency", "ms", NameKind::Other),
            "rpc_latency_milliseconds"
        );
        assert_eq!(f("disk.io", "KiBy", NameKind::Counter), "disk_io_kibibytes");
        assert_eq!(f("power", "W", NameKind::Gauge), "power_watts");
        assert_eq!(
            f("tokens", "{token}/s", NameKind::Gauge),
            "tokens_per_second"
        );
        assert_eq!(
            f("latency_seconds", "s", NameKind::Other),
            "latency_seconds",
            "no doubled unit"
        );
        assert_eq!(
            f("errors_total", "", NameKind::Counter),
            "errors",
            "the sample adds _total back"
        );
        assert_eq!(f("2xx..responses", "", NameKind::Gauge), "_2xx_responses");
        assert_eq!(
            family_name("llm", "x", "", NameKind::Gauge, true).family,
            "llm_x"
        );
        assert_eq!(
            family_name("llm", "2xx", "", NameKind::Gauge, true).family,
            "llm_2xx"
        );
        assert_eq!(
            family_name("", "a.b", "s", NameKind::Other, false).family,
            "a_b"
        );
        let plain = family_name("", "jobs_total", "", NameKind::Counter, false);
        assert_eq!(
            (plain.family.as_str(), plain.text_sample.as_str()),
            ("jobs", "jobs_total")
        );
        let plain = family_name("", "jobs", "", NameKind::Counter, false);
        assert_eq!(
            (plain.family.as_str(), plain.text_sample.as_str()),
            ("jobs", "jobs")
        );
        assert_eq!(
            family_name("", "jobs", "", NameKind::Counter, true).text_sample,
            "jobs_total"
        );
    }

    #[test]
    fn label_names_follow_the_spec() {
        assert_eq!(
            sanitize_label("gen_ai.request.model"),
            "gen_ai_request_model"
        );
        assert_eq!(sanitize_label("0day"), "key_0day");
        assert_eq!(sanitize_label("_private"), "key_private");
        assert_eq!(sanitize_label("__meta"), "__meta");
        assert_eq!(sanitize_label("http-method"), "http_method");
    }
}
