//! Parsing one complete message (a UDP datagram or a frame cut by [`crate::framing`]) per
//! RFC 3261 §7 and §25. Compact and case-insensitive header names, folded lines, leading
//! CRLFs (§7.5) and bare-LF line ends are accepted; every header the server reads is checked
//! here, so a malformed one is refused with a 400 naming it instead of surfacing later.
//! On failure the error keeps what parsed of the head (§8.2.6 needs Via, From, To, Call-ID
//! and CSeq to answer), like hickory's `FormError`.

use bytes::Bytes;

use crate::header::{HeaderError, HeaderName, Headers};
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::uri::Uri;

/// Bounds applied while parsing, so hostile input costs bounded work and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most header lines (after list splitting) a message may carry.
    pub max_headers: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_headers: 256 }
    }
}

/// Why a message was refused, and what of its head parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// The part of the head that parsed, when the start line showed a request or response.
    pub partial: Option<Box<PartialHead>>,
}

/// The start line and the headers read before a parse failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialHead {
    /// `Some(method)` for a request, `None` for a response.
    pub method: Option<Method>,
    /// Header lines that were read, malformed values included verbatim.
    pub headers: Headers,
}

/// The ways a message can be malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Nothing but white space.
    #[error("empty message")]
    Empty,
    /// The first line is neither a Request-Line nor a Status-Line.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// The Request-URI does not parse.
    #[error("malformed Request-URI: {0}")]
    RequestUri(&'static str),
    /// A SIP version other than 2.0 (RFC 3261 §8.2.1 answers 505).
    #[error("SIP version not supported")]
    Version,
    /// A line of the head is not valid UTF-8 or not `name: value`.
    #[error("malformed header line")]
    HeaderLine,
    /// More header lines than [`ParseLimits::max_headers`].
    #[error("too many headers")]
    TooManyHeaders,
    /// A header is missing, malformed, or repeated where only one is allowed.
    #[error("{0}")]
    Header(HeaderError),
    /// The CSeq method is not the request's method (RFC 3261 §8.1.1.5). When the request
    /// method is one we do not know, RFC 4475 §3.1.2.18 prefers 501 over 400.
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch {
        /// Whether the Request-Line's method is a known one.
        method_known: bool,
    },
    /// Content-Length promises more bytes than arrived (RFC 3261 §18.3).
    #[error("body shorter than Content-Length ({declared} declared, {available} present)")]
    BodyTruncated {
        /// Content-Length.
        declared: usize,
        /// Bytes present after the head.
        available: usize,
    },
}

impl ParseErrorKind {
    /// The status a server answers with when it can answer at all.
    pub fn status(&self) -> u16 {
        match self {
            ParseErrorKind::Version => 505,
            ParseErrorKind::CSeqMethodMismatch { method_known: false } => 501,
            _ => 400,
        }
    }

    /// A reason phrase naming the problem, e.g. `Malformed CSeq header`.
    pub fn reason_phrase(&self) -> String {
        match self {
            ParseErrorKind::Header(e) if e.reason == "missing" => {
                format!("Missing {} header", e.header)
            }
            ParseErrorKind::Header(e) if e.reason == "repeated" => {
                format!("Repeated {} header", e.header)
            }
            ParseErrorKind::Header(e) => format!("Malformed {} header", e.header),
            ParseErrorKind::Version | ParseErrorKind::CSeqMethodMismatch { method_known: false } => {
                crate::message::reason_phrase(self.status()).to_owned()
            }
            ParseErrorKind::RequestUri(_) => "Malformed Request-URI".to_owned(),
            ParseErrorKind::CSeqMethodMismatch { method_known: true } => "CSeq method mismatch".to_owned(),
            ParseErrorKind::BodyTruncated { .. } => "Body shorter than Content-Length".to_owned(),
            ParseErrorKind::TooManyHeaders => "Too many headers".to_owned(),
            ParseErrorKind::HeaderLine => "Malformed header line".to_owned(),
            ParseErrorKind::StartLine(_) | ParseErrorKind::Empty => "Malformed start line".to_owned(),
        }
    }
}

