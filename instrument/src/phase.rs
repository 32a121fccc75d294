//! The phase tracker: from the sequence of [`Delta`]s of one response, when the model thought and when it
//! answered, and how many chunks each phase took.
//!
//! Reasoning arrives in a dedicated field (Ollama `thinking`, OpenAI-style `reasoning` / `reasoning_content`) or
//! inline in the answer text between `<think>` and `</think>`. Inline tags may be split across chunks or events,
//! and many chat templates open the tag in the prompt so the stream only ever shows `</think>`. Text seen before
//! any tag is therefore held as *undecided*: a later `</think>` makes it reasoning, anything else (a `<think>`,
//! a reasoning field, the end of the stream) makes it answer. Nothing is timed from guesses: every instant is the
//! arrival of a real chunk.
//!
//! Rules (also in `docs/sidecar.md`): the think phase runs from the first reasoning chunk to the first answer
//! chunk (or the last reasoning chunk when no answer came); the answer phase from the first answer chunk to the
//! end of the stream. Whitespace-only text between the two (the `\n\n` after `</think>`) starts nothing. A chunk
//! that carries text of a phase counts once for that phase; a tool call counts as answer.

use crate::stream::Delta;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// What the tracker learned, with instants of type `T` (an `Instant` in the proxy, a counter in tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phases<T> {
    /// The first frame that carried anything.
    pub first_chunk: Option<T>,
    /// The first chunk with reasoning or answer text: time to first token.
    pub first_token: Option<T>,
    /// First and last reasoning chunk.
    pub reasoning: Option<(T, T)>,
    /// The first answer chunk: time to first answer token.
    pub first_answer: Option<T>,
    /// The last answer chunk.
    pub last_answer: Option<T>,
    /// The first answer chunk after reasoning began: where thinking ends.
    pub answer_after_reasoning: Option<T>,
    /// Chunks that carried reasoning.
    pub reasoning_chunks: u64,
    /// Chunks that carried answer text or tool calls.
    pub answer_chunks: u64,
    /// Whether reasoning came inline in `<think>` tags.
    pub inline_tags: bool,
    /// The reasoning text, when the tracker was asked to keep text.
    pub reasoning_text: String,
    /// The answer text (tags removed), when the tracker was asked to keep text.
    pub answer_text: String,
}

impl<T> Default for Phases<T> {
    fn default() -> Self {
        Self {
            first_chunk: None,
            first_token: None,
            reasoning: None,
            first_answer: None,
            last_answer: None,
            answer_after_reasoning: None,
            reasoning_chunks: 0,
            answer_chunks: 0,
            inline_tags: false,
            reasoning_text: String::new(),
            answer_text: String::new(),
        }
    }
}

impl<T: Copy> Phases<T> {
    /// The think phase: first reasoning chunk to the first answer chunk after it (or the last reasoning chunk).
    pub fn think_span(&self) -> Option<(T, T)> {
        let (first, last) = self.reasoning?;
        Some((first, self.answer_after_reasoning.unwrap_or(last)))
    }
}

/// Text seen before any tag, while it is still unknown whether it is reasoning or answer.
#[derive(Debug)]
struct Undecided<T> {
    /// First, last and count of the chunks that would be answer (whitespace-only ones before any text excluded).
    first: T,
    last: T,
    chunks: u64,
    /// The same over every chunk: as reasoning, whitespace is reasoning too.
    all_first: T,
    all_last: T,
    all_chunks: u64,
    text: String,
}

/// Tracks one response's phases.
#[derive(Debug)]
pub struct PhaseTracker<T> {
    out: Phases<T>,
    keep_text: bool,
    inside: bool,
    tag_seen: bool,
    /// The end of the previous content that may be the start of a tag.
    partial: String,
    undecided: Option<Undecided<T>>,
}

impl<T: Copy + Ord> PhaseTracker<T> {
    /// A tracker; with `keep_text` it also assembles the reasoning and answer text.
    pub fn new(keep_text: bool) -> Self {
        Self {
            out: Phases::default(),
            keep_text,
            inside: false,
            tag_seen: false,
            partial: String::new(),
            undecided: None,
        }
    }

