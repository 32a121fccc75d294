//! Target `prometheus`: a scrape's body as the `prometheus` receiver reads it: the exposition parser (text 0.0.4
//! or OpenMetrics 1.0), the Collector-style mapping to OTLP over two scrapes and a failed one (start times, stale
//! points), the target's resource, and then the `prometheus` exporter's series store and rendering of the result.
//!
//! Input: one selector byte (bit 0: OpenMetrics), then the body.
//!
//! Invariants: the mapping counts every sample; scraping the same body twice adds no series the second time.

use llmtel_collector::receivers::prometheus::map::{Target, Tracker, down, map};
use llmtel_collector::receivers::prometheus::otlp::resource_metrics;
use llmtel_collector::receivers::prometheus::parse::parse;
use llmtel_config::PrometheusExporterConfig;
use llmtel_pipelines::prometheus::{Format, SeriesStore};

use crate::Input;

const SECOND: u64 = 1_000_000_000;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(sel) = input.byte() else {
        return;
    };
    let Ok(families) = parse(input.payload(), sel & 1 != 0) else {
        return;
    };
    let target = Target {
        job: "fuzz".to_owned(),
        instance: "127.0.0.1:9".to_owned(),
        host: "127.0.0.1".to_owned(),
        port: 9,
        scheme: "http".to_owned(),
        labels: vec![("env".to_owned(), "fuzz".to_owned())],
    };
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    let mut tracker = Tracker::default();
    let first = map(&families, &target, 1_700_000_000 * SECOND, &mut tracker);
    assert_eq!(first.samples, samples, "samples miscounted");
    let second = map(&families, &target, 1_700_000_015 * SECOND, &mut tracker);
    assert_eq!(second.added, 0, "the same scrape twice added series");
    let stale = down(&mut tracker, 1_700_000_030 * SECOND);
    let mut store = SeriesStore::new(&PrometheusExporterConfig::default());
    for metrics in [first.metrics, second.metrics, stale] {
        let _ = store.ingest(&[resource_metrics(&target, &second.info, metrics)]);
    }
    let _ = store.render(Format::Text);
    let _ = store.render(Format::OpenMetrics);
}
