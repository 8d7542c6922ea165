//! SIP messages (RFC 3261 §7): requests, responses, the standard reason phrases, building a
//! response from a request (§8.2.6), and encoding to wire bytes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::header::{HeaderName, Headers};
use crate::method::Method;
use crate::uri::Uri;

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers (Content-Length is recomputed when encoding).
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code (100–699).
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers (Content-Length is recomputed when encoding).
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// Encodes to wire bytes.
    pub fn encode(&self) -> Bytes {
        match self {
            Message::Request(r) => r.encode(),
            Message::Response(r) => r.encode(),
        }
    }
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Self {
        Request { method, uri, headers: Headers::new(), body: Bytes::new() }
    }

    /// Encodes to wire bytes.
    pub fn encode(&self) -> Bytes {
        encode(format!("{} {} SIP/2.0", self.method, self.uri), &self.headers, &self.body)
    }
}

impl Response {
    /// A response to a request with these headers, carrying the standard reason phrase:
    /// Via, From, To, Call-ID and CSeq copied as RFC 3261 §8.2.6.2 requires. Works on the
    /// partial head of a request that failed to parse, so a 400 can still be answered; only
    /// the first of a wrongly repeated single-valued header is copied, so the answer stays
    /// well-formed.
    pub fn to_headers(request: &Headers, status: u16) -> Response {
        let mut headers = Headers::new();
        for value in request.get_all(&HeaderName::Via) {
            headers.push(HeaderName::Via, value);
        }
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq] {
            if let Some(value) = request.get(&name) {
                headers.push(name, value);
            }
        }

        Response { status, reason: reason_phrase(status).to_owned(), headers, body: Bytes::new() }
    }

    /// A response to `request` (see [`Response::to_headers`]).
    pub fn to(request: &Request, status: u16) -> Response {
        Self::to_headers(&request.headers, status)
    }

    /// Replaces the reason phrase.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Encodes to wire bytes.
    pub fn encode(&self) -> Bytes {
        encode(format!("SIP/2.0 {} {}", self.status, self.reason), &self.headers, &self.body)
    }
}

fn encode(start_line: String, headers: &Headers, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(start_line.len() + 64 * headers.len() + body.len() + 32);
    out.put_slice(start_line.as_bytes());
    out.put_slice(b"\r\n");
    for field in headers.iter().filter(|h| h.name != HeaderName::ContentLength) {
        out.put_slice(field.name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(field.value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.put_slice(body);
    out.freeze()
}

/// The RFC 3261 §21 (and extension RFCs') reason phrase for `status`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        489 => "Bad Event",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => match status / 100 {
            1 => "Provisional",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_with_computed_content_length() {
        let mut r = Request::new(Method::Notify, Uri::parse("sip:a@b").unwrap());
        r.headers.push(HeaderName::ContentLength, "999");
        r.headers.push(HeaderName::Event, "presence");
        r.body = Bytes::from_static(b"hello");
        assert_eq!(&r.encode()[..], b"NOTIFY sip:a@b SIP/2.0\r\nEvent: presence\r\nContent-Length: 5\r\n\r\nhello");
    }

    #[test]
    fn response_copies_transaction_headers() {
        let mut h = Headers::new();
        for (n, v) in [
            (HeaderName::Via, "SIP/2.0/UDP a;branch=z9hG4bK1"),
            (HeaderName::Via, "SIP/2.0/UDP b;branch=z9hG4bK2"),
            (HeaderName::From, "<sip:a@b>;tag=1"),
            (HeaderName::To, "<sip:c@d>"),
            (HeaderName::CallId, "x"),
            (HeaderName::CSeq, "1 OPTIONS"),
            (HeaderName::UserAgent, "ua"),
        ] {
            h.push(n, v);
        }
        let resp = Response::to_headers(&h, 405);
        assert_eq!(resp.reason, "Method Not Allowed");
        assert_eq!(resp.headers.len(), 6);
        assert!(!resp.headers.contains(&HeaderName::UserAgent));
    }
}
