//! Rendering the store as Prometheus text format 0.0.4 or OpenMetrics 1.0 (with exemplars and `# EOF`).
//! Families are sorted by name and series by labels, so the output is stable (golden-file tests rely on it).

use std::fmt::Write;

use super::store::{Exemplar, Hist, Kind, Labels, Series, Store, Value};

/// The exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The Content-Type of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

pub(crate) fn render(store: &Store, format: Format) -> String {
    let mut out = String::with_capacity(128 * store.series_count() + 256);
    let mut names: Vec<&String> = store.families.keys().collect();
    names.sort();
    for name in names {
        let Some(f) = store.families.get(name) else {
            continue;
        };
        let sample_base = match (f.kind, format) {
            (Kind::Counter, Format::Text) => f.text_sample.clone(),
            _ => name.clone(),
        };
        if !f.help.is_empty() {
            let _ = writeln!(out, "# HELP {sample_base} {}", escape_help(&f.help, format));
        }
        let _ = writeln!(out, "# TYPE {sample_base} {}", f.kind.as_str());
        if format == Format::OpenMetrics
            && !f.unit.is_empty()
            && name.ends_with(&format!("_{}", f.unit))
        {
            let _ = writeln!(out, "# UNIT {name} {}", f.unit);
        }
        let mut series: Vec<(&Labels, &Series)> = f.series.iter().collect();
        series.sort_by(|a, b| a.0.cmp(b.0));
        for (labels, s) in series {
            render_series(&mut out, name, &sample_base, labels, s, format);
        }
    }
    if !store.targets.is_empty() {
        // OpenMetrics has an info type whose family `target` has samples `target_info`; text 0.0.4 has not, so
        // there it is a gauge named `target_info`.
        let (family, kind) = if format == Format::OpenMetrics {
            ("target", "info")
        } else {
            ("target_info", "gauge")
        };
        let _ = writeln!(out, "# HELP {family} Target metadata");
        let _ = writeln!(out, "# TYPE {family} {kind}");
        let mut targets: Vec<&Labels> = store.targets.values().map(|t| &t.labels).collect();
        targets.sort();
        for labels in targets {
            sample(&mut out, "target_info", labels, None, 1.0, None, format);
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// `counter_sample` is the name a counter's samples carry in this format.
fn render_series(
    out: &mut String,
    name: &str,
    counter_sample: &str,
    labels: &Labels,
    s: &Series,
    format: Format,
) {
    let created =
        (format == Format::OpenMetrics && s.start_ns > 0).then_some(s.start_ns as f64 / 1e9);
    match &s.value {
        Value::Gauge(v) => sample(out, name, labels, None, *v, None, format),
        Value::Counter { value, exemplar } => {
            let ex = if format == Format::OpenMetrics {
                exemplar.as_ref()
            } else {
                None
            };
            let sample_name = if format == Format::OpenMetrics {
                format!("{name}_total")
            } else {
                counter_sample.to_owned()
            };
            sample(out, &sample_name, labels, None, *value, ex, format);
            if let Some(c) = created {
                sample(
                    out,
                    &format!("{name}_created"),
                    labels,
                    None,
                    c,
                    None,
                    format,
                );
            }
        }
        Value::Histogram(h) => histogram(out, name, labels, h, created, format),
        Value::Expo(e) => {
            let buckets = e.classic();
            let h = Hist {
                bounds: buckets.iter().map(|(b, _)| *b).collect(),
                counts: buckets
                    .iter()
                    .map(|(_, c)| *c)
                    .chain([e.count.saturating_sub(buckets.iter().map(|(_, c)| c).sum())])
                    .collect(),
                sum: e.sum,
                count: e.count,
                exemplars: Vec::new(),
            };
            histogram(out, name, labels, &h, created, format);
        }
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            for (q, v) in quantiles {
                sample(
                    out,
                    name,
                    labels,
                    Some(("quantile", &fmt_f64(*q))),
                    *v,
                    None,
                    format,
                );
            }
            sample(
                out,
                &format!("{name}_sum"),
                labels,
                None,
                *sum,
                None,
                format,
            );
            sample(
                out,
                &format!("{name}_count"),
                labels,
                None,
                *count as f64,
                None,
                format,
            );
            if let Some(c) = created {
                sample(
                    out,
                    &format!("{name}_created"),
                    labels,
                    None,
                    c,
                    None,
                    format,
                );
            }
        }
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    labels: &Labels,
    h: &Hist,
    created: Option<f64>,
    format: Format,
) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (i, bound) in h.bounds.iter().enumerate() {
        cumulative += h.counts.get(i).copied().unwrap_or(0);
        let ex = if format == Format::OpenMetrics {
            h.exemplars.get(i).and_then(Option::as_ref)
        } else {
            None
        };
        sample(
            out,
            &bucket,
            labels,
            Some(("le", &fmt_f64(*bound))),
            cumulative as f64,
            ex,
            format,
        );
    }
    let ex = if format == Format::OpenMetrics {
        h.exemplars.get(h.bounds.len()).and_then(Option::as_ref)
    } else {
        None
    };
    // +Inf holds every observation: the data point's count, whatever its buckets add up to.
    sample(
        out,
        &bucket,
        labels,
        Some(("le", "+Inf")),
        h.count.max(cumulative) as f64,
        ex,
        format,
    );
    sample(
        out,
        &format!("{name}_sum"),
        labels,
        None,
        h.sum,
        None,
        format,
    );
    sample(
        out,
        &format!("{name}_count"),
        labels,
        None,
        h.count.max(cumulative) as f64,
        None,
        format,
    );
    if let Some(c) = created {
        sample(
            out,
            &format!("{name}_created"),
            labels,
            None,
            c,
            None,
            format,
        );
    }
}

/// One sample line: `name{labels,extra} value [# {trace_id=..,span_id=..} value timestamp]`.
fn sample(
    out: &mut String,
    name: &str,
    labels: &Labels,
    extra: Option<(&str, &str)>,
    value: f64,
    exemplar: Option<&Exemplar>,
    format: Format,
) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&fmt_f64(value));
    if let Some(e) = exemplar {
        let _ = write!(
            out,
            " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {}",
            e.trace_id,
            e.span_id,
            fmt_f64(e.value),
            fmt_f64(e.time_ns as f64 / 1e9)
        );
    }
    let _ = format;
    out.push('\n');
}

fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str, format: Format) -> String {
    let mut s = h.replace('\\', "\\\\").replace('\n', "\\n");
    if format == Format::OpenMetrics {
        s = s.replace('"', "\\\"");
    }
    s
}

/// A float as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, integers without a fraction, others shortest.
pub(crate) fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
