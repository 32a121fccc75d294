//! The bodies the proxy hands on ([`ProxyBody`]), chiefly the response body the client reads: the upstream's
//! body, unchanged and unbuffered, with a copy of each chunk (a reference-counted `Bytes`) handed to the
//! request's tracker ([`super::record`]).
//!
//! The upstream body ([`super::h1::UpstreamBody`]) is read in the task that writes to the client, and each frame is
//! what one read of the upstream socket brought (up to 64 KiB): the way nginx forwards, one write for all the chunks
//! that came together, and no waiting for anything not yet there. Chunks that arrive together are forwarded at the
//! same instant, which is the stamp each of them gets.
//!
//! The copy is stamped with the instant of forwarding before the chunk is returned to hyper, so the tracker's
//! timings are the client's timings; copies are handed over in small groups by a non-blocking channel send (see
//! [`TappedBody::stamp`]), so parsing never delays a chunk. The body also enforces the read timeout between
//! chunks and, when the proxy asked the upstream for usage the client did not ask for, removes that one usage
//! event (see [`UsageFilter`]). While it runs it holds the request's [`Hold`]: its place under
//! `max_concurrent_requests` and the write watch that notices a client that stopped reading
//! ([`super::stall`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::h1::UpstreamBody;
use super::limit::Permit;
use super::stall::WriteWatch;

use crate::stream::{Api, Framing, Split, Splitter, decode_frame};

/// Why a response body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The upstream finished the body.
    Complete,
    /// The upstream connection failed mid-body.
    UpstreamError(String),
    /// No chunk for longer than the read timeout.
    ReadTimeout,
    /// The client went away before the end (the upstream request is cancelled by dropping it).
    ClientGone,
    /// The client stopped reading for `write_timeout`: the proxy closed its connection and cancelled the upstream.
    ClientStalled,
    /// Still running when the shutdown's `drain_timeout` ran out: cancelled, upstream too.
    Shutdown,
}

impl Ending {
    /// `error.type` and the message of an ending cut short (`None` for a body that completed).
    pub fn failure(&self) -> Option<(String, String)> {
        use llmtel_config::semconv::error_type;
        let (kind, why) = match self {
            Self::Complete => return None,
            Self::UpstreamError(e) => {
                return Some((
                    "upstream_stream_error".into(),
                    format!("upstream body failed: {e}"),
                ));
            }
            Self::ClientGone => (
                "client_disconnected",
                "the client closed the connection before the response ended; the upstream request was cancelled",
            ),
            Self::ClientStalled => (
                error_type::CLIENT_STALLED,
                "the client stopped reading the response for write_timeout; the proxy closed its connection and cancelled the upstream request",
            ),
            Self::Shutdown => (
                error_type::SHUTDOWN,
                "still running when the shutdown's drain_timeout ran out; the upstream request was cancelled",
            ),
            Self::ReadTimeout => ("timeout", "upstream stopped sending (read_timeout)"),
        };
        Some((kind.to_owned(), why.to_owned()))
    }
}

/// What a response holds until its body ends.
#[derive(Debug, Default)]
pub struct Hold {
    /// Its place under `max_concurrent_requests`.
    pub permit: Option<Permit>,
    /// The write timeout's watch of the client's connection.
    pub watch: Option<WriteWatch>,
    /// Cancelled when the shutdown's drain time ran out (a body dropped after that was cut by the shutdown).
    pub cut: CancellationToken,
}

/// What the body tells the tracker.
#[derive(Debug)]
pub enum TapEvent {
    /// Chunks forwarded, each with the instant it was handed to the client's connection.
    Chunks(Vec<(std::time::Instant, Bytes)>),
    /// The body ended.
    End(std::time::Instant, Ending),
}

/// The error the client's connection sees when the upstream body fails or stalls.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of responses to clients and requests to the upstream.
pub type ProxyBody = UnsyncBoxBody<Bytes, BodyError>;

/// A body of bytes already in hand (a request read whole, an error answer).
pub fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The upstream body, tapped.
pub struct TappedBody {
    inner: UpstreamBody,
    // Unbounded on purpose: each event refers to a chunk the client is receiving anyway, the tracker consumes at
    // parse speed (far above any model's output rate), and a bounded channel would have to either block the
    // client's chunk or lose the tracker's timings.
    tap: Option<UnboundedSender<TapEvent>>,
    /// Chunks stamped but not yet handed to the tracker (see [`TappedBody::hand_over`]).
    unsent: Vec<(std::time::Instant, Bytes)>,
    read_timeout: Duration,
    /// Fires at the earliest possible read timeout; moved on lazily from `last_chunk` when it fires.
    deadline: Pin<Box<Sleep>>,
    last_chunk: Instant,
    filter: Option<UsageFilter>,
    /// Released when the body ends.
    hold: Hold,
}

