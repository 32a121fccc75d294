//! What an OTLP export answers, seen alike for the three signals: the partial success of one attempt
//! ([`Accepted`]) and where each request goes over gRPC ([`ExportResponse`]). Both transports (`grpc.rs`,
//! `http.rs`) decode into it; the exporter (`mod.rs`) counts and logs what it says.

/// One attempt's good outcome: items the server rejected (partial success) and its message.
#[derive(Debug, Default)]
pub(super) struct Accepted {
    pub(super) rejected: u64,
    pub(super) message: String,
}

/// The three OTLP export responses, seen alike: where their request goes over gRPC, and their partial success.
pub(super) trait ExportResponse:
    prost::Message + Default + serde::de::DeserializeOwned + Send + Sync + 'static
{
    /// The gRPC method of the request this answers.
    const GRPC_PATH: &'static str;
    /// The rejected items and message of the partial success (none: full success).
    fn accepted(self) -> Accepted;
}

macro_rules! export_response {
    ($ty:ty, $path:literal, $rejected:ident) => {
        impl ExportResponse for $ty {
            const GRPC_PATH: &'static str = $path;
            fn accepted(self) -> Accepted {
                let p = self.partial_success.unwrap_or_default();
                Accepted {
                    rejected: p.$rejected.max(0) as u64,
                    message: p.error_message,
                }
            }
        }
    };
}

export_response!(
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    rejected_spans
);
export_response!(
    opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    rejected_data_points
);
export_response!(
    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse,
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    rejected_log_records
);