/// Headers that RFC 3261 §7.3.1 / §20 allow at most once.
const SINGLE: [HeaderName; 8] = [
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::From,
    HeaderName::To,
    HeaderName::MaxForwards,
    HeaderName::ContentLength,
    HeaderName::ContentType,
    HeaderName::Expires,
];

/// Parses one whole message with default limits.
pub fn parse_message(buf: &[u8]) -> Result<Message, ParseError> {
    parse_message_with(buf, &ParseLimits::default())
}

/// Parses one whole message. Bytes beyond Content-Length are ignored (RFC 3261 §18.3); with
/// no Content-Length the body is the rest of `buf` (valid for datagrams only; stream framing
/// requires the header).
pub fn parse_message_with(buf: &[u8], limits: &ParseLimits) -> Result<Message, ParseError> {
    let mut lines = Lines::new(buf);
    let start = loop {
        match lines.next_line() {
            None => {
                return Err(ParseError { kind: ParseErrorKind::Empty, partial: None });
            }
            Some(b"") => continue,
            Some(line) => break line,
        }
    };
    // A start line that is not UTF-8 (RFC 3261 §25.1: the Request-URI is ASCII) is read
    // with replacement characters, so that a request whose method, version and headers are
    // sound still gets its 400 naming the Request-URI instead of silence.
    let (start, utf8) = match std::str::from_utf8(start) {
        Ok(text) => (std::borrow::Cow::Borrowed(text), true),
        Err(_) => (String::from_utf8_lossy(start), false),
    };
    let (mut start, version_ok) = StartLine::parse(&start)?;
    if let StartLine::Request { uri, .. } = &mut start
        && !utf8
    {
        *uri = Err(ParseErrorKind::RequestUri("not UTF-8"));
    }
    let method = match &start {
        StartLine::Request { method, .. } => Some(method.clone()),
        StartLine::Response { .. } => None,
    };
    let mut head = PartialHead { method, headers: Headers::new() };
    let fail = |kind, head: PartialHead| ParseError { kind, partial: Some(Box::new(head)) };

    let headers_read = read_headers(&mut lines, &mut head.headers, limits);
    if !version_ok {
        return Err(fail(ParseErrorKind::Version, head));
    }
    if let Err(kind) = headers_read {
        return Err(fail(kind, head));
    }
    let content_length = match validate(&head) {
        Ok(content_length) => content_length,
        Err(kind) => return Err(fail(kind, head)),
    };

    let rest = &buf[lines.pos..];
    let body = match content_length {
        Some(declared) => {
            let declared = declared as usize;
            if declared > rest.len() {
                return Err(fail(ParseErrorKind::BodyTruncated { declared, available: rest.len() }, head));
            }
            &rest[..declared]
        }
        None => rest,
    };
    let body = Bytes::copy_from_slice(body);
    Ok(match start {
        StartLine::Request { uri: Err(kind), .. } => return Err(fail(kind, head)),
        StartLine::Request { method, uri: Ok(uri) } => {
            Message::Request(Request { method, uri, headers: head.headers, body })
        }
        StartLine::Response { status, reason } => {
            Message::Response(Response { status, reason, headers: head.headers, body })
        }
    })
}

/// Parses one header family, discarding the typed value.
type HeaderCheck = fn(&Headers) -> Result<(), HeaderError>;