impl std::fmt::Debug for TappedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TappedBody").finish_non_exhaustive()
    }
}

impl TappedBody {
    /// Wraps `inner`; `filter` removes the usage event the proxy added; `hold` is kept until the body ends.
    pub fn new(
        inner: UpstreamBody,
        tap: UnboundedSender<TapEvent>,
        read_timeout: Duration,
        filter: Option<UsageFilter>,
        hold: Hold,
    ) -> Self {
        Self {
            inner,
            tap: Some(tap),
            unsent: Vec::new(),
            read_timeout,
            deadline: Box::pin(tokio::time::sleep(read_timeout)),
            last_chunk: Instant::now(),
            filter,
            hold,
        }
    }

    /// Whether the read timeout has passed since the last chunk; re-arms the timer when it fired early.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        while self.deadline.as_mut().poll(cx).is_ready() {
            let due = self.last_chunk + self.read_timeout;
            if Instant::now() >= due {
                return true;
            }
            self.deadline.as_mut().reset(due);
        }
        false
    }

    /// Stamps a forwarded chunk for the tracker. Chunks go over in groups: each hand-over wakes the tracker's task,
    /// and at thousands of chunks a second one wake per chunk costs more than parsing it. The timings are not
    /// affected (each chunk keeps its own stamp). A group goes as soon as it has 32 chunks, when a chunk arrives 20 ms
    /// or more after the group's oldest (so a model's token stream, tens of ms per token, is handed over a chunk or
    /// two at a time), and at the end.
    fn stamp(&mut self, data: &Bytes, now: std::time::Instant) {
        let Some(tap) = &self.tap else { return };
        self.unsent.push((now, data.clone()));
        let oldest = self.unsent.first().map_or(now, |(at, _)| *at);
        if self.unsent.len() >= 32 || now.duration_since(oldest) >= Duration::from_millis(20) {
            let _ = tap.send(TapEvent::Chunks(std::mem::take(&mut self.unsent)));
        }
    }

    fn end(&mut self, ending: Ending) {
        // The request no longer counts against the limit, and the client's connection is no longer watched.
        self.hold.permit = None;
        self.hold.watch = None;
        if let Some(tap) = self.tap.take() {
            if !self.unsent.is_empty() {
                let _ = tap.send(TapEvent::Chunks(std::mem::take(&mut self.unsent)));
            }
            // The tracker may already be gone (it never is before the end, but a send error is not ours to raise).
            let _ = tap.send(TapEvent::End(std::time::Instant::now(), ending));
        }
    }
}

impl Body for TappedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Some(w) = &this.hold.watch {
            w.polled();
        }
        let next = this.poll_next(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(w)) = (&next, &this.hold.watch) {
            w.handed();
        }
        next
    }

    fn is_end_stream(&self) -> bool {
        // Always polled to the end, so the tracker learns that the body finished.
        false
    }

    fn size_hint(&self) -> SizeHint {
        match self.filter {
            Some(_) => SizeHint::default(),
            None => self.inner.size_hint(),
        }
    }
}

