//! Decoding an OTLP export request's body (after any gzip), protobuf or JSON, into the pipelines' [`Payload`]:
//! what the HTTP side (`http.rs`) runs on every request body. The gRPC side gets the same protobuf decoding from
//! tonic's prost codec. Public so that the fuzz targets (`fuzz/`) call exactly this code.

use llmtel_pipelines::{Payload, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// The body encoding of a request, and so of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP JSON: lowerCamelCase, hex ids, 64-bit integers as strings or numbers).
    Json,
}

/// Why a body is not a valid export request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("body is not a valid {kind} {message}: {reason}")]
pub struct DecodeError {
    /// `protobuf` or `OTLP JSON`.
    pub kind: &'static str,
    /// The message type expected, e.g. `ExportTraceServiceRequest`.
    pub message: &'static str,
    /// What the decoder said.
    pub reason: String,
}

/// Decodes `raw` as an export request of `signal` in `format`.
pub fn decode(signal: Signal, format: Format, raw: &[u8]) -> Result<Payload, DecodeError> {
    match signal {
        Signal::Traces => {
            parse::<ExportTraceServiceRequest>(raw, format, "ExportTraceServiceRequest")
                .map(|r| Payload::Traces(r.resource_spans))
        }
        Signal::Metrics => {
            parse::<ExportMetricsServiceRequest>(raw, format, "ExportMetricsServiceRequest")
                .map(|r| Payload::Metrics(r.resource_metrics))
        }
        Signal::Logs => parse::<ExportLogsServiceRequest>(raw, format, "ExportLogsServiceRequest")
            .map(|r| Payload::Logs(r.resource_logs)),
    }
}

/// Removes the spans an OTLP backend would refuse (see `accept.rs`), as both sides do before handing a request to
/// the pipelines, and returns how many it removed.
pub fn drop_invalid_spans(batch: &mut Payload) -> i64 {
    super::accept::drop_invalid(batch).count
}

fn parse<T: Message + Default + serde::de::DeserializeOwned>(
    raw: &[u8],
    format: Format,
    message: &'static str,
) -> Result<T, DecodeError> {
    let (kind, result) = match format {
        Format::Protobuf => ("protobuf", T::decode(raw).map_err(|e| e.to_string())),
        Format::Json => (
            "OTLP JSON",
            serde_json::from_slice(raw).map_err(|e| e.to_string()),
        ),
    };
    result.map_err(|reason| DecodeError {
        kind,
        message,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_decodes_into_its_signal_or_names_what_was_expected() {
        let json =
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}"#;
        let logs = decode(Signal::Logs, Format::Json, json);
        assert!(matches!(&logs, Ok(p) if p.item_count() == 1), "{logs:?}");
        let Ok(batch) = logs else { return };
        let again = decode(
            Signal::Logs,
            Format::Protobuf,
            &batch.clone().into_request_bytes(),
        );
        assert_eq!(again, Ok(batch));

        let err = decode(Signal::Traces, Format::Json, b"{\"resourceSpans\": 1}").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("body is not a valid OTLP JSON ExportTraceServiceRequest: "),
            "{err}"
        );
        let err = decode(Signal::Metrics, Format::Protobuf, &[0xff]).unwrap_err();
        assert_eq!(
            (err.kind, err.message),
            ("protobuf", "ExportMetricsServiceRequest")
        );
    }
}
