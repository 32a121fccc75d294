//! llmtel's fuzz targets, as plain functions: each `run` takes the fuzzer's bytes, feeds them to the real
//! parsing code through its public API, and panics only when an invariant breaks (a panic inside llmtel's code is
//! a crash too). The AFL++ binaries in `fuzz_targets/` call these; `tests/corpus.rs` replays the seed corpus
//! through them without AFL, so `cargo test` here checks the targets themselves.
//!
//! Inputs start with selector bytes (which API, framing, signal, format), read by [`Input`]; the rest is the
//! text under test. The seed corpus (`corpus/<target>/`) is real traffic with its selector bytes in front.

pub mod config;
pub mod otlp;
pub mod prometheus;
pub mod request;
pub mod stream;

/// The fuzzer's bytes: selector bytes in front, the payload after them.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the fuzzer's bytes.
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// The next selector byte, or `None` when the input is too short to be a case.
    pub fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    /// Everything after the selector bytes read so far.
    pub fn payload(self) -> &'a [u8] {
        self.rest
    }
}

/// Cuts `body` into chunks whose lengths come from `seed` (1 to `seed % 32 + 1` bytes each, from a small
/// xorshift generator): a chunk boundary anywhere, chosen by the input, as a network would cut a stream.
pub fn chunks(body: &[u8], seed: u8) -> Vec<&[u8]> {
    let max = usize::from(seed % 32) + 1;
    let mut state = u32::from(seed) | 0x9e37_7900;
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state as usize % max + 1).min(rest.len());
        let (head, tail) = rest.split_at(len);
        out.push(head);
        rest = tail;
    }
    out
}
