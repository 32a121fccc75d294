//! HTTP/1.1 on the wire, for the upstream side: the request head the proxy writes, the response head it reads
//! (RFC 9112 §4–6, with `httparse`), how long the response body is (§6.3), and the chunked transfer coding's decoder
//! (§7.1). No I/O here: the connection ([`super::conn`]) and the body ([`super::body`]) feed these bytes.

use bytes::{Buf as _, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

/// The most header fields a response head may have (hyper's default is 100).
const MAX_HEADERS: usize = 128;
/// The most bytes a response head may take.
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// The most bytes of a chunk-size line's extensions, and of the trailer section.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;

/// How the request body is framed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestFraming {
    /// No body (and no framing header).
    None,
    /// `content-length: n`.
    Length(u64),
    /// `transfer-encoding: chunked` (a body of unknown length, streamed).
    Chunked,
}

/// The request head: `{method} {target} HTTP/1.1`, `host`, the end-to-end `headers` (the caller removed the
/// hop-by-hop ones), then the framing this proxy chose, which replaces any the headers carried.
pub(super) fn request_head(
    method: &Method,
    target: &str,
    host: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(256 + headers.len() * 48);
    head.extend_from_slice(method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    head.extend_from_slice(host.as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => {
            head.extend_from_slice(b"content-length: ");
            head.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        RequestFraming::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyLength {
    /// No body: a response to HEAD, a 204 or a 304.
    Empty,
    /// `content-length`.
    Known(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(super) struct ResponseHead {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub length: BodyLength,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

/// Parses a response head from the start of `buf`: `Ok(None)` while it is incomplete, else the head and how many
/// bytes it took. `method` is the request's (a response to HEAD has no body).
pub(super) fn parse_response_head(
    buf: &[u8],
    method: &Method,
) -> Result<Option<(ResponseHead, usize)>, String> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut fields);
    let used = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(format!("response head larger than {} KiB", MAX_HEAD / 1024));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(format!(
                "response head has more than {MAX_HEADERS} header fields"
            ));
        }
        Err(e) => return Err(format!("invalid response head: {e}")),
    };
    let code = parsed.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| format!("invalid response status {code}"))?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for f in parsed.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes())
            .map_err(|_| format!("invalid response header name {:?}", f.name))?;
        let value = HeaderValue::from_bytes(f.value)
            .map_err(|_| format!("invalid value of response header {:?}", f.name))?;
        headers.append(name, value);
    }
    let http11 = parsed.version == Some(1);
    let length = body_length(status, method, &headers)?;
    let close = has_token(&headers, header::CONNECTION, "close");
    let keep_alive = if http11 {
        !close
    } else {
        has_token(&headers, header::CONNECTION, "keep-alive") && !close
    } && length != BodyLength::UntilClose;
    Ok(Some((
        ResponseHead {
            status,
            headers,
            length,
            keep_alive,
        },
        used,
    )))
}

fn body_length(
    status: StatusCode,
    method: &Method,
    headers: &HeaderMap,
) -> Result<BodyLength, String> {
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(BodyLength::Empty);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        // Chunked must be the last coding; anything else is read until the server closes (RFC 9112 §6.3 item 4).
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|c| !c.is_empty());
        return Ok(match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") => BodyLength::Chunked,
            _ => BodyLength::UntilClose,
        });
    }
    let mut length: Option<u64> = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        for part in v.to_str().unwrap_or("x").split(',') {
            let part = part.trim();
            let n = part
                .parse::<u64>()
                .ok()
                .filter(|_| part.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("invalid content-length {part:?}"))?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length values".to_owned());
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(BodyLength::UntilClose, BodyLength::Known))
}

fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The chunked transfer coding's decoder: takes framing bytes from the connection's buffer and appends chunk data
/// to `out`, across any split of the input. Chunk extensions and trailer fields are read and dropped.
#[derive(Debug, Default)]
pub(super) struct Chunked {
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading the chunk size's hex digits: the value and how many digits so far.
    Size {
        size: u64,
        digits: u32,
    },
    /// After the digits: whitespace or an extension, up to the line's end.
    SizeRest {
        size: u64,
        seen: usize,
    },
    /// The size line's LF.
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// The trailer section: `line` bytes of the current field so far, `seen` in all.
    Trailer {
        line: usize,
        seen: usize,
    },
    Done,
}