/// Checks every header the server reads (see the module docs); gives the Content-Length.
fn validate(head: &PartialHead) -> Result<Option<u32>, ParseErrorKind> {
    let h = &head.headers;
    for name in SINGLE {
        if h.get_all(&name).count() > 1 {
            return Err(ParseErrorKind::Header(HeaderError { header: name, reason: "repeated" }));
        }
    }
    let cseq = h.cseq().map_err(ParseErrorKind::Header)?;
    h.via().map_err(ParseErrorKind::Header)?;
    h.from().map_err(ParseErrorKind::Header)?;
    h.to().map_err(ParseErrorKind::Header)?;
    h.call_id().map_err(ParseErrorKind::Header)?;
    let checks: [HeaderCheck; 3] =
        [|h| h.contacts().map(drop), |h| h.routes().map(drop), |h| h.record_routes().map(drop)];
    for check in checks {
        check(h).map_err(ParseErrorKind::Header)?;
    }
    let content_length = h.content_length().map_err(ParseErrorKind::Header)?;
    let checks: [HeaderCheck; 9] = [
        |h| h.content_type().map(drop),
        |h| h.expires().map(drop),
        |h| h.min_expires().map(drop),
        |h| h.max_forwards().map(drop),
        |h| h.event().map(drop),
        |h| h.subscription_state().map(drop),
        |h| h.accept().map(drop),
        |h| h.require().map(drop),
        |h| h.allow_events().map(drop),
    ];
    for check in checks {
        check(h).map_err(ParseErrorKind::Header)?;
    }
    match &head.method {
        Some(method) if *method != cseq.method => {
            Err(ParseErrorKind::CSeqMethodMismatch { method_known: !matches!(method, Method::Other(_)) })
        }
        _ => Ok(content_length),
    }
}

fn read_headers(lines: &mut Lines<'_>, headers: &mut Headers, limits: &ParseLimits) -> Result<(), ParseErrorKind> {
    // Collect unfolded lines: a line starting with SP or HT continues the previous one
    // (RFC 3261 §7.3.1); the folded line break counts as a single space.
    let mut current: Option<String> = None;
    loop {
        let line = lines.next_line().unwrap_or(b"");
        let text = std::str::from_utf8(line).map_err(|_| ParseErrorKind::HeaderLine)?;
        if text.starts_with([' ', '\t']) {
            // A continuation line; one holding only white space adds nothing (and, not
            // being empty, does not end the head: stream framing agrees).
            let Some(cur) = current.as_mut() else {
                return Err(ParseErrorKind::HeaderLine);
            };
            if !text.trim().is_empty() {
                cur.push(' ');
                cur.push_str(text.trim());
            }
            continue;
        }
        if let Some(complete) = current.take() {
            add_header_line(headers, &complete)?;
            if headers.len() > limits.max_headers {
                return Err(ParseErrorKind::TooManyHeaders);
            }
        }
        if text.is_empty() {
            return Ok(());
        }
        current = Some(text.to_owned());
    }
}

fn add_header_line(headers: &mut Headers, line: &str) -> Result<(), ParseErrorKind> {
    let (name, value) = line.split_once(':').ok_or(ParseErrorKind::HeaderLine)?;
    let name = name.trim_end_matches([' ', '\t']);
    if !crate::scan::is_token(name) {
        return Err(ParseErrorKind::HeaderLine);
    }
    headers.push_received(HeaderName::from_wire(name), value.trim()).map_err(ParseErrorKind::Header)
}

enum StartLine {
    /// `uri` holds what is wrong with the request line when only its URI or spacing is: the
    /// headers are still read, so the request can be answered with 400.
    Request {
        method: Method,
        uri: Result<Uri, ParseErrorKind>,
    },
    Response {
        status: u16,
        reason: String,
    },
}

