//! Cutting a byte stream (TCP, TLS) into SIP messages (RFC 3261 §18.3): the head ends at
//! the first blank line and Content-Length, mandatory on streams, gives the body length.
//! CRLF keep-alives (RFC 5626 §3.5.1) are recognised between messages: a double CRLF
//! "ping" is answered with a single CRLF "pong".
//!
//! [`frame`] looks at buffered bytes and says what is there; it never consumes or copies,
//! so the caller decides what to split off. Modelled on mini-redis's `Frame::check`.

use crate::header::HeaderName;

/// Size bounds for stream framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest head (start line and headers) accepted, in bytes.
    pub max_head: usize,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits { max_head: 16 * 1024, max_body: 64 * 1024 }
    }
}

/// What the start of a stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to decide.
    Incomplete,
    /// A CRLFCRLF keep-alive ping of this many bytes: discard them and send CRLF.
    Ping(usize),
    /// A stray CRLF (a pong, or padding before a message, RFC 3261 §7.5): discard it.
    Pong(usize),
    /// One whole message: `head_len` bytes of head (blank line included), `len` in all.
    Message {
        /// Length of the start line and headers, including the blank line.
        head_len: usize,
        /// Length of the head plus the body.
        len: usize,
    },
    /// The head is complete but the body is larger than allowed: answer 413 from the head,
    /// then close the stream (its framing cannot be trusted).
    BodyTooLarge {
        /// Length of the head, including the blank line.
        head_len: usize,
    },
    /// The head is complete but its Content-Length cannot be read (not a number, one that
    /// overflows, two that differ): answer 400 from the head, which the parser refuses
    /// naming the header, then close the stream.
    UnreadableLength {
        /// Length of the head, including the blank line.
        head_len: usize,
    },
    /// The stream cannot be framed (no Content-Length, or a head over the limit); the
    /// connection must be closed.
    Invalid(FrameError),
}

/// Why a stream cannot be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// No blank line within [`FrameLimits::max_head`] bytes.
    #[error("message head exceeds the size limit")]
    HeadTooLarge,
    /// RFC 3261 §18.3: Content-Length is mandatory on stream transports.
    #[error("missing Content-Length on a stream transport")]
    MissingContentLength,
    /// Content-Length is not a decimal number, or appears twice with different values.
    #[error("malformed Content-Length")]
    BadContentLength,
}

/// Looks at the start of `buf`.
pub fn frame(buf: &[u8], limits: &FrameLimits) -> Frame {
    if buf.starts_with(b"\r\n\r\n") {
        return Frame::Ping(4);
    }
    if buf.starts_with(b"\r\n") {
        // "\r\n\r" could still become a ping.
        return if buf.len() < 4 && b"\r\n\r".starts_with(buf) { Frame::Incomplete } else { Frame::Pong(2) };
    }
    if buf.is_empty() || buf == b"\r" {
        return Frame::Incomplete;
    }
    let window = &buf[..buf.len().min(limits.max_head)];
    let Some(head_len) = head_end(window) else {
        return if buf.len() >= limits.max_head { Frame::Invalid(FrameError::HeadTooLarge) } else { Frame::Incomplete };
    };
    let body_len = match content_length(&buf[..head_len]) {
        Ok(n) => n,
        Err(FrameError::BadContentLength) => return Frame::UnreadableLength { head_len },
        Err(e) => return Frame::Invalid(e),
    };
    if body_len > limits.max_body {
        return Frame::BodyTooLarge { head_len };
    }
    let len = head_len + body_len;
    if buf.len() < len { Frame::Incomplete } else { Frame::Message { head_len, len } }
}

/// The length of the head, empty line included: the head ends at the first empty line
/// after the start line, ended by CRLF or a bare LF, exactly where [`crate::parse_message`]
/// ends it, so the two agree on the body.
fn head_end(buf: &[u8]) -> Option<usize> {
    for i in memchr::memchr_iter(b'\n', buf) {
        match &buf[i + 1..] {
            [b'\n', ..] => return Some(i + 2),
            [b'\r', b'\n', ..] => return Some(i + 3),
            _ => {}
        }
    }
    None
}

