//! Target `otlp`: an OTLP export request body, protobuf or JSON, decoded as the `otlp` receiver does
//! (`receivers::otlp::decode`; gRPC decodes the same protobuf through tonic's prost codec), its invalid spans
//! dropped as both receiver sides do, then through what the pipelines do with a batch: count it, encode it
//! (exporters, the persistent queue), split it (the batch processor), and turn it into Prometheus series and text
//! (metrics) or GenAI metrics and request summaries (spans).
//!
//! Input: one selector byte (bits 0–1: the signal; bit 2: JSON; bits 3–7: where to split), then the body.
//!
//! Invariants: encoding and decoding again gives the same bytes and the same count; a split keeps every item.

use llmtel_collector::receivers::otlp::decode::{Format, decode, drop_invalid_spans};
use llmtel_config::{GenAiMetricsConfig, PrometheusExporterConfig};
use llmtel_pipelines::connectors::genai_metrics::GenAiMetricsConnector;
use llmtel_pipelines::explorer::summary;
use llmtel_pipelines::prometheus::{Format as Exposition, SeriesStore};
use llmtel_pipelines::{Payload, Signal};

use crate::Input;

const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(sel) = input.byte() else {
        return;
    };
    let signal = SIGNALS[usize::from(sel & 3) % 3];
    let format = if sel & 4 != 0 {
        Format::Json
    } else {
        Format::Protobuf
    };
    let Ok(mut batch) = decode(signal, format, input.payload()) else {
        return;
    };
    assert_eq!(batch.signal(), signal, "decoded as another signal");
    let _ = drop_invalid_spans(&mut batch);
    let count = batch.item_count();

    let bytes = batch.clone().into_request_bytes();
    let back = match Payload::from_request_bytes(signal, &bytes) {
        Ok(b) => b,
        Err(e) => panic!("a batch llmtel encoded does not decode: {e}"),
    };
    assert_eq!(
        back.item_count(),
        count,
        "items lost in an encode/decode round trip"
    );
    assert_eq!(
        back.into_request_bytes(),
        bytes,
        "encode/decode is not stable"
    );

    let mut rest = batch.clone();
    let n = usize::from(sel >> 3);
    let front = rest.split_front(n);
    assert_eq!(
        front.item_count(),
        n.min(count),
        "split took the wrong number of items"
    );
    assert_eq!(
        front.item_count() + rest.item_count(),
        count,
        "split lost items"
    );

    match &batch {
        Payload::Metrics(resources) => {
            let mut store = SeriesStore::new(&PrometheusExporterConfig::default());
            let _ = store.ingest(resources);
            let _ = store.render(Exposition::Text);
            let _ = store.render(Exposition::OpenMetrics);
        }
        Payload::Traces(resources) => {
            let mut genai = GenAiMetricsConnector::new("fuzz", GenAiMetricsConfig::default());
            genai.add(resources);
            let _ = genai.snapshot(1_700_000_000_000_000_000);
            let _ = summary::requests(resources);
        }
        Payload::Logs(_) => {}
    }
}
