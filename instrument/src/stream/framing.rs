//! Framing: cuts the bytes of a response body into frames — NDJSON lines, SSE events, or one whole JSON document —
//! and takes the JSON out of an SSE event's `data:` lines. Bytes come from the proxy's tap of the response (or
//! the usage filter); frames go to the dialect decoders ([`super::decode_frame`]).
//!
//! Framing knows nothing about what the JSON says, and the dialects nothing about how it was cut, so a new
//! dialect needs no framing code and a new framing no dialect code. Framing works on raw bytes, so a chunk
//! boundary anywhere (inside a JSON string, inside a multi-byte UTF-8 character) changes nothing: text is only
//! decoded once its frame is complete.

use std::borrow::Cow;
/// How a response body is cut into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document per line (Ollama streaming, `application/x-ndjson`).
    Ndjson,
    /// Server-sent events (`text/event-stream`): `data:` lines, events end at a blank line.
    Sse,
    /// The whole body is one JSON document.
    Whole,
}

impl Framing {
    /// The framing of a response with this `Content-Type`.
    pub fn from_content_type(ct: &str) -> Self {
        let ct = ct.to_ascii_lowercase();
        if ct.starts_with("text/event-stream") {
            Self::Sse
        } else if ct.starts_with("application/x-ndjson") || ct.starts_with("application/jsonl") {
            Self::Ndjson
        } else {
            Self::Whole
        }
    }
}

/// Cuts bytes into complete lines (NDJSON) or complete events (SSE), keeping the unfinished tail.
///
/// Each frame is handed out as the raw bytes it was sent as, terminator included, so a caller can forward
/// frames unchanged. The tail is bounded by `max`: a frame longer than that is reported with [`Split::TooLong`]
/// and skipped rather than buffered without end.
#[derive(Debug)]
pub struct Splitter {
    events: bool,
    /// `Framing::Whole`: no terminator; the body is one frame, handed out by [`Splitter::finish`].
    whole: bool,
    buf: Vec<u8>,
    /// Where to resume looking for a terminator in `buf`.
    scanned: usize,
    /// Start of the current line within `buf` (SSE: a blank line ends an event).
    line_start: usize,
    max: usize,
    skipping: bool,
}

/// What a [`Splitter`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Split<'a> {
    /// A complete frame, terminator included.
    Frame(&'a [u8]),
    /// A frame longer than the limit was skipped.
    TooLong,
}

impl Splitter {
    /// A splitter for `framing`. With `Whole`, the body (pretty-printed or not) is one frame, held until
    /// [`Splitter::finish`]; past `max` it is reported [`Split::TooLong`] and dropped.
    pub fn new(framing: Framing, max: usize) -> Self {
        Self {
            events: framing == Framing::Sse,
            whole: framing == Framing::Whole,
            buf: Vec::new(),
            scanned: 0,
            line_start: 0,
            max,
            skipping: false,
        }
    }

    /// Adds `chunk` and hands every frame it completes to `f`, in order.
    pub fn push(&mut self, chunk: &[u8], f: &mut dyn FnMut(Split<'_>)) {
        if self.whole {
            if self.skipping {
                return;
            }
            if self.buf.len() + chunk.len() > self.max {
                self.buf = Vec::new();
                self.skipping = true;
                f(Split::TooLong);
            } else {
                self.buf.extend_from_slice(chunk);
            }
            return;
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.skipping {
                // Drop bytes until the end of the over-long frame.
                match self.find_end_while_skipping(rest) {
                    Some(n) => {
                        rest = &rest[n..];
                        self.skipping = false;
                    }
                    None => return,
                }
                continue;
            }
            if self.buf.is_empty() {
                rest = self.push_unbuffered(rest, f);
                continue;
            }
            // The end of the frame held so far comes first: up to the next newline (and no more than the limit
            // allows). What follows is cut in place, as above.
            let line = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            let take = line.min(self.max.saturating_sub(self.buf.len()).max(1));
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            let mut frame_start = 0;
            while let Some(off) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                let nl = self.scanned + off;
                self.scanned = nl + 1;
                let line = &self.buf[self.line_start..nl];
                let blank = line.is_empty() || line == b"\r";
                self.line_start = nl + 1;
                if !self.events || blank {
                    f(Split::Frame(&self.buf[frame_start..=nl]));
                    frame_start = nl + 1;
                }
            }
            self.buf.drain(..frame_start);
            self.scanned -= frame_start;
            self.line_start -= frame_start;
            self.check_limit(f);
        }
    }

