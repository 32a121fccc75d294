//! Header handling at the proxy's two edges: what of the client's request headers goes upstream (less hop-by-hop
//! headers, HTTP/2 cookies joined, the caller's trace context replaced by the request span's), and what of the
//! upstream's response headers goes back to the client. Also reading the caller's `traceparent` and writing ours.
//!
//! Headers come from hyper's parsed requests and responses and go to the upstream request and the client's
//! response ([`super::handle`], [`super::forward`]).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The client's request headers as they go upstream, without the trace context (see [`inject_context`]).
pub fn for_upstream(mut headers: HeaderMap, version: http::Version) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    if version == http::Version::HTTP_2 {
        join_cookies(&mut headers);
    }
    // The client's connection to us is not the upstream's; hyper sets Host from the upstream URL.
    headers.remove(header::HOST);
    headers.remove("traceparent");
    headers.remove("tracestate");
    headers
}

/// The upstream's response headers as they go to the client.
pub fn for_client(headers: &mut HeaderMap) {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        // hyper decoded the chunked body; a Content-Length beside it (RFC 9112 says ignore it) must not frame ours.
        headers.remove(header::CONTENT_LENGTH);
    }
    strip_hop_by_hop(headers);
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(*n);
    }
}

/// HTTP/2 clients may split cookies over several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    let parts: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if parts.len() > 1
        && let Ok(joined) = HeaderValue::from_str(&parts.join("; "))
    {
        headers.insert(header::COOKIE, joined);
    }
}

/// The caller's trace context (`traceparent`, `tracestate`), if it sent one.
pub fn extract_context(headers: &HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HeaderExtract(headers))
}

/// Puts the request span's context in `headers` as `traceparent`, keeping the caller's sampling decision: every
/// request is recorded here, but a caller that sampled out asks the upstream not to record either.
pub fn inject_context(
    cx: &opentelemetry::Context,
    parent: &opentelemetry::Context,
    headers: &mut HeaderMap,
) {
    use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags};
    let ours = cx.span().span_context().clone();
    let theirs = parent.span().span_context().clone();
    let sc = if theirs.is_valid() && !theirs.is_sampled() {
        SpanContext::new(
            ours.trace_id(),
            ours.span_id(),
            TraceFlags::default(),
            false,
            ours.trace_state().clone(),
        )
    } else {
        ours
    };
    let cx = opentelemetry::Context::new().with_remote_span_context(sc);
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInject(headers));
}

struct HeaderExtract<'a>(&'a HeaderMap);

impl Extractor for HeaderExtract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInject<'a>(&'a mut HeaderMap);

impl Injector for HeaderInject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_h2_cookies_are_joined() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k"));
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        strip_hop_by_hop(&mut h);
        join_cookies(&mut h);
        assert!(h.get("x-private").is_none() && h.get(header::CONNECTION).is_none());
        assert!(h.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(
            h[header::AUTHORIZATION],
            "Bearer k",
            "end-to-end headers stay"
        );
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h[header::COOKIE], "a=1; b=2");
    }
}