impl Default for State {
    fn default() -> Self {
        Self::Size { size: 0, digits: 0 }
    }
}

/// Digits in a chunk size: 16 hex digits is the most a u64 holds.
const MAX_SIZE_DIGITS: u32 = 16;

impl Chunked {
    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Decodes what `buf` holds, consuming it, until the body ends (what follows is left in `buf`).
    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut BytesMut) -> Result<(), String> {
        // The state and the position stay in registers while the bytes are walked; both are stored at the end.
        let mut state = self.state;
        let mut i = 0;
        let bytes = &buf[..];
        while let Some(&b) = bytes.get(i) {
            state = match state {
                State::Size { size, digits } => match hex(b) {
                    Some(_) if digits >= MAX_SIZE_DIGITS => {
                        return Err("chunk size too large".to_owned());
                    }
                    Some(d) => State::Size {
                        size: size << 4 | u64::from(d),
                        digits: digits + 1,
                    },
                    None if digits == 0 => {
                        return Err(format!("invalid chunk size line (byte {b:#04x})"));
                    }
                    // Not consumed here: the rest of the line is looked at as such.
                    None => {
                        state = State::SizeRest { size, seen: 0 };
                        continue;
                    }
                },
                State::SizeRest { size, seen } => match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' => end_of_size(size),
                    _ if seen >= MAX_CHUNK_LINE => {
                        return Err("chunk extension too long".to_owned());
                    }
                    _ => State::SizeRest {
                        size,
                        seen: seen + 1,
                    },
                },
                State::SizeLf { size } => match b {
                    b'\n' => end_of_size(size),
                    _ => return Err("chunk size line not ended by CRLF".to_owned()),
                },
                State::Data { left } => {
                    let there = bytes.len() - i;
                    let take = usize::try_from(left).map_or(there, |l| l.min(there));
                    out.extend_from_slice(&bytes[i..i + take]);
                    i += take;
                    let left = left - take as u64;
                    state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                    continue;
                }
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    b'\n' => State::default(),
                    _ => return Err("chunk data not followed by CRLF".to_owned()),
                },
                State::DataLf => match b {
                    b'\n' => State::default(),
                    _ => return Err("chunk data not followed by CRLF".to_owned()),
                },
                State::Trailer { line, seen } => {
                    if seen >= MAX_TRAILERS {
                        return Err(format!(
                            "trailer section larger than {} KiB",
                            MAX_TRAILERS / 1024
                        ));
                    }
                    match b {
                        b'\n' if line == 0 => State::Done,
                        b'\n' => State::Trailer {
                            line: 0,
                            seen: seen + 1,
                        },
                        b'\r' => State::Trailer {
                            line,
                            seen: seen + 1,
                        },
                        _ => State::Trailer {
                            line: line + 1,
                            seen: seen + 1,
                        },
                    }
                }
                State::Done => break,
            };
            i += 1;
        }
        buf.advance(i);
        self.state = state;
        Ok(())
    }
}

