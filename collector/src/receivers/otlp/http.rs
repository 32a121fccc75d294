//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with `application/x-protobuf` or `application/json`
//! bodies, plain or gzip. Answers follow the OTLP spec: 200 with an (empty) export response in the request's
//! format; errors carry a `google.rpc.Status` body; refusals are 503 with `Retry-After`. With `auth:`, a request
//! without the bearer token gets 401 with `WWW-Authenticate: Bearer`.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::BodyExt;
use llmtel_config::HttpServerConfig;
use llmtel_pipelines::{BoxFuture, Output, Payload, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use super::accept::{RETRY_AFTER, Refusal, Rejected, accept};
use super::decode::{Format, decode as decode_body};
use crate::listen::bearer::Bearer;
use crate::listen::incoming::Incoming;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[derive(Debug)]
struct Shared {
    output: Output,
    limit: usize,
}

/// An error answer: status code, gRPC code for the body, message.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    code: tonic::Code,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: tonic::Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn into_response(self, format: Option<Format>) -> Response {
        let mut resp = match format {
            Some(Format::Protobuf) => {
                let body = tonic_types::Status {
                    code: self.code as i32,
                    message: self.message,
                    details: Vec::new(),
                };
                ([(header::CONTENT_TYPE, PROTOBUF)], body.encode_to_vec()).into_response()
            }
            Some(Format::Json) => {
                let body = serde_json::json!({ "code": self.code as i32, "message": self.message });
                ([(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
            }
            None => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                self.message,
            )
                .into_response(),
        };
        *resp.status_mut() = self.status;
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(RETRY_AFTER.as_secs()),
            );
        }
        resp
    }
}

/// The future that serves OTLP/HTTP on the connections of `listener` until its stop (the receiver's shutdown).
pub(super) fn serve(
    id: &str,
    cfg: &HttpServerConfig,
    listener: Incoming,
    bearer: Option<Arc<Bearer>>,
    output: Output,
) -> BoxFuture<'static, ()> {
    let limit = usize::try_from(cfg.max_request_body_size_mib)
        .unwrap_or(usize::MAX / (1 << 20))
        .saturating_mul(1 << 20);
    let shared = Arc::new(Shared { output, limit });
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|s, h, b| handle(s, h, b, Signal::Traces)),
        )
        .route(
            "/v1/metrics",
            post(|s, h, b| handle(s, h, b, Signal::Metrics)),
        )
        .route("/v1/logs", post(|s, h, b| handle(s, h, b, Signal::Logs)));
    let app = crate::listen::bearer::layer(app, bearer).with_state(shared);
    let id = id.to_owned();
    Box::pin(async move {
        // A client that connected just before the stop (a reload's hand-over) still gets its answer.
        let stopped = listener.settled();
        let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
        if let Err(e) = serve.await {
            tracing::error!(receiver = %id, error = %e, "otlp http server stopped with an error");
        }
    })
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
    signal: Signal,
) -> Response {
    let format = match content_type(&headers) {
        Ok(f) => f,
        Err(f) => return f.into_response(None),
    };
    match decode(&shared, &headers, body, signal, format).await {
        Ok(batch) => match accept(&shared.output, batch) {
            Ok(rejected) => success(signal, format, rejected),
            Err(Refusal::Unavailable(m)) => {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, tonic::Code::Unavailable, m)
                    .into_response(Some(format))
            }
            Err(Refusal::NotServed(m)) => {
                Failure::new(StatusCode::NOT_FOUND, tonic::Code::Unimplemented, m)
                    .into_response(Some(format))
            }
        },
        Err(f) => f.into_response(Some(format)),
    }
}

fn content_type(headers: &HeaderMap) -> Result<Format, Failure> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        PROTOBUF => Ok(Format::Protobuf),
        JSON => Ok(Format::Json),
        _ => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            format!("unsupported Content-Type {raw:?}: send {PROTOBUF} or {JSON}"),
        )),
    }
}

async fn decode(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
    signal: Signal,
    format: Format,
) -> Result<Payload, Failure> {
    let limit = shared.limit;
    let too_large = || {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::InvalidArgument,
            format!(
                "request body is larger than the limit of {} MiB (max_request_body_size_mib)",
                limit >> 20
            ),
        )
    };
    let raw: Bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large());
        }
        Err(e) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                format!("read request body: {e}"),
            ));
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let raw = match encoding.as_str() {
        "" | "identity" => raw,
        "gzip" => {
            let mut out = Vec::new();
            let read = flate2::read::GzDecoder::new(raw.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut out);
            match read {
                Ok(n) if n > limit => return Err(too_large()),
                Ok(_) => Bytes::from(out),
                Err(e) => {
                    return Err(Failure::new(
                        StatusCode::BAD_REQUEST,
                        tonic::Code::InvalidArgument,
                        format!("request body is not valid gzip: {e}"),
                    ));
                }
            }
        }
        other => {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                tonic::Code::InvalidArgument,
                format!("unsupported Content-Encoding {other:?}: send gzip or no encoding"),
            ));
        }
    };
    decode_body(signal, format, &raw).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            tonic::Code::InvalidArgument,
            e.to_string(),
        )
    })
}

/// 200 with the export response in the request's format, carrying a partial success when items were rejected.
fn success(signal: Signal, format: Format, rejected: Rejected) -> Response {
    let partial = |count: i64, message: String| (count > 0).then_some((count, message));
    let p = partial(rejected.count, rejected.message);
    match format {
        Format::Protobuf => {
            let body = match signal {
                Signal::Traces => ExportTraceServiceResponse {
                    partial_success: p.map(|(rejected_spans, error_message)| {
                        ExportTracePartialSuccess {
                            rejected_spans,
                            error_message,
                        }
                    }),
                }
                .encode_to_vec(),
                Signal::Metrics => ExportMetricsServiceResponse::default().encode_to_vec(),
                Signal::Logs => ExportLogsServiceResponse::default().encode_to_vec(),
            };
            ([(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
        }
        Format::Json => {
            let body = match p {
                Some((n, m)) => {
                    serde_json::json!({"partialSuccess": {"rejectedSpans": n.to_string(), "errorMessage": m}})
                }
                None => serde_json::json!({}),
            };
            ([(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
        }
    }
}
