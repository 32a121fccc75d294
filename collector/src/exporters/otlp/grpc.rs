//! OTLP/gRPC client: unary `Export` calls carrying pre-encoded request bytes, so retries resend the same bytes.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::{BufMut, Bytes};
use llmtel_config::otlp_exporters::{Compression, OtlpExporterConfig};
use llmtel_pipelines::Signal;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::codec::{
    BufferSettings, Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder,
};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

use super::response::{Accepted, ExportResponse};
use crate::exporters::retry::{self, Failure};

pub(super) struct GrpcTransport {
    channel: Channel,
    headers: MetadataMap,
    gzip: bool,
}

/// Header names only: their values are secrets (API keys) and must never reach a log.
impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .headers
            .keys()
            .map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => k.as_str(),
                tonic::metadata::KeyRef::Binary(k) => k.as_str(),
            })
            .collect();
        f.debug_struct("GrpcTransport")
            .field("headers", &names)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl GrpcTransport {
    pub(super) fn new(
        cfg: &OtlpExporterConfig,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(cfg.endpoint.clone())
            .map_err(|e| format!("endpoint {:?}: {e}", cfg.endpoint))?
            .timeout(cfg.timeout.get())
            .connect_timeout(cfg.timeout.get())
            .tcp_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http2()
            .build();
        let channel = endpoint.connect_with_connector_lazy(connector);
        let mut headers = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = AsciiMetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("headers: {k:?} is not a valid gRPC metadata key"))?;
            // The value is a secret: say which header is wrong, never what it holds.
            let value = AsciiMetadataValue::try_from(v.expose())
                .map_err(|_| format!("headers.{k}: not valid ASCII"))?;
            headers.insert(key, value);
        }
        Ok(Self {
            channel,
            headers,
            gzip: matches!(cfg.compression, Compression::Gzip),
        })
    }

    pub(super) async fn send(&self, signal: Signal, body: Bytes) -> Result<Accepted, Failure> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc = grpc.accept_compressed(CompressionEncoding::Gzip);
        grpc.ready().await.map_err(|e| Failure::Retryable {
            message: format!("connect: {e}"),
            after: None,
        })?;
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.headers.clone();
        let result = match signal {
            Signal::Traces => call::<ExportTraceServiceResponse>(&mut grpc, request).await,
            Signal::Metrics => call::<ExportMetricsServiceResponse>(&mut grpc, request).await,
            Signal::Logs => call::<ExportLogsServiceResponse>(&mut grpc, request).await,
        };
        result.map_err(|status| {
            // The spec's table is about codes a server answers with. A connection that broke under the request
            // (tonic reports it as UNKNOWN with the transport error as its source) got no answer: retry it.
            if status.code() == tonic::Code::Unknown
                && let Some(cause) = std::error::Error::source(&status)
            {
                return Failure::Retryable {
                    message: format!("grpc transport: {cause}"),
                    after: None,
                };
            }
            let hint = status.get_details_retry_info().and_then(|r| r.retry_delay);
            retry::grpc(status.code(), status.message(), hint)
        })
    }
}

/// One unary `Export` call answered by `R`.
async fn call<R: ExportResponse>(
    grpc: &mut tonic::client::Grpc<Channel>,
    request: tonic::Request<Bytes>,
) -> Result<Accepted, tonic::Status> {
    let path = http::uri::PathAndQuery::from_static(R::GRPC_PATH);
    grpc.unary(request, path, PreEncoded::<R>::default())
        .await
        .map(|r| r.into_inner().accepted())
}

/// A codec that sends bytes already holding an encoded request and decodes the prost response `R`.
#[derive(Debug)]
struct PreEncoded<R>(PhantomData<R>);

impl<R> Default for PreEncoded<R> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<R: prost::Message + Default + Send + 'static> Codec for PreEncoded<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = BytesEncoder;
    type Decoder = ProstResponse<R>;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstResponse(tonic_prost::ProstDecoder::new(BufferSettings::default()))
    }
}

#[derive(Debug)]
struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

#[derive(Debug)]
struct ProstResponse<R>(tonic_prost::ProstDecoder<R>);

impl<R: prost::Message + Default> Decoder for ProstResponse<R> {
    type Item = R;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Self::Error> {
        self.0.decode(src)
    }
}
