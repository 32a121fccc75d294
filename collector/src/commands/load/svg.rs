//! The decay curves as one self-contained SVG (no scripts, fonts or links): output throughput against the load,
//! end-to-end latency percentiles and TTFT against the load, and per level the median time to first token,
//! think time and answer time stacked. The levels sit evenly along the x axis (a sweep of 1, 2, 4, 8 … reads as a
//! log scale); the knee is a dashed line.

use std::fmt::Write as _;

use super::stats::Level;

const W: f64 = 1200.0;
const H: f64 = 900.0;
const FONT: &str = "font-family=\"sans-serif\"";

/// A plotting area.
struct Panel {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Panel {
    /// The x of the `i`th of `n` levels.
    fn xi(&self, i: usize, n: usize) -> f64 {
        self.x + self.w * (i as f64 + 0.5) / n.max(1) as f64
    }
    /// The y of `v` on a scale from 0 to `max`.
    fn yv(&self, v: f64, max: f64) -> f64 {
        self.y + self.h - self.h * (v / max).clamp(0.0, 1.0)
    }
}

/// A round upper bound for an axis and its tick step.
fn scale(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 0.25);
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Axes, grid, tick labels, the x labels and the axis titles of a panel; returns the y scale's maximum.
fn axes(
    out: &mut String,
    p: &Panel,
    levels: &[&Level],
    max: f64,
    y_title: &str,
    x_title: &str,
) -> f64 {
    let (top, step) = scale(max);
    let ticks = (top / step).round() as u32;
    for k in 0..=ticks {
        // Each tick from its index: a running sum would print 0.6000000000000001.
        let v = f64::from(k) * step;
        let y = p.yv(v, top);
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" {FONT}>{}</text>",
            p.x,
            p.x + p.w,
            p.x - 6.0,
            y + 4.0,
            tick(v)
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#333\"/>\
         <line x1=\"{0:.1}\" y1=\"{2:.1}\" x2=\"{3:.1}\" y2=\"{2:.1}\" stroke=\"#333\"/>",
        p.x,
        p.y,
        p.y + p.h,
        p.x + p.w
    );
    for (i, l) in levels.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" {FONT}>{}</text>",
            p.xi(i, levels.len()),
            p.y + p.h + 16.0,
            esc(&l.level)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" {FONT}>{}</text>\
         <text transform=\"translate({:.1},{:.1}) rotate(-90)\" font-size=\"13\" text-anchor=\"middle\" {FONT}>{}</text>",
        p.x + p.w / 2.0,
        p.y + p.h + 36.0,
        esc(x_title),
        p.x - 52.0,
        p.y + p.h / 2.0,
        esc(y_title)
    );
    top
}

fn tick(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A polyline with dots through `(i, value)` points; levels without a value are skipped.
fn line(
    out: &mut String,
    p: &Panel,
    n: usize,
    top: f64,
    values: &[Option<f64>],
    color: &str,
    dash: &str,
) {
    let pts: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (p.xi(i, n), p.yv(v, top))))
        .collect();
    let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        out,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\" stroke-dasharray=\"{dash}\"/>",
        path.join(" ")
    );
    for (x, y) in pts {
        let _ = write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{color}\"/>"
        );
    }
}

/// A legend row at (x, y).
fn legend(out: &mut String, x: f64, y: f64, items: &[(&str, &str)]) {
    let mut x = x;
    for (label, color) in items {
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"12\" {FONT}>{}</text>",
            y - 9.0,
            x + 18.0,
            esc(label)
        );
        x += 30.0 + 7.0 * label.len() as f64;
    }
}

fn knee_line(out: &mut String, p: &Panel, n: usize, knee: Option<usize>) {
    if let Some(k) = knee {
        let x = p.xi(k, n);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#c00\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#c00\" {FONT}>knee</text>",
            p.y,
            p.y + p.h,
            x + 4.0,
            p.y + 12.0
        );
    }
}