    /// With nothing held: hands out the frames that `chunk` holds whole straight from it (no copy), keeps the start
    /// of an unfinished one, and returns what is left to look at (bytes to skip after an over-long frame).
    fn push_unbuffered<'c>(&mut self, chunk: &'c [u8], f: &mut dyn FnMut(Split<'_>)) -> &'c [u8] {
        let (mut frame_start, mut line_start, mut scanned) = (0, 0, 0);
        while let Some(off) = memchr::memchr(b'\n', &chunk[scanned..]) {
            let nl = scanned + off;
            scanned = nl + 1;
            let line = &chunk[line_start..nl];
            let blank = line.is_empty() || line == b"\r";
            line_start = nl + 1;
            if !self.events || blank {
                if nl + 1 - frame_start > self.max {
                    f(Split::TooLong);
                } else {
                    f(Split::Frame(&chunk[frame_start..=nl]));
                }
                frame_start = nl + 1;
            }
        }
        let tail = &chunk[frame_start..];
        if tail.len() >= self.max {
            // As if held: the first `max` bytes of the unfinished frame fill the buffer, and the rest is skipped.
            self.buf.extend_from_slice(&tail[..self.max]);
            self.check_limit(f);
            return &tail[self.max..];
        }
        self.buf.extend_from_slice(tail);
        self.scanned = scanned - frame_start;
        self.line_start = line_start - frame_start;
        &[]
    }

    /// A frame held that has reached the limit without its end is dropped, and skipped to its end.
    fn check_limit(&mut self, f: &mut dyn FnMut(Split<'_>)) {
        if self.buf.len() >= self.max {
            self.buf.clear();
            self.scanned = 0;
            self.line_start = 0;
            self.skipping = true;
            f(Split::TooLong);
        }
    }

    /// For an over-long frame: how many bytes of `chunk` belong to it (through its terminator), if it ends here.
    fn find_end_while_skipping(&mut self, chunk: &[u8]) -> Option<usize> {
        for (i, &b) in chunk.iter().enumerate() {
            if b != b'\n' {
                if b != b'\r' {
                    self.line_start = 1;
                }
                continue;
            }
            // A line ended: NDJSON frames end at any newline; SSE events at a blank line.
            let blank = self.line_start == 0;
            self.line_start = 0;
            if !self.events || blank {
                return Some(i + 1);
            }
        }
        None
    }

    /// Bytes held, waiting for the end of their frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes the bytes held (the start of an unfinished frame) and starts afresh.
    pub fn take_pending(&mut self) -> Vec<u8> {
        self.scanned = 0;
        self.line_start = 0;
        self.skipping = false;
        std::mem::take(&mut self.buf)
    }

    /// The unfinished tail at the end of the body, if any (a last NDJSON line without a newline, a whole JSON
    /// body, or a truncated SSE event).
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.skipping || self.buf.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(&self.buf)
    }
}

/// The data of an SSE event (raw bytes of a whole event, terminator included): its `data:` lines joined by `\n`,
/// or `None` for an event with no data (a comment, a keep-alive).
///
/// Borrowed from `event` when it has one `data:` line, as nearly every event does: no copy per event.
pub(super) fn sse_data(event: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut data: Option<Cow<'_, [u8]>> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(d) = line.strip_prefix(b"data:") else {
            continue;
        };
        let d = d.strip_prefix(b" ").unwrap_or(d);
        match &mut data {
            // Empty data so far joins without a newline (only text matters to the JSON after it).
            Some(joined) if !joined.is_empty() => {
                // A second data line: the lines are joined, so the data needs a buffer of its own.
                let joined = joined.to_mut();
                joined.push(b'\n');
                joined.extend_from_slice(d);
            }
            _ => data = Some(Cow::Borrowed(d)),
        }
    }
    data
}
