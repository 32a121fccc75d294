//! OTLP/gRPC: the three collector services on one tonic server, over TLS and behind a bearer token when
//! configured (UNAUTHENTICATED without it). Two answers of tonic are corrected to what the OTLP spec asks: a body
//! that is not valid protobuf gets INVALID_ARGUMENT (tonic says INTERNAL, which clients retry), and an oversized
//! request RESOURCE_EXHAUSTED.

use std::sync::Arc;

use llmtel_config::GrpcServerConfig;
use llmtel_pipelines::{BoxFuture, Output, Payload};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::accept::{RETRY_AFTER, Refusal, Rejected, accept};
use crate::listen::bearer::Bearer;
use crate::listen::incoming::Incoming;

/// The gRPC side of one `otlp` receiver: one handler shared by the three services.
#[derive(Clone)]
struct Handler {
    output: Output,
    bearer: Option<Arc<Bearer>>,
}

impl Handler {
    /// UNAUTHENTICATED without the token. Checked once the message is read, as gRPC servers' unary interceptors
    /// do: answering before the client finished sending makes the server reset the stream, which some clients
    /// (curl) report as a framing error instead of the status.
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        match &self.bearer {
            Some(b) => crate::listen::bearer::grpc_check(b, request.metadata()),
            None => Ok(()),
        }
    }

    fn accept(&self, batch: Payload) -> Result<Rejected, Status> {
        accept(&self.output, batch).map_err(|r| match r {
            // UNAVAILABLE is retryable for every OTLP client; RetryInfo says when.
            Refusal::Unavailable(msg) => Status::with_error_details(
                tonic::Code::Unavailable,
                msg,
                ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
            ),
            Refusal::NotServed(msg) => Status::unimplemented(msg),
        })
    }
}

#[tonic::async_trait]
impl TraceService for Handler {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.check(&request)?;
        let r = self.accept(Payload::Traces(request.into_inner().resource_spans))?;
        let partial_success = (r.count > 0).then_some(ExportTracePartialSuccess {
            rejected_spans: r.count,
            error_message: r.message,
        });
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Handler {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.check(&request)?;
        // Only spans are checked item by item; metrics and logs are never partially rejected.
        self.accept(Payload::Metrics(request.into_inner().resource_metrics))?;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Handler {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.check(&request)?;
        self.accept(Payload::Logs(request.into_inner().resource_logs))?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// The future that serves OTLP/gRPC on the connections of `incoming` until its stop (the receiver's shutdown).
pub(super) fn serve(
    id: &str,
    cfg: &GrpcServerConfig,
    incoming: Incoming,
    bearer: Option<Arc<Bearer>>,
    output: Output,
) -> BoxFuture<'static, ()> {
    let limit = usize::try_from(cfg.max_recv_msg_size_mib)
        .unwrap_or(usize::MAX / (1 << 20))
        .saturating_mul(1 << 20);
    let handler = Handler { output, bearer };
    let mib = cfg.max_recv_msg_size_mib;
    let router = tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(move |resp| {
            invalid_protobuf_is_invalid_argument(too_large_is_not_retryable(resp, mib))
        }))
        .add_service(
            TraceServiceServer::new(handler.clone())
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            MetricsServiceServer::new(handler.clone())
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            LogsServiceServer::new(handler)
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        );
    let id = id.to_owned();
    Box::pin(async move {
        // A client that connected just before the stop (a reload's hand-over) still gets its answer.
        let stopped = incoming.settled();
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming.into_stream(), stopped)
            .await
        {
            tracing::error!(receiver = %id, error = %e, "otlp grpc server stopped with an error");
        }
    })
}

/// tonic answers an oversized request with OUT_OF_RANGE, which OTLP clients retry; the same request would be
/// refused forever. gRPC's own convention for "message larger than max" is RESOURCE_EXHAUSTED, which OTLP clients
/// do not retry without RetryInfo; say so, and name the setting.
fn too_large_is_not_retryable(
    mut resp: http::Response<tonic::body::Body>,
    mib: u64,
) -> http::Response<tonic::body::Body> {
    let headers = resp.headers_mut();
    let out_of_range = headers.get("grpc-status").is_some_and(|v| v == "11");
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if out_of_range && too_large {
        let message =
            format!("request is larger than the limit of {mib} MiB (max_recv_msg_size_mib)");
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        if let Ok(v) = http::HeaderValue::from_str(&percent_encode(&message)) {
            headers.insert("grpc-message", v);
        }
    }
    resp
}

/// tonic's protobuf codec answers a body it cannot decode with INTERNAL (its message starts with prost's "failed
/// to decode Protobuf message"), which OTLP clients may retry; the OTLP spec asks for INVALID_ARGUMENT, which they
/// never retry: the same bytes would fail again. Our handlers never answer INTERNAL, so only the codec's is changed.
fn invalid_protobuf_is_invalid_argument(
    mut resp: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let headers = resp.headers_mut();
    let internal = headers.get("grpc-status").is_some_and(|v| v == "13");
    let decode = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| {
            m.starts_with("failed%20to%20decode") || m.starts_with("failed to decode")
        });
    if internal && decode {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
    resp
}

/// Percent-encodes a grpc-message value (every byte outside printable ASCII, and `%` itself).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &'static str, message: &'static str) -> http::Response<tonic::body::Body> {
        let mut resp = http::Response::new(tonic::body::Body::default());
        resp.headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static(status));
        resp.headers_mut()
            .insert("grpc-message", http::HeaderValue::from_static(message));
        resp
    }

    #[test]
    fn only_the_codecs_decode_error_becomes_invalid_argument() {
        let fixed = invalid_protobuf_is_invalid_argument(answer(
            "13",
            "failed%20to%20decode%20Protobuf%20message:%20invalid%20varint",
        ));
        assert_eq!(fixed.headers()["grpc-status"], "3");
        let other = invalid_protobuf_is_invalid_argument(answer("13", "something%20else"));
        assert_eq!(other.headers()["grpc-status"], "13");
        let unavailable = invalid_protobuf_is_invalid_argument(answer(
            "14",
            "failed%20to%20decode%20Protobuf%20message",
        ));
        assert_eq!(unavailable.headers()["grpc-status"], "14");
    }
}
