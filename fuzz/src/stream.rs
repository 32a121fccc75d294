//! Target `stream`: a model server's response body, framed (NDJSON lines, SSE events, one whole document) and
//! decoded in one of the eight API dialects, then fed to the phase tracker and the tool-call assembler, as the
//! sidecar's per-request tracker does; and the same body through the `UsageFilter` the sidecar puts in front of
//! OpenAI clients that did not ask for usage.
//!
//! Input: one selector byte (bits 0–2: the API; bits 3–4: the framing; bit 5: keep text; bit 6: a small frame
//! limit, so the over-long path is reached), one byte that picks the chunk boundaries, then the body.
//!
//! Invariants: the frames (and the filtered bytes) are the same whether the body arrives whole or cut into
//! chunks; wherever the quick reader of Ollama frames answers, it answers as the general decoder; without `keep_text` the tracker keeps no text and tool calls keep no arguments; a phase never counts
//! more chunks than there were frames; the finish-reason mapping is idempotent.

use llmtel_instrument::phase::PhaseTracker;
use llmtel_instrument::proxy::body::UsageFilter;
use llmtel_instrument::stream::{
    Api, Framing, Split, Splitter, ToolCalls, check_quick_reader, decode_frame, finish_reason,
};

use crate::{Input, chunks};

/// Every API the sidecar parses.
pub(crate) const APIS: [Api; 8] = [
    Api::OllamaChat,
    Api::OllamaGenerate,
    Api::OllamaEmbed,
    Api::OpenAiChat,
    Api::OpenAiCompletions,
    Api::OpenAiEmbeddings,
    Api::OpenAiResponses,
    Api::AnthropicMessages,
];

const FRAMINGS: [Framing; 3] = [Framing::Ndjson, Framing::Sse, Framing::Whole];

/// The sidecar's frame limit, and a small one that fuzz inputs can exceed.
const MAX_FRAME: usize = 1 << 20;
const SMALL_FRAME: usize = 300;

/// One thing a splitter handed out: a frame, an over-long frame skipped, or the unfinished tail at the end.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Frame(Vec<u8>),
    TooLong,
    Tail(Vec<u8>),
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let (Some(sel), Some(seed)) = (input.byte(), input.byte()) else {
        return;
    };
    let body = input.payload();
    let api = APIS[usize::from(sel & 7)];
    let framing = FRAMINGS[usize::from((sel >> 3) & 3) % 3];
    let keep_text = sel & 0x20 != 0;
    let max = if sel & 0x40 != 0 {
        SMALL_FRAME
    } else {
        MAX_FRAME
    };

    let cut = chunks(body, seed);
    let pieces = split(framing, max, &[body]);
    assert_eq!(
        pieces,
        split(framing, max, &cut),
        "frames depend on where the body was cut"
    );
    track(api, framing, keep_text, &pieces);
    if framing == Framing::Sse {
        let whole = filter(api, &[body]);
        assert_eq!(
            whole,
            filter(api, &cut),
            "the usage filter depends on the cuts"
        );
        assert!(whole.len() <= body.len(), "the usage filter added bytes");
    }
}

/// Frames `chunks` as the sidecar's tracker does.
fn split(framing: Framing, max: usize, chunks: &[&[u8]]) -> Vec<Piece> {
    let mut splitter = Splitter::new(framing, max);
    let mut out = Vec::new();
    for chunk in chunks {
        splitter.push(chunk, &mut |s| {
            out.push(match s {
                Split::Frame(raw) => Piece::Frame(raw.to_vec()),
                Split::TooLong => Piece::TooLong,
            });
        });
    }
    if let Some(tail) = splitter.finish() {
        out.push(Piece::Tail(tail.to_vec()));
    }
    out
}

/// Decodes the frames and folds them into what the request's span would report.
fn track(api: Api, framing: Framing, keep_text: bool, pieces: &[Piece]) {
    let mut phases = PhaseTracker::new(keep_text);
    let mut tools = ToolCalls::new(keep_text);
    let mut frames = 0u64;
    for (at, piece) in (0u64..).zip(pieces) {
        let raw = match piece {
            Piece::Frame(raw) => raw,
            // The sidecar reports a truncated SSE event as such and decodes any other tail.
            Piece::Tail(raw) if framing != Framing::Sse => raw,
            Piece::Tail(_) | Piece::TooLong => continue,
        };
        frames += 1;
        if matches!(api, Api::OllamaChat | Api::OllamaGenerate) && framing != Framing::Sse {
            // Where the quick reader answers, it answers as the general decoder.
            check_quick_reader(raw);
        }
        let Ok(Some(mut d)) = decode_frame(api, framing, raw) else {
            continue;
        };
        phases.observe(at, &d);
        let calls = !d.tools.is_empty();
        for f in d.tools.drain(..) {
            tools.push(f);
        }
        if let Some(t) = d.timings {
            let _ = (t.busy(), t.has_durations());
        }
        if let Some(r) = d.finish_reason.as_deref() {
            // Unknown reasons pass unchanged (an empty one too); a mapped one maps to itself.
            let once = finish_reason(r, calls);
            assert_eq!(
                finish_reason(&once, calls),
                once,
                "finish reason mapping not idempotent"
            );
        }
    }
    let p = phases.finish();
    assert!(
        p.reasoning_chunks <= frames && p.answer_chunks <= frames,
        "more phase chunks ({} + {}) than frames ({frames})",
        p.reasoning_chunks,
        p.answer_chunks
    );
    if !keep_text {
        assert!(
            p.reasoning_text.is_empty() && p.answer_text.is_empty(),
            "text kept without capture_content"
        );
        assert!(
            tools.calls().all(|c| c.arguments.is_empty()),
            "tool arguments kept without capture_content"
        );
    }
    let _ = tools.names();
}

/// The bytes the usage filter forwards for `chunks`.
fn filter(api: Api, chunks: &[&[u8]]) -> Vec<u8> {
    let mut f = UsageFilter::new(api);
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&f.push(chunk));
    }
    if let Some(rest) = f.finish() {
        out.extend_from_slice(&rest);
    }
    out
}