fn end_of_size(size: u64) -> State {
    if size == 0 {
        State::Trailer { line: 0, seen: 0 }
    } else {
        State::Data { left: size }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(wire: &[u8], cut: usize) -> (Result<Vec<u8>, String>, bool, Vec<u8>) {
        let mut c = Chunked::default();
        let mut out = BytesMut::new();
        let mut rest = BytesMut::new();
        for part in [&wire[..cut], &wire[cut..]] {
            let mut buf = BytesMut::from(part);
            if let Err(e) = c.decode(&mut buf, &mut out) {
                return (Err(e), false, Vec::new());
            }
            rest.extend_from_slice(&buf);
        }
        (Ok(out.to_vec()), c.is_done(), rest.to_vec())
    }

    #[test]
    fn chunked_bodies_decode_the_same_at_every_split() {
        let wire = b"5\r\nhello\r\n1A;name=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for cut in 0..=wire.len() {
            let (out, done, rest) = decode_split(wire, cut);
            assert_eq!(
                out.as_deref(),
                Ok(&b"helloabcdefghijklmnopqrstuvwxyz"[..]),
                "cut {cut}"
            );
            assert!(done, "cut {cut}");
            assert_eq!(
                rest, b"NEXT",
                "bytes after the body stay for the caller (cut {cut})"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_chunked_body_cut_anywhere_decodes_to_its_data(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..300), 0..12),
            upper in proptest::bool::ANY,
            ext in proptest::bool::ANY,
            cuts in proptest::collection::vec(0usize..4000, 0..6),
        ) {
            let mut wire = Vec::new();
            for c in &chunks {
                let size = if upper { format!("{:X}", c.len()) } else { format!("{:x}", c.len()) };
                wire.extend_from_slice(size.as_bytes());
                if ext {
                    wire.extend_from_slice(b" ;x=\"y\"");
                }
                wire.extend_from_slice(b"\r\n");
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\nt: v\r\n\r\n");
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
            cuts.sort_unstable();
            let mut decoder = Chunked::default();
            let mut out = BytesMut::new();
            let mut from = 0;
            for to in cuts.into_iter().chain([wire.len()]) {
                let mut buf = BytesMut::from(&wire[from..to]);
                decoder.decode(&mut buf, &mut out).unwrap();
                proptest::prop_assert!(buf.is_empty());
                from = to;
            }
            proptest::prop_assert!(decoder.is_done());
            proptest::prop_assert_eq!(out.to_vec(), chunks.concat());
        }
    }

    #[test]
    fn broken_chunked_framing_is_an_error_not_data() {
        for bad in [
            &b"zz\r\n"[..],
            b"5\r\nhelloXX",
            b"11111111111111111\r\n",
            b"5\rX",
        ] {
            let mut c = Chunked::default();
            let mut out = BytesMut::new();
            assert!(
                c.decode(&mut BytesMut::from(bad), &mut out).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut c = Chunked::default();
        let mut out = BytesMut::new();
        c.decode(&mut BytesMut::from(&b"3\r\nab"[..]), &mut out)
            .unwrap();
        assert_eq!(
            (&out[..], c.is_done()),
            (&b"ab"[..], false),
            "an unfinished body is not done"
        );
    }

    #[test]
    fn response_heads_say_how_the_body_is_delimited() {
        let post = Method::POST;
        let parse = |h: &str, m: &Method| parse_response_head(h.as_bytes(), m).unwrap().unwrap().0;
        let h = parse(
            "HTTP/1.1 200 OK\r\ncontent-length: 12\r\nx-a: 1\r\nx-a: 2\r\n\r\n",
            &post,
        );
        assert_eq!(
            (h.status, h.length, h.keep_alive),
            (StatusCode::OK, BodyLength::Known(12), true)
        );
        assert_eq!(h.headers.get_all("x-a").iter().count(), 2);
        let h = parse(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 3\r\n\r\n",
            &post,
        );
        assert_eq!(
            h.length,
            BodyLength::Chunked,
            "chunked wins over content-length"
        );
        let h = parse("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", &post);
        assert_eq!((h.length, h.keep_alive), (BodyLength::UntilClose, false));
        let h = parse("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", &post);
        assert!(!h.keep_alive, "HTTP/1.0 closes unless it says keep-alive");
        let h = parse(
            "HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n",
            &post,
        );
        assert_eq!(h.length, BodyLength::Empty);
        let h = parse(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
            &Method::HEAD,
        );
        assert_eq!(
            h.length,
            BodyLength::Empty,
            "a response to HEAD has no body"
        );
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-le", &post),
            Ok(None)
        ));
        for bad in [
            "HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            "HTTP/1.1 999x\r\n\r\n",
            "SMTP ready\r\n\r\n",
        ] {
            assert!(
                parse_response_head(bad.as_bytes(), &post).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn request_heads_carry_the_host_and_the_proxys_framing_only() {
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("99"));
        h.insert("authorization", HeaderValue::from_static("Bearer k"));
        let head = request_head(
            &Method::POST,
            "/v1/chat/completions",
            "gpu:8000",
            &h,
            RequestFraming::Length(7),
        );
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /v1/chat/completions HTTP/1.1\r\nhost: gpu:8000\r\nauthorization: Bearer k\r\ncontent-length: 7\r\n\r\n"
        );
        let head = request_head(
            &Method::GET,
            "/api/tags",
            "h",
            &HeaderMap::new(),
            RequestFraming::None,
        );
        assert_eq!(head, b"GET /api/tags HTTP/1.1\r\nhost: h\r\n\r\n");
    }
}
