//! A quick reader for the JSON that nearly every stream frame is: one object whose members are strings, plain
//! numbers, booleans, `null` or objects of the same, without arrays. It reads such a frame into a dialect's own
//! typed view about three times faster than the general lenient decoder ([`super::lenient`]), and gives up on
//! anything outside that subset, so that the general decoder reads it instead: an array, a `\u` escape, a string
//! that is not UTF-8, a control character, a number that is not a plain unsigned integer where a count is read,
//! deep nesting. Giving up is always safe; where it does not, the result is the one the general decoder gives
//! (checked by tests and by the `stream` fuzz target).
//!
//! The same lenient rules hold: a member of another type than the one wanted is absent, a repeated member is read
//! again and the last one wins, and whatever is not JSON is not accepted.

use std::borrow::Cow;

/// Objects nested deeper than this are left to the general decoder.
const MAX_DEPTH: usize = 8;

/// The position in one frame's bytes.
pub(super) struct Quick<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

/// `None`: give up (the general decoder reads the frame).
pub(super) type Got<T> = Option<T>;

impl<'a> Quick<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0, depth: 0 }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Got<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// The whole frame is one object, read by `member` (called with each member's name, positioned at its value),
    /// and nothing but whitespace after it.
    pub fn frame(&mut self, member: impl FnMut(&mut Self, &[u8]) -> Got<()>) -> Got<()> {
        if !self.object(member)? {
            // JSON that is not an object: the general decoder says what that is.
            return None;
        }
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// An object, its members read by `member`; at a value that is not an object, `Some(false)` (the value is
    /// read through).
    pub fn object(&mut self, mut member: impl FnMut(&mut Self, &[u8]) -> Got<()>) -> Got<bool> {
        if self.peek()? != b'{' {
            self.skip()?;
            return Some(false);
        }
        self.i += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(true);
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.raw_string()?;
            if memchr::memchr(b'\\', key).is_some() {
                // An escaped name may spell one that is read: the general decoder unescapes it.
                return None;
            }
            if !key.is_ascii() {
                // A member name must be UTF-8 (the general decoder checks); none llmtel reads is beyond ASCII.
                std::str::from_utf8(key).ok()?;
            }
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(true);
                }
                _ => return None,
            }
        }
    }

    /// A string value (unescaped), or `Some(None)` for a value of another type (read through).
    pub fn text(&mut self) -> Got<Option<Cow<'a, str>>> {
        if self.peek()? != b'"' {
            self.skip()?;
            return Some(None);
        }
        let raw = self.raw_string()?;
        if memchr::memchr(b'\\', raw).is_none() {
            return Some(Some(Cow::Borrowed(std::str::from_utf8(raw).ok()?)));
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut j = 0;
        while j < raw.len() {
            match raw[j] {
                b'\\' => {
                    out.push(match raw.get(j + 1)? {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        // `\u` (surrogate pairs and all) is the general decoder's.
                        _ => return None,
                    });
                    j += 2;
                }
                c => {
                    out.push(c);
                    j += 1;
                }
            }
        }
        Some(Some(Cow::Owned(String::from_utf8(out).ok()?)))
    }

    /// A boolean value, or `Some(None)` for another type.
    pub fn boolean(&mut self) -> Got<Option<bool>> {
        for (word, v) in [(&b"true"[..], true), (&b"false"[..], false)] {
            if self.peek()? == word[0] {
                return self.literal(word).map(|()| Some(v));
            }
        }
        self.skip()?;
        Some(None)
    }

    /// A count: a plain unsigned integer. Anything else numeric (a sign, a fraction) is left to the general decoder;
    /// a value of another type is `Some(None)`.
    pub fn count(&mut self) -> Got<Option<u64>> {
        match self.peek()? {
            b'0'..=b'9' => {}
            b'-' => return None,
            _ => {
                self.skip()?;
                return Some(None);
            }
        }
        let start = self.i;
        let digits = self.b[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        self.i += digits;
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'))
            || (digits > 1 && self.b[start] == b'0')
        {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()
            .map(Some)
    }

    /// Reads a value through, checking it is JSON of the quick subset.
    pub fn skip(&mut self) -> Got<()> {
        match self.peek()? {
            b'"' => self.raw_string().map(drop),
            b'{' => self.object(|q, _| q.skip()).map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Got<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// A JSON number (RFC 8259 §6), read through.
    fn number(&mut self) -> Got<()> {
        let digits = |q: &mut Self| {
            let n = q.b[q.i..].iter().take_while(|c| c.is_ascii_digit()).count();
            q.i += n;
            n
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let first = *self.b.get(self.i)?;
        let n = digits(self);
        if n == 0 || (first == b'0' && n > 1) {
            return None;
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(())
    }

    /// A string's raw bytes between its quotes (escapes left as they are, checked to be valid JSON escapes);
    /// positioned at the opening quote.
    fn raw_string(&mut self) -> Got<&'a [u8]> {
        let start = self.i + 1;
        let mut j = start;
        loop {
            let off = self.b[j..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            j += off;
            match self.b[j] {
                b'"' => {
                    self.i = j + 1;
                    return Some(&self.b[start..j]);
                }
                b'\\' => match self.b.get(j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        let hex = self.b.get(j + 2..j + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        j += 6;
                    }
                    _ => return None,
                },
                // A control character: not JSON.
                _ => return None,
            }
        }
    }
}
