//! What the tracker has seen of one response: the deltas of its frames ([`crate::stream`]) folded into the facts
//! the request's spans report (phases, usage and cache counts, tool calls, timings, the server's own error, parse
//! errors), as the frames arrive. Fed by the tracker in [`super`]; read once, when the spans are made.

use std::time::Instant;

use crate::phase::PhaseTracker;
use crate::proxy::body::Ending;
use crate::stream::{
    Api, CacheUsage, Delta, Framing, ParseError, ServerTimings, ToolCalls, Usage, decode_frame,
};

/// What the tracker has seen of a response.
pub(super) struct Seen {
    pub phases: PhaseTracker<Instant>,
    /// Whether the body was parsed at all (not when it is compressed).
    pub parsed: bool,
    pub bytes: u64,
    pub last_chunk: Option<Instant>,
    pub done: bool,
    pub model: Option<String>,
    pub id: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Usage,
    pub cache: CacheUsage,
    pub tools: ToolCalls,
    /// The server's own timings, and when the frame that carried them was forwarded.
    pub timings: Option<(ServerTimings, Instant)>,
    pub server_error: Option<String>,
    pub parse_errors: u64,
    pub first_parse_error: Option<String>,
}

impl Seen {
    pub fn new(keep_text: bool) -> Self {
        Self {
            phases: PhaseTracker::new(keep_text),
            parsed: false,
            bytes: 0,
            last_chunk: None,
            done: false,
            model: None,
            id: None,
            finish_reason: None,
            usage: Usage::default(),
            cache: CacheUsage::default(),
            // Arguments are content: kept only when text is.
            tools: ToolCalls::new(keep_text),
            timings: None,
            server_error: None,
            parse_errors: 0,
            first_parse_error: None,
        }
    }

    /// How the response really ended: a stream whose end marker (`[DONE]`, `"done": true`,
    /// `response.completed` / `.failed` / `.incomplete`, `message_stop`) was forwarded is complete, whatever the
    /// client's connection did after it (clients close as soon as they read the marker).
    pub fn settle(&self, ending: Ending) -> Ending {
        match ending {
            Ending::ClientGone | Ending::Shutdown if self.done => Ending::Complete,
            other => other,
        }
    }

    pub fn error(&mut self, e: ParseError) {
        self.parse_errors += 1;
        self.first_parse_error.get_or_insert_with(|| e.to_string());
    }

    pub fn frame(&mut self, api: Api, framing: Framing, at: Instant, raw: &[u8]) {
        self.decoded(at, decode_frame(api, framing, raw));
    }

    pub fn decoded(&mut self, at: Instant, mut result: Result<Option<Delta>, ParseError>) {
        // By reference: a delta is a few hundred bytes, and this is once per frame.
        if let Ok(Some(d)) = &mut result {
            self.delta(at, d);
        } else if let Err(e) = result {
            self.error(e);
        }
    }

    pub fn delta(&mut self, at: Instant, d: &mut Delta) {
        self.phases.observe(at, d);
        for f in d.tools.drain(..) {
            self.tools.push(f);
        }
        self.done |= d.done;
        let keep = |slot: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *slot = v;
            }
        };
        if self.model.is_none() {
            self.model = d.model.take();
        }
        if self.id.is_none() {
            self.id = d.id.take();
        }
        keep(&mut self.finish_reason, d.finish_reason.take());
        keep(&mut self.server_error, d.error.take());
        let u = &d.usage;
        self.usage.input = u.input.or(self.usage.input);
        self.usage.output = u.output.or(self.usage.output);
        self.usage.reasoning = u.reasoning.or(self.usage.reasoning);
        self.cache.read = d.cache.read.or(self.cache.read);
        self.cache.creation = d.cache.creation.or(self.cache.creation);
        // Servers send their timings once, in the last frame; a later set replaces an earlier one whole.
        if let Some(t) = d.timings.take() {
            self.timings = Some((*t, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_leaves_after_the_end_marker_leaves_a_complete_stream() {
        let now = Instant::now();
        for (api, last) in [
            (Api::OpenAiChat, &b"data: [DONE]\n\n"[..]),
            (Api::OpenAiResponses, b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\"}}\n\n"),
            (Api::OpenAiResponses, b"data: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\"}}\n\n"),
            (Api::AnthropicMessages, b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        ] {
            let mut s = Seen::new(false);
            assert_eq!(s.settle(Ending::ClientGone), Ending::ClientGone, "nothing seen yet");
            s.frame(api, Framing::Sse, now, last);
            assert_eq!(s.settle(Ending::ClientGone), Ending::Complete, "{api:?}");
            assert_eq!(s.settle(Ending::ReadTimeout), Ending::ReadTimeout);
        }
        let mut s = Seen::new(false);
        s.frame(
            Api::OllamaChat,
            Framing::Ndjson,
            now,
            br#"{"message":{"content":""},"done":true}"#,
        );
        assert_eq!(s.settle(Ending::ClientGone), Ending::Complete);
        let mut s = Seen::new(false);
        s.frame(
            Api::AnthropicMessages,
            Framing::Sse,
            now,
            b"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n",
        );
        assert_eq!(
            s.settle(Ending::ClientGone),
            Ending::ClientGone,
            "a stop reason is not the end marker"
        );
    }
}
