//! Reading one sample from a Prometheus text exposition, from a URL or from text; a series that is not there is
//! an error, not a 0.

use crate::http::http_request;

/// The value of the first sample in a Prometheus text exposition at `url` whose line starts with `name{` and
/// contains every one of `labels` (e.g. `signal="traces"`). A series that is not there is an `Err` naming it and
/// showing what was there, so a renamed metric fails the test instead of reading as 0; a test that accepts an
/// absent series says so with [`scrape_value_or_zero`].
pub async fn scrape_value(url: &str, name: &str, labels: &[&str]) -> Result<f64, String> {
    let body = http_request("GET", url, &[], Vec::new()).await.body;
    let text = String::from_utf8_lossy(&body);
    sample_value(&text, name, labels).ok_or_else(|| {
        format!(
            "no series {name}{{{}}} at {url}; the exposition:\n{text}",
            labels.join(",")
        )
    })
}

/// [`scrape_value`] for a counter that may not be exported until it first counts: absent reads as 0.
pub async fn scrape_value_or_zero(url: &str, name: &str, labels: &[&str]) -> f64 {
    scrape_value(url, name, labels).await.unwrap_or(0.0)
}

/// The value of the first sample in exposition `text` named `name` with every one of `labels`, if any.
pub fn sample_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let prefix = format!("{name}{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix) && labels.iter().all(|lab| l.contains(lab)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_series_is_none_not_zero() {
        let text =
            "# TYPE x_total counter\nx_total{signal=\"traces\"} 0\nx_total{signal=\"logs\"} 4\n";
        assert_eq!(
            sample_value(text, "x_total", &["signal=\"traces\""]),
            Some(0.0)
        );
        assert_eq!(
            sample_value(text, "x_total", &["signal=\"logs\""]),
            Some(4.0)
        );
        assert_eq!(sample_value(text, "x_total", &["signal=\"metrics\""]), None);
        assert_eq!(sample_value(text, "y_total", &[]), None, "a renamed metric");
    }
}
