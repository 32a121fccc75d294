//! One request's way through the proxy: it arrives (its span opens), its body is read when the API is one the
//! proxy understands ([`super::request`]), its [`Exchange`] starts, it is forwarded ([`super::forward`]) and the
//! answer relayed; or, when any of that fails, the proxy answers with the [`ProxyError`] in the client's dialect
//! and the exchange records it. A request beyond `max_concurrent_requests` ([`super::limit`]) is refused at once,
//! before its body is read. Requests come from the accept loop ([`super::serve`]), each with a token that closes
//! its client's connection (the write timeout uses it, [`super::stall`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use llmtel_pipelines::events::EventCounter;
use tokio_util::sync::CancellationToken;

use super::body::{Hold, ProxyBody};
use super::error::ProxyError;
use super::forward::{self, Forwarder, Upload};
use super::headers;
use super::limit::Limit;
use super::record::{Arrival, Exchange, Shared};
use super::request::{self, RequestFacts};
use super::stall::WriteWatch;
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
    /// `max_concurrent_requests`.
    pub limit: Arc<Limit>,
    /// Counts the requests refused by the limit.
    pub refused: Arc<EventCounter>,
    /// `write_timeout`, and the count of clients it gave up on.
    pub write_timeout: Duration,
    pub stalled: Arc<EventCounter>,
}

/// Serves one request that came on the connection `connection` closes.
pub(super) async fn handle(
    state: Arc<State>,
    connection: CancellationToken,
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
    // A request refused for its key takes no place under `max_concurrent_requests`.
    let permit = state.limit.try_enter();
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
    let Some(permit) = permit else {
        // Refused at once: the body is not read, the upstream never sees the request.
        let e = ProxyError::Overloaded {
            max: state.limit.max(),
        };
        state.refused.emit(1, &format_args!("{path}"));
        let exchange = Exchange::start(
            state.shared.clone(),
            arrival,
            api,
            RequestFacts::default(),
            parts.method.as_str(),
            &path,
        );
        exchange.fail(&e, dialect);
        return Ok(e.response(dialect));
    };
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
        Ok(answer) => {
            let hold = Hold {
                permit: Some(permit),
                watch: Some(WriteWatch::spawn(
                    state.write_timeout,
                    connection,
                    state.stalled.clone(),
                )),
                cut: state.shared.cut.clone(),
            };
            forward::relay(exchange, api, answer, state.read_timeout, hold)
        }
        Err(e) => {
            exchange.fail(&e, dialect);
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
