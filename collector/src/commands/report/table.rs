//! The report as aligned text tables: one row per model and think mode, then the price of thinking with a note
//! for each figure it could not give.

use std::fmt::Write as _;

use super::price::Price;
use super::rows::Row;

fn secs(v: Option<f64>) -> String {
    match v {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) => format!("{s:.2} s"),
        None => "-".to_owned(),
    }
}

fn count(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A ratio as the table prints it: `×2.30`, or `-` when it is unknown.
pub(crate) fn times(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |r| format!("×{r:.2}"))
}

/// `header` and `cells` as columns two spaces apart; the first `left` columns are left-aligned, the rest right.
fn aligned(header: &[&str], cells: &[Vec<String>], left: usize) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .filter_map(|c| c.get(i))
                .map(|c| c.chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |row: Vec<&str>| {
        let mut l = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            if i < left {
                let _ = write!(l, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(l, "{}{cell}  ", " ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for c in cells {
        line(c.iter().map(String::as_str).collect());
    }
    out
}

/// The rows as an aligned text table.
pub fn render(rows: &[Row]) -> String {
    let header = [
        "MODEL",
        "THINK",
        "REQUESTS",
        "ERRORS",
        "P50",
        "P95",
        "TTFT P50",
        "1ST ANSWER P50",
        "OUT TOK/S P50",
        "ENERGY/REQ",
        "THINKING",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                r.think.clone(),
                count(r.requests),
                count(r.errors),
                secs(r.p50),
                secs(r.p95),
                secs(r.ttft_p50),
                secs(r.first_answer_p50),
                r.tokens_per_second_p50
                    .map_or_else(|| "-".to_owned(), |t| format!("{t:.1}")),
                r.energy_mean
                    .map_or_else(|| "-".to_owned(), |j| format!("{j:.1} J")),
                r.think_share
                    .map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            ]
        })
        .collect();
    aligned(&header, &cells, 2)
}

/// The price of thinking as a table (on ÷ off per model), each unknown figure's reason below it; or one line
/// saying no model ran both ways.
pub fn render_price(prices: &[Price]) -> String {
    if prices.is_empty() {
        return "Price of thinking: no model ran both with thinking on and with it off \
                (send the same model requests with \"think\": true and \"think\": false)\n"
            .to_owned();
    }
    let header = [
        "MODEL",
        "THINK",
        "VS OFF",
        "LATENCY P50",
        "1ST ANSWER P50",
        "OUT TOK/S P50",
        "ENERGY/REQ",
        "VRAM",
    ];
    let mut notes: Vec<String> = Vec::new();
    let mut note = |e: &str| {
        let n = notes.iter().position(|x| x == e).unwrap_or_else(|| {
            notes.push(e.to_owned());
            notes.len() - 1
        });
        format!("n/a [{}]", n + 1)
    };
    let cells: Vec<Vec<String>> = prices
        .iter()
        .map(|p| {
            vec![
                p.model.clone(),
                p.think.clone(),
                format!("{}/{}", count(p.requests_on), count(p.requests_off)),
                times(p.latency_p50),
                times(p.first_answer_p50),
                times(p.tokens_per_second_p50),
                p.energy_per_request
                    .map_or_else(&mut note, |r| times(Some(r))),
                p.vram_difference
                    .map_or_else(&mut note, |b| format!("{:+.2} GB", b / 1e9)),
            ]
        })
        .collect();
    let mut out = String::from(
        "Price of thinking (think on ÷ think off, medians; VS OFF: requests on/off)\n",
    );
    out.push_str(&aligned(&header, &cells, 2));
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(out, "[{}] {n}", i + 1);
    }
    out
}