/// The chart of one think mode's levels (in sweep order), with `title` and the knee's level tag.
pub fn chart(title: &str, levels: &[&Level], knee: Option<&str>) -> String {
    let n = levels.len();
    let knee = knee.and_then(|k| levels.iter().position(|l| l.level == k));
    let x_title = if levels.iter().any(|l| l.rate.is_some()) {
        "requests started per second"
    } else {
        "concurrent streams"
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{:.1}\" y=\"28\" font-size=\"18\" text-anchor=\"middle\" {FONT}>{}</text>",
        W / 2.0,
        esc(title)
    );
    // Throughput.
    let p = Panel {
        x: 90.0,
        y: 70.0,
        w: 440.0,
        h: 300.0,
    };
    let tput: Vec<Option<f64>> = levels.iter().map(|l| Some(l.output_tokens_per_s)).collect();
    let max = tput.iter().flatten().copied().fold(0.0, f64::max);
    let top = axes(
        &mut out,
        &p,
        levels,
        max,
        "output tokens/s (all streams)",
        x_title,
    );
    line(&mut out, &p, n, top, &tput, "#1f77b4", "");
    knee_line(&mut out, &p, n, knee);
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"58\" font-size=\"14\" {FONT}>Throughput</text>",
        p.x
    );
    // Latency percentiles.
    let p = Panel {
        x: 690.0,
        y: 70.0,
        w: 440.0,
        h: 300.0,
    };
    let pick = |f: fn(&Level) -> Option<f64>| levels.iter().map(|l| f(l)).collect::<Vec<_>>();
    let series: [(&str, &str, &str, Vec<Option<f64>>); 4] = [
        ("e2e p50", "#2ca02c", "", pick(|l| l.e2e.map(|d| d.p50))),
        ("e2e p95", "#ff7f0e", "", pick(|l| l.e2e.map(|d| d.p95))),
        ("e2e p99", "#d62728", "", pick(|l| l.e2e.map(|d| d.p99))),
        (
            "TTFT p50",
            "#9467bd",
            "5 3",
            pick(|l| l.ttft.map(|d| d.p50)),
        ),
    ];
    let max = series
        .iter()
        .flat_map(|s| s.3.iter().flatten())
        .copied()
        .fold(0.0, f64::max);
    let top = axes(&mut out, &p, levels, max, "latency (s)", x_title);
    for (_, color, dash, values) in &series {
        line(&mut out, &p, n, top, values, color, dash);
    }
    knee_line(&mut out, &p, n, knee);
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"58\" font-size=\"14\" {FONT}>Latency</text>",
        p.x
    );
    let items: Vec<(&str, &str)> = series.iter().map(|s| (s.0, s.1)).collect();
    legend(&mut out, p.x + 150.0, 58.0, &items);
    // Stacked phases.
    let p = Panel {
        x: 90.0,
        y: 500.0,
        w: 1040.0,
        h: 300.0,
    };
    let p50 = |d: Option<super::stats::Dist>| d.map_or(0.0, |d| d.p50);
    let stacks: Vec<[f64; 3]> = levels
        .iter()
        .map(|l| [p50(l.ttft), p50(l.think_s), p50(l.answer_s)])
        .collect();
    let max = stacks
        .iter()
        .map(|s| s.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let top = axes(&mut out, &p, levels, max, "median time (s)", x_title);
    let colors = ["#aaaaaa", "#8c564b", "#17becf"];
    let bar = (p.w / n.max(1) as f64 * 0.5).min(80.0);
    for (i, s) in stacks.iter().enumerate() {
        let mut base = 0.0;
        for (v, color) in s.iter().zip(colors) {
            let (y0, y1) = (p.yv(base, top), p.yv(base + v, top));
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{y1:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
                p.xi(i, n) - bar / 2.0,
                (y0 - y1).max(0.0)
            );
            base += v;
        }
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"488\" font-size=\"14\" {FONT}>Where a request's time goes (medians, stacked)</text>",
        p.x
    );
    legend(
        &mut out,
        p.x + 380.0,
        488.0,
        &[
            ("to first token", colors[0]),
            ("think", colors[1]),
            ("answer", colors[2]),
        ],
    );
    out.push_str("</svg>\n");
    out
}
