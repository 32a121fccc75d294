//! The exposition parser: Prometheus text format 0.0.4 and OpenMetrics 1.0 text, bytes → metric families.
//!
//! Written here rather than taken from a crate: `prometheus-parse` reads text 0.0.4 only, drops exemplars and
//! `_created`, and is unmaintained; the `openmetrics-parser` family is LGPL-3.0. This parser is a pure function
//! ([`parse`]: bytes in, families or an error naming the line out; no I/O, no panic on any input) so it can be
//! fuzzed. It is lenient where real exposers break the rules and the meaning is still clear: names with `:`
//! (llama.cpp's `llamacpp:…`), a counter typed as such but named without `_total` (`llamacpp:n_tokens_max`),
//! samples without `# TYPE` (untyped), empty lines, a missing `# EOF`, a trailing `,` in a label set. What cannot be
//! read fails the whole scrape, as in Prometheus: a partial scrape would look like series going stale.

use std::collections::HashMap;

/// The type a family declares (`# TYPE`); `Unknown` for `untyped`, `unknown` and no declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics).
    Info,
    /// `stateset` (OpenMetrics).
    StateSet,
    /// `untyped`, `unknown`, or no `# TYPE`.
    Unknown,
}

impl Kind {
    fn from_word(w: &str) -> Option<Self> {
        Some(match w {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "gaugehistogram" => Self::GaugeHistogram,
            "summary" => Self::Summary,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            "untyped" | "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The sample-name suffixes a family of this kind owns besides its bare name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["_total", "_created"],
            Self::Histogram => &["_bucket", "_count", "_sum", "_created"],
            Self::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            Self::Summary => &["_count", "_sum", "_created"],
            Self::Info => &["_info"],
            Self::Gauge | Self::StateSet | Self::Unknown => &[],
        }
    }
}

/// An exemplar attached to a sample (OpenMetrics ` # {labels} value [timestamp]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its labels (`trace_id`, `span_id` and any other).
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
    /// When it was observed, in nanoseconds since the Unix epoch.
    pub timestamp_ns: Option<i64>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The full sample name (`http_requests_total`, `latency_bucket`).
    pub name: String,
    /// Its labels, in the order written.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
    /// The exposer's timestamp, in nanoseconds since the Unix epoch (text: integer ms; OpenMetrics: float s).
    pub timestamp_ns: Option<i64>,
    /// An exemplar, if one follows.
    pub exemplar: Option<Exemplar>,
}

/// A metric family: its metadata and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name (as in `# TYPE`, or the sample name when there is none).
    pub name: String,
    /// Its declared type.
    pub kind: Kind,
    /// `# HELP` text, unescaped.
    pub help: String,
    /// `# UNIT` (OpenMetrics), or empty.
    pub unit: String,
    /// Its samples, in the order exposed.
    pub samples: Vec<Sample>,
}

/// Why an exposition could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses an exposition. `open_metrics`: the body is OpenMetrics text (timestamps in seconds; `# EOF` ends it).
pub fn parse(body: &[u8], open_metrics: bool) -> Result<Vec<Family>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| ParseError {
        line: 1 + body[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        message: "not UTF-8".to_owned(),
    })?;
    let mut families: Vec<Family> = Vec::new();
    // Family name → index in `families`.
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |message: String| ParseError {
            line: i + 1,
            message,
        };
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment == "EOF" {
                break;
            }
            let mut words = comment.splitn(3, [' ', '\t']);
            let (Some(what), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            let rest = words.next().unwrap_or("").trim_start();
            if !matches!(what, "HELP" | "TYPE" | "UNIT") {
                continue;
            }
            if !valid_metric_name(name) {
                return Err(err(format!("{what} for an invalid metric name {name:?}")));
            }
            let f = family(&mut families, &mut by_name, name);
            match what {
                "HELP" => f.help = unescape(rest, false),
                "UNIT" => f.unit = rest.trim().to_owned(),
                _ => {
                    let word = rest.trim();
                    f.kind = Kind::from_word(word)
                        .ok_or_else(|| err(format!("TYPE {word:?} of {name} is not a type")))?;
                }
            }
            continue;
        }
        let sample = parse_sample(line, open_metrics).map_err(err)?;
        let idx = owner(&families, &by_name, &sample.name)
            .unwrap_or_else(|| index_of(&mut families, &mut by_name, &sample.name));
        families[idx].samples.push(sample);
    }
    families.retain(|f| !f.samples.is_empty());
    Ok(families)
}

fn index_of(families: &mut Vec<Family>, by_name: &mut HashMap<String, usize>, name: &str) -> usize {
    if let Some(&i) = by_name.get(name) {
        return i;
    }
    families.push(Family {
        name: name.to_owned(),
        kind: Kind::Unknown,
        help: String::new(),
        unit: String::new(),
        samples: Vec::new(),
    });
    by_name.insert(name.to_owned(), families.len() - 1);
    families.len() - 1
}

fn family<'a>(
    families: &'a mut Vec<Family>,
    by_name: &mut HashMap<String, usize>,
    name: &str,
) -> &'a mut Family {
    let i = index_of(families, by_name, name);
    &mut families[i]
}

