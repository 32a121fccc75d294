//! OTLP requests for tests to send.

/// An OTLP trace export request of `n` valid spans; `batch` makes the span ids unique across requests.
pub fn trace_request(
    n: usize,
    batch: u32,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let spans = (0..n as u32)
        .map(|i| {
            let mut span_id = [0u8; 8];
            span_id[..4].copy_from_slice(&batch.to_be_bytes());
            span_id[4..].copy_from_slice(&(i + 1).to_be_bytes());
            Span {
                name: format!("op-{i}"),
                trace_id: [[0xab; 8], [batch as u8 | 1; 8]].concat(),
                span_id: span_id.to_vec(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_100_000_000,
                ..Default::default()
            }
        })
        .collect();
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
