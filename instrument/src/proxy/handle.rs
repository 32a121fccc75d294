//! One request's way through the proxy: it arrives (its span opens), its body is read when the API is one the
//! proxy understands ([`super::request`]), its [`Exchange`] starts, it is forwarded ([`super::forward`]) and the
//! answer relayed; or, when any of that fails, the proxy answers with the [`ProxyError`] in the client's dialect
//! and the exchange records it. Requests come from the accept loop ([`super::serve`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::body::ProxyBody;
use super::error::ProxyError;
use super::forward::{self, Forwarder, Upload};
use super::headers;
use super::record::{Arrival, Exchange, Shared};
use super::request::{self, RequestFacts};
use crate::stream::{Api, Dialect};

/// Everything a request handler needs, shared by every request of one receiver.
#[derive(Debug)]
pub(super) struct State {
    pub shared: Arc<Shared>,
    pub forward: Forwarder,
    pub max_body: usize,
    pub read_timeout: Duration,
    pub include_usage: bool,
    /// The API keys clients must send (`api_keys:`), when on.
    pub api_keys: Option<super::auth::ApiKeys>,
}

/// Serves one request.
pub(super) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (mut parts, body) = req.into_parts();
    state
        .shared
        .events
        .record_event(llmtel_pipelines::stats::ReceiverEvent::ProxyRequest);
    // Before anything is recorded: a refused request makes no span, and the key's header is gone from here on.
    if let Some(keys) = &state.api_keys
        && !keys.admit(&mut parts.headers)
    {
        return Ok(ProxyError::Unauthorized.response(Dialect::of_path(parts.uri.path())));
    }
    let parent = headers::extract_context(&parts.headers);
    let load_tags = super::baggage::load_tags(&parts.headers);
    // The span opens now, so that upload time counts; it is named once the body says what the request is.
    let arrival = Arrival::new(&state.shared, parent.clone());
    let path = parts.uri.path().to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let api = (parts.method == Method::POST)
        .then(|| Api::from_path(&path))
        .flatten();
    let dialect = api.map_or_else(|| Dialect::of_path(&path), Api::dialect);
    let mut headers = headers::for_upstream(parts.headers, parts.version);

    let (facts, upload) = intake(&state, api, body).await;
    let mut exchange = Exchange::start(
        state.shared.clone(),
        arrival,
        api,
        facts,
        parts.method.as_str(),
        &path,
    );
    exchange.tag(load_tags);
    let answer = match upload {
        Ok(upload) => {
            headers::inject_context(&exchange.context(), &parent, &mut headers);
            state
                .forward
                .forward(&parts.method, &path_and_query, &headers, upload)
                .await
        }
        Err(e) => Err(e),
    };
    Ok(match answer {
        Ok(answer) => forward::relay(exchange, api, answer, state.read_timeout),
        Err(e) => {
            exchange.fail(&e);
            e.response(dialect)
        }
    })
}

/// What goes upstream and what the request says. For the APIs the proxy understands, the body is read whole (and
/// also with usage requested, when the proxy asks for it); anything else streams through unread.
async fn intake(
    state: &State,
    api: Option<Api>,
    body: Incoming,
) -> (RequestFacts, Result<Upload, ProxyError>) {
    let Some(api) = api else {
        return (RequestFacts::default(), Ok(Upload::Stream(body)));
    };
    let bytes = match request::read_whole(body, state.max_body, state.read_timeout).await {
        Ok(bytes) => bytes,
        Err(e) => return (RequestFacts::default(), Err(e)),
    };
    let facts = request::parse(api, &bytes, state.shared.capture_content);
    let wants_usage =
        state.include_usage && api.is_openai() && facts.stream && !facts.client_asked_usage;
    let with_usage = wants_usage
        .then(|| request::with_usage_requested(&bytes))
        .flatten()
        .map(bytes::Bytes::from);
    (facts, Ok(Upload::Whole(bytes, with_usage)))
}