/// The declared family a sample name belongs to: its own name, or a family whose type owns the suffix.
fn owner(families: &[Family], by_name: &HashMap<String, usize>, sample: &str) -> Option<usize> {
    if let Some(&i) = by_name.get(sample) {
        return Some(i);
    }
    for suffix in [
        "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
    ] {
        if let Some(base) = sample.strip_suffix(suffix)
            && let Some(&i) = by_name.get(base)
            && families[i].kind.suffixes().contains(&suffix)
        {
            return Some(i);
        }
    }
    None
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `\\` → `\`, `\n` → newline, and in label values `\"` → `"`; other escapes are kept as written.
fn unescape(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A cursor over one line.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn skip_space(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches([' ', '\t']).len();
    }

    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// The next run of name characters (`[a-zA-Z0-9_:]`).
    fn name(&mut self) -> &'a str {
        let r = self.rest();
        let n = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(r.len());
        self.pos += n;
        &r[..n]
    }

    /// The next whitespace-delimited word.
    fn word(&mut self) -> &'a str {
        let r = self.rest();
        let n = r.find([' ', '\t']).unwrap_or(r.len());
        self.pos += n;
        &r[..n]
    }

    /// `{name="value",…}`, the cursor on `{`.
    fn labels(&mut self) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        if !self.eat('{') {
            return Ok(out);
        }
        loop {
            self.skip_space();
            if self.eat('}') {
                return Ok(out);
            }
            let name = self.name();
            if !valid_label_name(name) {
                return Err(format!("invalid label name at {:?}", clip(self.rest())));
            }
            self.skip_space();
            if !self.eat('=') {
                return Err(format!("expected = after label {name}"));
            }
            self.skip_space();
            if !self.eat('"') {
                return Err(format!("expected \" to open the value of label {name}"));
            }
            let r = self.rest();
            let mut end = None;
            let mut escaped = false;
            for (i, c) in r.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(end) = end else {
                return Err(format!("unclosed value of label {name}"));
            };
            if out.iter().any(|(k, _)| k == name) {
                return Err(format!("label {name} given twice"));
            }
            out.push((name.to_owned(), unescape(&r[..end], true)));
            self.pos += end + 1;
            self.skip_space();
            if self.eat(',') {
                continue;
            }
            if self.eat('}') {
                return Ok(out);
            }
            return Err(format!(
                "expected , or }} after label {name} at {:?}",
                clip(self.rest())
            ));
        }
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A sample value: a float, `NaN`, `+Inf`, `-Inf` (any case).
fn parse_value(w: &str) -> Result<f64, String> {
    w.parse::<f64>()
        .map_err(|_| format!("{:?} is not a number", clip(w)))
}

/// A timestamp as nanoseconds: text 0.0.4 writes integer milliseconds, OpenMetrics float seconds. Plain decimals
/// are read exactly (an f64 would round nanoseconds); exponent forms go through f64.
fn parse_timestamp(w: &str, open_metrics: bool) -> Result<i64, String> {
    let bad = || format!("timestamp {:?} is not a number", clip(w));
    let scale: i64 = if open_metrics {
        1_000_000_000
    } else {
        1_000_000
    };
    let digits = if open_metrics { 9 } else { 6 };
    let (neg, body) = match w.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, w.strip_prefix('+').unwrap_or(w)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let plain = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if plain {
        let i: i64 = int.parse().map_err(|_| bad())?;
        let mut f = frac.chars().take(digits).collect::<String>();
        while f.len() < digits {
            f.push('0');
        }
        let f: i64 = f.parse().map_err(|_| bad())?;
        let ns = i
            .checked_mul(scale)
            .and_then(|v| v.checked_add(f))
            .ok_or_else(bad)?;
        return Ok(if neg { -ns } else { ns });
    }
    let v: f64 = w.parse().map_err(|_| bad())?;
    let ns = v * scale as f64;
    if !ns.is_finite() || ns.abs() > 9.0e18 {
        return Err(bad());
    }
    Ok(ns as i64)
}

fn parse_sample(line: &str, open_metrics: bool) -> Result<Sample, String> {
    let mut c = Cursor { s: line, pos: 0 };
    c.skip_space();
    let name = c.name();
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name at {:?}", clip(c.rest())));
    }
    let labels = c.labels()?;
    c.skip_space();
    let value = parse_value(c.word())?;
    c.skip_space();
    let mut timestamp_ns = None;
    if !c.rest().is_empty() && !c.rest().starts_with('#') {
        timestamp_ns = Some(parse_timestamp(c.word(), open_metrics)?);
        c.skip_space();
    }
    let mut exemplar = None;
    if c.eat('#') {
        c.skip_space();
        if !c.rest().starts_with('{') {
            return Err("expected {labels} after # (an exemplar)".to_owned());
        }
        let labels = c.labels()?;
        c.skip_space();
        let value = parse_value(c.word())?;
        c.skip_space();
        let ts = match c.word() {
            "" => None,
            w => Some(parse_timestamp(w, true)?),
        };
        exemplar = Some(Exemplar {
            labels,
            value,
            timestamp_ns: ts,
        });
        c.skip_space();
    }
    if !c.rest().is_empty() {
        return Err(format!("unexpected {:?} after the value", clip(c.rest())));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ns,
        exemplar,
    })
}

#[cfg(test)]
mod tests;
