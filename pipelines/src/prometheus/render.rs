//! Rendering the store as Prometheus text format 0.0.4 or OpenMetrics 1.0 (with exemplars and `# EOF`).
//! Families are sorted by name and series by labels, so the output is stable (golden-file tests rely on it).

use std::fmt::Write;

use super::labels::{Labels, escape_label, label_text};
use super::store::{Series, Store};
use super::value::{Exemplar, Hist, Kind, Value};

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

/// `capacity`: the expected output length (the last rendering's), or 0 to estimate from the series count.
pub(crate) fn render(store: &Store, format: Format, capacity: usize) -> String {
    let estimate = 128 * store.series_count() + 256;
    let mut out = String::with_capacity(capacity.max(estimate));
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
        // OpenMetrics requires `_total` on counter samples. A counter whose name has none (suffixes turned off)
        // is served as `unknown` there, so its series keeps the configured name whichever format is asked for.
        let plain_counter = format == Format::OpenMetrics
            && f.kind == Kind::Counter
            && !f.text_sample.ends_with("_total");
        let kind = if plain_counter {
            "unknown"
        } else {
            f.kind.as_str()
        };
        let _ = writeln!(out, "# TYPE {sample_base} {kind}");
        if format == Format::OpenMetrics
            && !f.unit.is_empty()
            && name.ends_with(&format!("_{}", f.unit))
        {
            let _ = writeln!(out, "# UNIT {name} {}", f.unit);
        }
        // Series are kept ordered by their labels: no sort here.
        let series = f.series.iter();
        let names = Names::new(name, &f.text_sample, format, plain_counter);
        for (_, s) in series {
            render_series(&mut out, &names, s, format);
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
            sample(
                &mut out,
                "target_info",
                &label_text(labels),
                None,
                1.0,
                None,
            );
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// `counter_sample` is the name a counter's samples carry in this format.
/// The sample names of one family, built once per family rather than once per series.
struct Names {
    plain: String,
    counter: String,
    /// A counter served as `unknown` (no exemplars, no `_created`).
    plain_counter: bool,
    created: String,
    bucket: String,
    sum: String,
    count: String,
}

impl Names {
    /// `counter_sample` is the name a counter's samples carry in `format`.
    fn new(name: &str, counter_sample: &str, format: Format, plain_counter: bool) -> Self {
        Self {
            plain: name.to_owned(),
            counter: if format == Format::OpenMetrics && !plain_counter {
                format!("{name}_total")
            } else {
                counter_sample.to_owned()
            },
            plain_counter,
            created: format!("{name}_created"),
            bucket: format!("{name}_bucket"),
            sum: format!("{name}_sum"),
            count: format!("{name}_count"),
        }
    }
}

fn render_series(out: &mut String, names: &Names, s: &Series, format: Format) {
    let labels = s.label_text.as_str();
    let om = format == Format::OpenMetrics;
    let created = (om && s.start_ns > 0).then_some(s.start_ns as f64 / 1e9);
    match &s.value {
        Value::Gauge(v) => sample(out, &names.plain, labels, None, *v, None),
        Value::Counter { value, exemplar } => {
            let typed = om && !names.plain_counter;
            sample(
                out,
                &names.counter,
                labels,
                None,
                *value,
                if typed { exemplar.as_ref() } else { None },
            );
            if let Some(c) = created.filter(|_| typed) {
                sample(out, &names.created, labels, None, c, None);
            }
        }
        Value::Histogram(h) => histogram(out, names, labels, h, created, om),
        Value::Expo(e) => {
            let h = Hist::from_expo(e);
            histogram(out, names, labels, &h, created, om);
        }
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            for (q, v) in quantiles {
                sample(
                    out,
                    &names.plain,
                    labels,
                    Some(("quantile", &fmt_f64(*q))),
                    *v,
                    None,
                );
            }
            sample(out, &names.sum, labels, None, *sum, None);
            sample(out, &names.count, labels, None, *count as f64, None);
            if let Some(c) = created {
                sample(out, &names.created, labels, None, c, None);
            }
        }
    }
}

/// Cumulative `le` buckets, `+Inf`, `_sum`, `_count` (and `_created` and exemplars in OpenMetrics).
fn histogram(
    out: &mut String,
    names: &Names,
    labels: &str,
    h: &Hist,
    created: Option<f64>,
    om: bool,
) {
    let exemplar = |i: usize| {
        if om {
            h.exemplars.get(i).and_then(Option::as_ref)
        } else {
            None
        }
    };
    let mut cumulative = 0u64;
    let mut le = String::with_capacity(24);
    for (i, bound) in h.bounds.iter().enumerate() {
        cumulative = cumulative.saturating_add(h.counts.get(i).copied().unwrap_or(0));
        le.clear();
        push_f64(&mut le, *bound);
        sample(
            out,
            &names.bucket,
            labels,
            Some(("le", &le)),
            cumulative as f64,
            exemplar(i),
        );
    }
    // +Inf holds every observation: the data point's count, whatever its buckets add up to.
    let total = h.count.max(cumulative) as f64;
    sample(
        out,
        &names.bucket,
        labels,
        Some(("le", "+Inf")),
        total,
        exemplar(h.bounds.len()),
    );
    sample(out, &names.sum, labels, None, h.sum, None);
    sample(out, &names.count, labels, None, total, None);
    if let Some(c) = created {
        sample(out, &names.created, labels, None, c, None);
    }
}

/// One sample line: `name{labels,extra} value [# {trace_id=..,span_id=..} value timestamp]`.
fn sample(
    out: &mut String,
    name: &str,
    labels: &str,
    extra: Option<(&str, &str)>,
    value: f64,
    exemplar: Option<&Exemplar>,
) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some((k, v)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    push_f64(out, value);
    if let Some(e) = exemplar {
        out.push_str(" # {trace_id=\"");
        out.push_str(&e.trace_id);
        out.push_str("\",span_id=\"");
        out.push_str(&e.span_id);
        out.push_str("\"} ");
        push_f64(out, e.value);
        out.push(' ');
        push_f64(out, e.time_ns as f64 / 1e9);
    }
    out.push('\n');
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
    let mut s = String::new();
    push_f64(&mut s, v);
    s
}

/// [`fmt_f64`] appended to `out` without an allocation of its own (the hot path of rendering).
fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}