    /// Takes one frame's delta, received at `at`.
    pub fn observe(&mut self, at: T, d: &Delta) {
        self.out.first_chunk.get_or_insert(at);
        let mut reasoning = !d.reasoning.is_empty();
        if reasoning {
            // A reasoning field means the content is answer, whatever it held before.
            self.decide(false);
            self.push_text(true, &d.reasoning);
        }
        let mut answer = false;
        let mut answer_ws_only = true;
        let mut part = |this: &mut Self, is_reasoning: bool, part: &str| {
            if part.is_empty() {
                return;
            }
            if is_reasoning {
                reasoning = true;
                this.push_text(true, part);
            } else {
                answer = true;
                answer_ws_only &= part.trim().is_empty();
                this.push_answer(at, part);
            }
        };
        if self.partial.is_empty() && !d.content.contains('<') {
            // No tag and no start of one: the whole content is on the side it is on, with no copy.
            let inside = self.inside;
            part(self, inside, &d.content);
        } else if !d.content.is_empty() {
            for (is_reasoning, text) in self.split_tags(&d.content) {
                part(self, is_reasoning, &text);
            }
        }
        if reasoning {
            self.out.reasoning_chunks += 1;
            self.out.reasoning = Some(match self.out.reasoning {
                Some((first, _)) => (first, at),
                None => (at, at),
            });
            self.out.first_token.get_or_insert(at);
        }
        if d.tool_calls > 0 {
            answer = true;
            answer_ws_only = false;
            self.decide(false);
        }
        if answer {
            self.count_answer(at, answer_ws_only);
        }
    }

    /// What the tracker has seen so far (text not yet known to be thinking or answer not counted).
    pub fn so_far(&self) -> &Phases<T> {
        &self.out
    }

    /// Ends the stream: undecided text is answer; a tag cut off at the end is text.
    pub fn finish(mut self) -> Phases<T> {
        let tail = std::mem::take(&mut self.partial);
        if !tail.is_empty() {
            let inside = self.inside;
            self.push_text(inside, &tail);
        }
        self.decide(false);
        self.out
    }

    fn push_text(&mut self, reasoning: bool, s: &str) {
        if self.keep_text {
            if reasoning {
                self.out.reasoning_text.push_str(s);
            } else {
                self.out.answer_text.push_str(s);
            }
        }
    }

    /// Answer text: undecided while no tag and no reasoning has been seen.
    fn push_answer(&mut self, at: T, part: &str) {
        if !self.tag_seen && self.out.reasoning.is_none() {
            let keep = self.keep_text;
            let u = self.undecided.get_or_insert(Undecided {
                first: at,
                last: at,
                chunks: 0,
                all_first: at,
                all_last: at,
                all_chunks: 0,
                text: String::new(),
            });
            if keep {
                u.text.push_str(part);
            }
        } else {
            self.push_text(false, part);
        }
    }

    fn count_answer(&mut self, at: T, ws_only: bool) {
        if let Some(u) = self.undecided.as_mut() {
            u.all_chunks += 1;
            u.all_last = at;
            // Undecided chunks are counted when decided; whitespace-only ones before any real text start nothing.
            if !ws_only || u.chunks > 0 {
                if u.chunks == 0 {
                    u.first = at;
                }
                u.chunks += 1;
                u.last = at;
            }
            return;
        }
        if ws_only && self.out.first_answer.is_none() {
            return;
        }
        self.out.first_answer.get_or_insert(at);
        if self.out.reasoning.is_some() {
            self.out.answer_after_reasoning.get_or_insert(at);
        }
        self.out.last_answer = Some(at);
        self.out.answer_chunks += 1;
        self.out.first_token.get_or_insert(at);
    }

