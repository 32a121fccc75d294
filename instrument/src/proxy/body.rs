//! The response body the client reads: the upstream's body, frame by frame, unchanged and unbuffered, with a
//! copy of each chunk (a reference-counted `Bytes`, no copy of the data) handed to the request's tracker.
//!
//! The copy is handed over before the chunk is returned to hyper, stamped with the instant of forwarding, so the
//! tracker's timings are the client's timings; the hand-over is a non-blocking channel send, so parsing never
//! delays a chunk. The body also enforces the read timeout between chunks and, when the proxy asked the upstream
//! for usage the client did not ask for, removes that one usage event (see [`UsageFilter`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, Sleep};

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
}

/// What the body tells the tracker.
#[derive(Debug)]
pub enum TapEvent {
    /// A chunk was forwarded at this instant.
    Chunk(std::time::Instant, Bytes),
    /// The body ended.
    End(std::time::Instant, Ending),
}

/// The error the client's connection sees when the upstream body fails or stalls.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The upstream body, tapped.
pub struct TappedBody {
    inner: Incoming,
    // Unbounded on purpose: each event refers to a chunk the client is receiving anyway, the tracker consumes at
    // parse speed (far above any model's output rate), and a bounded channel would have to either block the
    // client's chunk or lose the tracker's timings.
    tap: Option<UnboundedSender<TapEvent>>,
    read_timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    filter: Option<UsageFilter>,
}

impl std::fmt::Debug for TappedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TappedBody").finish_non_exhaustive()
    }
}

impl TappedBody {
    /// Wraps `inner`; `filter` removes the usage event the proxy added.
    pub fn new(
        inner: Incoming,
        tap: UnboundedSender<TapEvent>,
        read_timeout: Duration,
        filter: Option<UsageFilter>,
    ) -> Self {
        Self {
            inner,
            tap: Some(tap),
            read_timeout,
            deadline: Box::pin(tokio::time::sleep(read_timeout)),
            filter,
        }
    }

    fn end(&mut self, ending: Ending) {
        if let Some(tap) = self.tap.take() {
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
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let timeout = this.read_timeout;
                    this.deadline.as_mut().reset(Instant::now() + timeout);
                    let Some(data) = frame.data_ref() else {
                        return Poll::Ready(Some(Ok(frame)));
                    };
                    if let Some(tap) = &this.tap {
                        let _ = tap.send(TapEvent::Chunk(std::time::Instant::now(), data.clone()));
                    }
                    // With a known length hyper may stop polling after the last byte: end here, not on drop.
                    if this.inner.is_end_stream() && this.filter.is_none() {
                        this.end(Ending::Complete);
                    }
                    match this.filter.as_mut() {
                        None => return Poll::Ready(Some(Ok(frame))),
                        Some(f) => {
                            let out = f.push(data);
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
                    if this.tap.is_some() && this.deadline.as_mut().poll(cx).is_ready() {
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

impl Drop for TappedBody {
    fn drop(&mut self) {
        // Dropped before the end: the client went away. Dropping `inner` closes the upstream connection, which is
        // how the model server learns to stop generating.
        let ending = if self.inner.is_end_stream() {
            Ending::Complete
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
    fn an_unterminated_last_event_is_forwarded_at_the_end() {
        let mut f = UsageFilter::new(Api::OpenAiChat);
        assert_eq!(f.push(b"data: {\"choices\":[]}"), Bytes::new());
        assert_eq!(
            f.finish(),
            Some(Bytes::from_static(b"data: {\"choices\":[]}"))
        );
    }
}