impl TappedBody {
    /// The next frame for the client: the upstream's, stamped for the tracker and filtered.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self;
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let now = std::time::Instant::now();
                    this.last_chunk = Instant::from_std(now);
                    let Some(data) = frame.data_ref() else {
                        return Poll::Ready(Some(Ok(frame)));
                    };
                    let data = data.clone();
                    this.stamp(&data, now);
                    // With a known length hyper may stop polling after the last byte: end here, not on drop.
                    if this.inner.is_end_stream() && this.filter.is_none() {
                        this.end(Ending::Complete);
                    }
                    match this.filter.as_mut() {
                        None => return Poll::Ready(Some(Ok(frame))),
                        Some(f) => {
                            let out = f.push(&data);
                            if out.is_empty() {
                                continue;
                            }
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.end(Ending::UpstreamError(e.to_string()));
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Poll::Ready(None) => {
                    if let Some(rest) = this.filter.as_mut().and_then(UsageFilter::finish) {
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                    this.end(Ending::Complete);
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.tap.is_some() && this.timed_out(cx) {
                        this.end(Ending::ReadTimeout);
                        let secs = this.read_timeout.as_secs_f64();
                        return Poll::Ready(Some(Err(format!(
                            "upstream sent nothing for {secs}s (read_timeout)"
                        )
                        .into())));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for TappedBody {
    fn drop(&mut self) {
        // Dropped before the end: the client went away. Dropping `inner` closes the upstream connection, which is
        // how the model server learns to stop generating.
        let ending = if self.inner.is_end_stream() {
            Ending::Complete
        } else if self.hold.watch.as_ref().is_some_and(WriteWatch::stalled) {
            Ending::ClientStalled
        } else if self.hold.cut.is_cancelled() {
            Ending::Shutdown
        } else {
            Ending::ClientGone
        };
        self.end(ending);
    }
}

/// Removes the usage-only event (`choices: []` with `usage`) from an OpenAI-style SSE stream, for clients that did
/// not ask for usage when the proxy asked the upstream for it. Every other byte passes unchanged; bytes are held
/// only until the event they belong to is complete.
#[derive(Debug)]
pub struct UsageFilter {
    api: Api,
    splitter: Splitter,
    /// Set once an event grew past [`HOLD_LIMIT`]: from then on everything passes unfiltered.
    passthrough: bool,
}

/// The most bytes the filter holds while waiting for an event to complete.
const HOLD_LIMIT: usize = 1 << 20;

impl UsageFilter {
    /// A filter for an SSE response of `api`.
    pub fn new(api: Api) -> Self {
        Self {
            api,
            // Larger than HOLD_LIMIT so that the splitter never drops an event itself.
            splitter: Splitter::new(Framing::Sse, 2 * HOLD_LIMIT + 1),
            passthrough: false,
        }
    }

    /// The bytes of `chunk` (and of events it completes) to forward now.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        if self.passthrough {
            return Bytes::copy_from_slice(chunk);
        }
        if self.splitter.buffered() + chunk.len() > HOLD_LIMIT {
            // Not a usage chunk (those are small): stop holding and forward what is held, unchanged.
            self.passthrough = true;
            let mut out = self.splitter.take_pending();
            out.extend_from_slice(chunk);
            return Bytes::from(out);
        }
        let mut out = Vec::with_capacity(chunk.len());
        let api = self.api;
        self.splitter.push(chunk, &mut |s| match s {
            Split::Frame(raw) => {
                let usage_only = memchr_usage(raw)
                    && matches!(decode_frame(api, Framing::Sse, raw), Ok(Some(d)) if d.usage_only);
                if !usage_only {
                    out.extend_from_slice(raw);
                }
            }
            // Unreachable: the hold limit above switches to pass-through first.
            Split::TooLong => {}
        });
        Bytes::from(out)
    }

    /// Whatever is held at the end of the body (an unterminated last event), unchanged.
    pub fn finish(&mut self) -> Option<Bytes> {
        let rest = self.splitter.take_pending();
        (!rest.is_empty()).then(|| Bytes::from(rest))
    }
}

/// A cheap pre-check before decoding: usage chunks contain `"usage"`.
fn memchr_usage(raw: &[u8]) -> bool {
    raw.windows(7).any(|w| w == b"\"usage\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_event_is_removed_and_every_other_byte_kept_at_any_cut() {
        let kept = "data: {\"choices\":[{\"delta\":{\"content\":\"é\"}}]}\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
        let usage =
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n";
        let done = "data: [DONE]\n\n";
        let body = format!("{kept}{usage}{done}");
        for cut in 0..body.len() {
            let mut f = UsageFilter::new(Api::OpenAiChat);
            let mut out = f.push(&body.as_bytes()[..cut]).to_vec();
            out.extend_from_slice(&f.push(&body.as_bytes()[cut..]));
            if let Some(rest) = f.finish() {
                out.extend_from_slice(&rest);
            }
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{kept}{done}"),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_huge_event_stops_the_filter_and_loses_nothing() {
        let mut f = UsageFilter::new(Api::OpenAiChat);
        let big = format!("data: {{\"x\":\"{}\"}}\n\n", "a".repeat(HOLD_LIMIT));
        let mut out = f.push(&big.as_bytes()[..10]).to_vec();
        out.extend_from_slice(&f.push(&big.as_bytes()[10..]));
        assert_eq!(out, big.as_bytes());
    }

    #[test]
    fn each_cut_ending_has_its_own_error_type() {
        let kinds: Vec<Option<String>> = [
            Ending::Complete,
            Ending::ClientGone,
            Ending::ClientStalled,
            Ending::Shutdown,
            Ending::ReadTimeout,
            Ending::UpstreamError("reset".into()),
        ]
        .iter()
        .map(|e| e.failure().map(|(kind, _)| kind))
        .collect();
        let expected = [
            None,
            Some("client_disconnected"),
            Some("client_stalled"),
            Some("shutdown"),
            Some("timeout"),
            Some("upstream_stream_error"),
        ];
        assert_eq!(kinds, expected.map(|k| k.map(str::to_owned)));
    }

    #[test]
    fn an_unterminated_last_event_is_forwarded_at_the_end() {
        let mut f = UsageFilter::new(Api::OpenAiChat);
        assert_eq!(f.push(b"data: {\"choices\":[]}"), Bytes::new());
        assert_eq!(
            f.finish(),
            Some(Bytes::from_static(b"data: {\"choices\":[]}"))
        );
    }
}