/// Finds Content-Length (or compact `l`) among the head's lines, its value unfolded from any
/// continuation lines (RFC 3261 §7.3.1: a line starting with white space continues the one
/// before), as [`crate::parse_message`] reads it, so the two agree on the body.
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut lines = head.split(|b| *b == b'\n').skip(1).map(|l| l.strip_suffix(b"\r").unwrap_or(l)).peekable();
    let folded = |l: &&[u8]| l.first().is_some_and(|b| matches!(b, b' ' | b'\t'));
    let mut found: Option<usize> = None;
    while let Some(line) = lines.next() {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = std::str::from_utf8(&line[..colon]).unwrap_or("").trim_end();
        if HeaderName::from_wire(name) != HeaderName::ContentLength {
            continue;
        }
        let first = trimmed(&line[colon + 1..])?;
        let value = if lines.peek().is_some_and(folded) {
            let mut value = first.to_owned();
            while let Some(continuation) = lines.next_if(folded) {
                value.push_str(trimmed(continuation)?);
            }
            crate::scan::parse_u32(&value)
        } else {
            crate::scan::parse_u32(first)
        };
        let n = value.ok_or(FrameError::BadContentLength)? as usize;
        if found.is_some_and(|prev| prev != n) {
            return Err(FrameError::BadContentLength);
        }
        found = Some(n);
    }
    found.ok_or(FrameError::MissingContentLength)
}

/// A piece of a Content-Length value, white space trimmed.
fn trimmed(bytes: &[u8]) -> Result<&str, FrameError> {
    std::str::from_utf8(bytes).map(str::trim).map_err(|_| FrameError::BadContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: FrameLimits = FrameLimits { max_head: 200, max_body: 10 };

    #[test]
    fn keep_alives() {
        assert_eq!(frame(b"\r\n\r\n", &L), Frame::Ping(4));
        assert_eq!(frame(b"\r\n\r\nOPTIONS", &L), Frame::Ping(4));
        assert_eq!(frame(b"\r\nOPT", &L), Frame::Pong(2));
        assert_eq!(frame(b"\r\n", &L), Frame::Incomplete);
        assert_eq!(frame(b"\r\n\r", &L), Frame::Incomplete);
        assert_eq!(frame(b"", &L), Frame::Incomplete);
    }

    #[test]
    fn messages_by_content_length() {
        let m = b"NOTIFY sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcNEXT";
        assert_eq!(frame(m, &L), Frame::Message { head_len: 32, len: 35 });
        assert_eq!(frame(&m[..34], &L), Frame::Incomplete);
        assert_eq!(frame(&m[..35], &L), Frame::Message { head_len: 32, len: 35 });
        assert_eq!(frame(b"X a b\r\nContent-Length: 11\r\n\r\n", &L), Frame::BodyTooLarge { head_len: 29 });
    }

    #[test]
    fn bare_lf_heads_end_where_the_parser_ends_them() {
        // Found by fuzzing: the framer and the parser disagreed about the blank line.
        let m = b"OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: x\nCSeq: 1 OPTIONS\nl: 5\n\nhello";
        let Frame::Message { head_len, len } = frame(m, &FrameLimits::default()) else { panic!("not framed") };
        assert_eq!((len - head_len, &m[head_len..len]), (5, &b"hello"[..]));
        let crlf_after_lf = b"X a b\nl: 2\n\r\nhi";
        assert_eq!(frame(crlf_after_lf, &L), Frame::Message { head_len: 13, len: 15 });
    }

    #[test]
    fn a_folded_content_length_is_read_as_the_parser_reads_it() {
        let folded = b"X a b\r\nContent-Length:\r\n 2\r\n\r\nhi";
        assert_eq!(frame(folded, &L), Frame::Message { head_len: folded.len() - 2, len: folded.len() });
    }

    #[test]
    fn invalid_streams() {
        assert_eq!(frame(b"X a b\r\nVia: x\r\n\r\n", &L), Frame::Invalid(FrameError::MissingContentLength));
        assert_eq!(frame(b"X a b\r\nl: ten\r\n\r\n", &L), Frame::UnreadableLength { head_len: 17 });
        assert_eq!(frame(b"X a b\r\nl: 1\r\nl: 2\r\n\r\n", &L), Frame::UnreadableLength { head_len: 21 });
        let overflow = b"X a b\r\nl: 99999999999999999999\r\n\r\n";
        assert_eq!(frame(overflow, &L), Frame::UnreadableLength { head_len: overflow.len() });
        assert_eq!(frame(&[b'x'; 300], &L), Frame::Invalid(FrameError::HeadTooLarge));
        assert_eq!(frame(&[b'x'; 100], &L), Frame::Incomplete);
    }
}