impl StartLine {
    /// Parses the first line; the flag says whether the version is SIP/2.0 (a request or
    /// response of another version still parses, so its head can carry a 505).
    fn parse(line: &str) -> Result<(StartLine, bool), ParseError> {
        let err = |reason| ParseError { kind: ParseErrorKind::StartLine(reason), partial: None };
        if let Some(rest) = strip_version(line) {
            // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
            let rest = rest.strip_prefix(' ').ok_or(err("no space after version"))?;
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            let status = (code.len() == 3)
                .then(|| crate::scan::parse_u32(code))
                .flatten()
                .filter(|c| (100..700).contains(c))
                .ok_or(err("malformed status code"))?;
            let response = StartLine::Response { status: status as u16, reason: reason.to_owned() };
            return Ok((response, is_sip_2_0(line)));
        }
        // Request-Line = Method SP Request-URI SP SIP-Version: single spaces, three parts.
        let mut parts = line.split(' ');
        let (Some(method), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return StartLine::badly_spaced(line).ok_or(err("request line is not <method> <uri> <version>"));
        };
        let method: Method = method.parse().map_err(|_| err("method is not a token"))?;
        if strip_version(version) != Some("") {
            return Err(err("malformed SIP version"));
        }
        // RFC 3261 §19.1.1 Table 1: a Request-URI carries no headers component.
        let uri = Uri::parse(uri).map_err(|e| e.0).and_then(|u| match &u {
            Uri::Sip(sip) if sip.headers.is_some() => Err("headers are not allowed in a Request-URI"),
            _ => Ok(u),
        });
        Ok((StartLine::Request { method, uri: uri.map_err(ParseErrorKind::RequestUri) }, is_sip_2_0(version)))
    }

    /// A request line whose method and version read but whose elements are not separated by
    /// single spaces (RFC 4475 §3.1.2.8–10: LWS in the URI, several SP, trailing SP): still a
    /// request, refused once its headers are read, so it can be answered with 400.
    fn badly_spaced(line: &str) -> Option<(StartLine, bool)> {
        let mut words = line.split_ascii_whitespace();
        let method: Method = words.next()?.parse().ok()?;
        let version = words.next_back()?;
        words.next()?; // something between them
        (strip_version(version) == Some("")).then(|| {
            let uri = Err(ParseErrorKind::StartLine("request line elements not separated by single spaces"));
            (StartLine::Request { method, uri }, is_sip_2_0(version))
        })
    }
}

/// Strips a leading `SIP/<digits>.<digits>` ("SIP" case-insensitive per RFC 3261 §25).
fn strip_version(s: &str) -> Option<&str> {
    let rest = s.get(..4).filter(|p| p.eq_ignore_ascii_case("SIP/")).map(|_| &s[4..])?;
    let major_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest[major_len..].strip_prefix('.').filter(|_| major_len > 0)?;
    let minor_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    (minor_len > 0).then(|| &rest[minor_len..])
}

fn is_sip_2_0(s: &str) -> bool {
    s.get(4..7) == Some("2.0") && !s[7..].starts_with(|c: char| c.is_ascii_digit())
}