    /// Settles undecided text as reasoning (a `</think>` with no `<think>` came) or as answer.
    fn decide(&mut self, as_reasoning: bool) {
        let Some(u) = self.undecided.take() else {
            return;
        };
        if as_reasoning {
            self.push_text(true, &u.text);
            if u.all_chunks > 0 {
                self.out.reasoning_chunks += u.all_chunks;
                self.out.reasoning = Some(match self.out.reasoning {
                    Some((_, last)) => (u.all_first, last.max(u.all_last)),
                    None => (u.all_first, u.all_last),
                });
                self.out.first_token = Some(match self.out.first_token {
                    Some(t) => t.min(u.all_first),
                    None => u.all_first,
                });
            }
        } else {
            self.push_text(false, &u.text);
            if u.chunks > 0 {
                self.out.answer_chunks += u.chunks;
                self.out.first_answer = Some(u.first);
                self.out.last_answer = Some(match self.out.last_answer {
                    Some(l) => l.max(u.last),
                    None => u.last,
                });
                self.out.first_token = Some(match self.out.first_token {
                    Some(t) => t.min(u.first),
                    None => u.first,
                });
            }
        }
    }

    /// Splits content into (reasoning?, text) parts at `<think>` / `</think>`, carrying a possible tag start over
    /// to the next content.
    fn split_tags(&mut self, content: &str) -> Vec<(bool, String)> {
        let mut s = std::mem::take(&mut self.partial);
        s.push_str(content);
        let mut parts = Vec::new();
        let mut rest = s.as_str();
        loop {
            if self.inside {
                if let Some(i) = rest.find(CLOSE) {
                    parts.push((true, rest[..i].to_owned()));
                    rest = &rest[i + CLOSE.len()..];
                    self.inside = false;
                    continue;
                }
            } else {
                let open = rest.find(OPEN);
                // A closing tag outside counts only before any tag: the template opened the think block.
                let close = if self.tag_seen {
                    None
                } else {
                    rest.find(CLOSE)
                };
                match (open, close) {
                    (Some(o), c) if c.is_none_or(|c| o < c) => {
                        parts.push((false, rest[..o].to_owned()));
                        self.flush_parts(&mut parts, false);
                        rest = &rest[o + OPEN.len()..];
                        self.inside = true;
                        self.tag_seen = true;
                        self.out.inline_tags = true;
                        continue;
                    }
                    (_, Some(c)) => {
                        parts.push((true, rest[..c].to_owned()));
                        self.flush_parts(&mut parts, true);
                        rest = &rest[c + CLOSE.len()..];
                        self.tag_seen = true;
                        self.out.inline_tags = true;
                        continue;
                    }
                    _ => {}
                }
            }
            break;
        }
        // Hold back a suffix that could be the start of a tag we are looking for.
        let keep = held_back(rest, self.inside, self.tag_seen);
        let (now, later) = rest.split_at(rest.len() - keep);
        parts.push((self.inside, now.to_owned()));
        self.partial = later.to_owned();
        parts
    }

    /// A tag was found: text before it in this content is settled now. Before `<think>` it is answer; before a
    /// lone `</think>` it, and everything undecided before it, is reasoning.
    fn flush_parts(&mut self, parts: &mut [(bool, String)], as_reasoning: bool) {
        if as_reasoning {
            // Earlier undecided content becomes reasoning; the parts in this content are already marked.
            self.decide(true);
            for p in parts.iter_mut() {
                p.0 = true;
            }
        } else {
            self.decide(false);
        }
    }
}

/// How many bytes at the end of `s` could begin a tag that matters in this state.
fn held_back(s: &str, inside: bool, tag_seen: bool) -> usize {
    let tags: &[&str] = match (inside, tag_seen) {
        (true, _) => &[CLOSE],
        (false, true) => &[OPEN],
        (false, false) => &[OPEN, CLOSE],
    };
    let mut keep = 0;
    for tag in tags {
        for n in (1..tag.len()).rev() {
            if n > keep && s.ends_with(&tag[..n]) {
                keep = n;
                break;
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests;