/// Splits a buffer into lines ending in CRLF or a bare LF, stopping at the blank line.
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Lines { buf, pos: 0 }
    }

    fn next_line(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let (line, consumed) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += consumed;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:pbx.example.com SIP/2.0\r\n\
        v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\n\
        f: <sip:1001@pbx.example.com>;tag=a\r\n\
        t: <sip:pbx.example.com>\r\n\
        i: abc@192.0.2.1\r\n\
        CSeq: 1 OPTIONS\r\n\
        Subject: folded\r\n  across lines\r\n\
        l: 4\r\n\
        \r\n\
        bodyEXTRA";

    #[test]
    fn a_badly_spaced_request_line_keeps_its_headers_for_the_400() {
        let text = std::str::from_utf8(OPTIONS).unwrap();
        for line in [
            "OPTIONS  sip:pbx.example.com SIP/2.0",
            "OPTIONS sip:pbx.example.com SIP/2.0 ",
            "OPTIONS sip:pbx. example.com SIP/2.0",
        ] {
            let bad = text.replacen("OPTIONS sip:pbx.example.com SIP/2.0", line, 1);
            let err = parse_message(bad.as_bytes()).unwrap_err();
            assert!(matches!(err.kind, ParseErrorKind::StartLine(_)), "{line:?}: {err:?}");
            let partial = err.partial.expect("the head was read");
            assert_eq!(partial.method, Some(Method::Options));
            assert!(partial.headers.cseq().is_ok() && partial.headers.top_via().is_ok(), "{line:?}");
        }
        let garbage = text.replacen("OPTIONS sip:pbx.example.com SIP/2.0", "OPTIONS  sip:pbx.example.com", 1);
        assert!(parse_message(garbage.as_bytes()).unwrap_err().partial.is_none(), "no version: not a request line");
    }

    #[test]
    fn a_request_uri_with_a_nul_or_not_utf8_gets_its_400() {
        let text = std::str::from_utf8(OPTIONS).unwrap();
        for uri in [&b"sip:10\x0001@pbx.example.com"[..], &b"sip:10\xff01@pbx.example.com"[..]] {
            let mut raw = b"OPTIONS ".to_vec();
            raw.extend_from_slice(uri);
            raw.push(b' ');
            raw.extend_from_slice(text.split_once(' ').unwrap().1.split_once(' ').unwrap().1.as_bytes());
            let err = parse_message(&raw).unwrap_err();
            assert!(matches!(err.kind, ParseErrorKind::RequestUri(_)), "{:?}: {err:?}", String::from_utf8_lossy(uri));
            assert_eq!(err.kind.reason_phrase(), "Malformed Request-URI");
            let partial = err.partial.expect("the head was read, so the 400 can be sent");
            assert!(partial.headers.cseq().is_ok() && partial.headers.top_via().is_ok());
        }
    }

    #[test]
    fn parses_compact_folded_and_truncates_extra_bytes() {
        let Message::Request(r) = parse_message(OPTIONS).unwrap() else { panic!("not a request") };
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.headers.get(&HeaderName::Subject), Some("folded across lines"));
        assert_eq!(r.headers.call_id().unwrap(), "abc@192.0.2.1");
        assert_eq!(&r.body[..], b"body");
    }

    #[test]
    fn reports_partial_head_for_bad_header() {
        let msg = String::from_utf8_lossy(OPTIONS).replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS");
        let err = parse_message(msg.as_bytes()).unwrap_err();
        assert_eq!(err.kind.reason_phrase(), "Malformed CSeq header");
        let partial = err.partial.unwrap();
        assert_eq!(partial.headers.call_id().unwrap(), "abc@192.0.2.1");
    }

    #[test]
    fn version_and_truncation_statuses() {
        let v = String::from_utf8_lossy(OPTIONS).replace("SIP/2.0\r\n", "SIP/7.0\r\n");
        assert_eq!(parse_message(v.as_bytes()).unwrap_err().kind.status(), 505);
        let t = String::from_utf8_lossy(OPTIONS).replace("l: 4", "l: 400");
        assert!(matches!(parse_message(t.as_bytes()).unwrap_err().kind, ParseErrorKind::BodyTruncated { .. }));
    }

    #[test]
    fn a_whitespace_only_line_does_not_end_the_head() {
        // Found by fuzzing: it ended the head here while stream framing did not.
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n \r\nl: 5\r\n\r\nhello";
        let Message::Request(r) = parse_message(m).unwrap() else { panic!("not a request") };
        assert_eq!((&r.body[..], r.headers.content_length().unwrap()), (&b"hello"[..], Some(5)));
    }

    #[test]
    fn garbage_has_no_partial_head() {
        for junk in [&b"\x00\x01\x02garbage"[..], b"", b"\r\n\r\n", b"HELLO", b"SIP/2.0 99 x\r\n\r\n"] {
            let err = parse_message(junk).unwrap_err();
            assert!(err.partial.is_none(), "{junk:?}");
        }
    }

    #[test]
    fn responses_parse() {
        let msg = b"SIP/2.0 200 OK fine\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: q\r\nCSeq: 5 NOTIFY\r\nContent-Length: 0\r\n\r\n";
        let Message::Response(r) = parse_message(msg).unwrap() else { panic!("not a response") };
        assert_eq!((r.status, r.reason.as_str()), (200, "OK fine"));
    }
}
