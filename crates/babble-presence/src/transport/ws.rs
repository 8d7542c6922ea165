//! SIP over WebSocket (RFC 7118), for the `ws` and `wss` listeners: the opening handshake,
//! and the reader and writer that carry one SIP message per WebSocket message (§5.1: no
//! Content-Length framing) for the shared [`connection`] task.
//!
//! The handshake head is read here so that what is not a SIP WebSocket gets an answer that
//! says so, instead of a closed connection: a plain HTTP request gets `426 Upgrade
//! Required`, an upgrade without the `sip` subprotocol (§4.1 requires it) gets `400`, and
//! each is counted. The upgrade itself (key, version, headers) is checked and answered by
//! tungstenite. A message over the size limit, a bad frame or text that is not UTF-8 closes
//! the connection with the matching close code (RFC 6455 §7.4.1: 1009, 1002, 1007) and is
//! counted. The server pings a connection it has sent nothing on for a while, since a
//! browser's script cannot; the pongs keep it from going idle.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use presence_core::{FlowId, Peer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, create_response, write_response};
use tokio_tungstenite::tungstenite::http::{self, HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use super::Inbound;
use super::codec::StreamItem;
use super::connection::{self, MessageReader, StreamRules};
use crate::counters;

/// The subprotocol of SIP over WebSocket (RFC 7118 §4.1).
const SUBPROTOCOL: &str = "sip";
/// Largest handshake request head read.
const MAX_HANDSHAKE: usize = 8192;
/// Most headers a handshake request may have.
const MAX_HANDSHAKE_HEADERS: usize = 48;

/// Runs the handshake on `stream` within the head timeout, then serves SIP over it until
/// either side closes it. `ping_every`: how long the server may send nothing before it
/// pings.
pub(crate) async fn serve<S>(
    stream: S,
    rules: &StreamRules,
    ping_every: Duration,
    source: Peer,
    flow: FlowId,
    inbound: mpsc::Sender<Inbound>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let why = match tokio::time::timeout(rules.head_timeout, handshake(stream, rules.max_message_size)).await {
        Ok(Ok(ws)) => {
            let (sink, messages) = ws.split();
            let close = Arc::new(OnceLock::new());
            let reader = WsMessages { messages, close: close.clone(), rules: rules.clone() };
            let writing = move |queue| write_messages(sink, queue, ping_every, close);
            connection::serve(reader, writing, rules, source, flow, inbound).await;
            return;
        }
        Ok(Err(refusal)) => refusal,
        Err(_) => Refusal::TimedOut,
    };
    counters::add(&rules.counters.ws_handshake_failures, 1);
    tracing::debug!(transport = %source.transport, peer = %source.addr, why = %why, "websocket handshake refused");
}

/// Why a WebSocket handshake did not complete.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("the handshake was not complete in time")]
    TimedOut,
    #[error("the connection closed or failed during the handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("the request head is over {MAX_HANDSHAKE} bytes")]
    TooLarge,
    #[error("unreadable HTTP request: {0}")]
    Unreadable(String),
    #[error("answered {0}: {1}")]
    Answered(StatusCode, &'static str),
    #[error("answered 400: {0}")]
    BadUpgrade(tungstenite::Error),
}

/// Reads the request head, refuses what is not a SIP WebSocket upgrade with an HTTP answer
/// saying why, and answers the rest `101` with `Sec-WebSocket-Protocol: sip`.
async fn handshake<S>(mut stream: S, max_message_size: usize) -> Result<WebSocketStream<S>, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(1024);
    let (request, head_len) = loop {
        if stream.read_buf(&mut buffer).await? == 0 {
            return Err(Refusal::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if let Some(parsed) = parse_request(&buffer)? {
            break parsed;
        }
        if buffer.len() >= MAX_HANDSHAKE {
            return Err(Refusal::TooLarge);
        }
    };
    if !wants_websocket(&request) {
        let why = "this is a SIP WebSocket port (RFC 7118): connect with a WebSocket and the subprotocol sip";
        return Err(refuse(&mut stream, StatusCode::UPGRADE_REQUIRED, why).await);
    }
    if !offers_sip(&request) {
        let why = "SIP over WebSocket needs the subprotocol sip: send Sec-WebSocket-Protocol: sip (RFC 7118 §4.1)";
        return Err(refuse(&mut stream, StatusCode::BAD_REQUEST, why).await);
    }
    let mut response = match create_response(&request) {
        Ok(response) => response,
        Err(e) => {
            let _ =
                refuse(&mut stream, StatusCode::BAD_REQUEST, "not a valid WebSocket upgrade (RFC 6455 §4.2.1)").await;
            return Err(Refusal::BadUpgrade(e));
        }
    };
    response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    let mut head = Vec::new();
    write_response(&mut head, &response).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    stream.write_all(&head).await?;
    let limits =
        WebSocketConfig::default().max_message_size(Some(max_message_size)).max_frame_size(Some(max_message_size));
    // Bytes after the head are the client's first frames.
    let early = buffer.split_off(head_len).to_vec();
    Ok(WebSocketStream::from_partially_read(stream, early, Role::Server, Some(limits)).await)
}

/// The request and the length of its head, once the head is whole.
fn parse_request(buffer: &[u8]) -> Result<Option<(Request, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HANDSHAKE_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Refusal::Unreadable(e.to_string())),
    };
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or_default())
        .uri(parsed.path.unwrap_or_default())
        .version(if parsed.version == Some(0) { http::Version::HTTP_10 } else { http::Version::HTTP_11 });
    for h in parsed.headers.iter() {
        request = request.header(h.name, h.value);
    }
    let request = request.body(()).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    Ok(Some((request, head_len)))
}

/// Whether the request asks to upgrade to a WebSocket at all.
fn wants_websocket(request: &Request) -> bool {
    request.headers().get_all(header::UPGRADE).iter().any(|v| has_token(v, "websocket"))
}

/// Whether the request offers the `sip` subprotocol.
fn offers_sip(request: &Request) -> bool {
    request.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL).iter().any(|v| has_token(v, SUBPROTOCOL))
}

/// Whether a comma-separated header value holds `token`, compared without case.
fn has_token(value: &HeaderValue, token: &str) -> bool {
    value.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Answers the handshake with `status` and a plain-text reason, and gives the refusal.
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, status: StatusCode, why: &'static str) -> Refusal {
    let upgrade = if status == StatusCode::UPGRADE_REQUIRED {
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n"
    } else {
        ""
    };
    let reason = status.canonical_reason().unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 {} {reason}\r\n{upgrade}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{why}\n",
        status.as_u16(),
        why.len() + 1
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
    Refusal::Answered(status, why)
}

/// The messages of a WebSocket connection as stream items. A read error records the close
/// code the writer ends the connection with.
struct WsMessages<S> {
    messages: SplitStream<WebSocketStream<S>>,
    close: Arc<OnceLock<CloseFrame>>,
    rules: StreamRules,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsMessages<S> {
    type Item = Result<StreamItem, tungstenite::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let item = match ready!(self.messages.poll_next_unpin(cx)) {
                // RFC 7118 §5.1: each message is one SIP message, sent as text or binary.
                Some(Ok(Message::Text(text))) => StreamItem::Message(Bytes::clone(text.as_ref())),
                Some(Ok(Message::Binary(bytes))) => StreamItem::Message(bytes),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => StreamItem::Alive,
                Some(Ok(Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(None),
                Some(Err(e)) => {
                    let (code, reason) = match &e {
                        tungstenite::Error::Capacity(_) => (CloseCode::Size, "message over the size limit"),
                        tungstenite::Error::Utf8(_) => (CloseCode::Invalid, "text that is not UTF-8"),
                        _ => (CloseCode::Protocol, "bad WebSocket frame"),
                    };
                    counters::add(&self.rules.counters.ws_bad_frames, 1);
                    let _ = self.close.set(CloseFrame { code, reason: Utf8Bytes::from_static(reason) });
                    return Poll::Ready(Some(Err(e)));
                }
            };
            return Poll::Ready(Some(Ok(item)));
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> MessageReader for WsMessages<S> {
    type Error = tungstenite::Error;

    /// tungstenite holds a frame until it is whole and does not say it has begun one; the
    /// idle timeout and the size limit bound a frame trickled in.
    fn holds_partial(&self) -> bool {
        false
    }
}

/// Writes each queued SIP message as one WebSocket message (text, as SIP is UTF-8 text,
/// unless it is not), pings after `ping_every` of silence, and closes with the reason the
/// reader recorded, or a normal closure.
async fn write_messages<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut queue: mpsc::Receiver<Bytes>,
    ping_every: Duration,
    close: Arc<OnceLock<CloseFrame>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let message = match tokio::time::timeout(ping_every, queue.recv()).await {
            Ok(Some(bytes)) => match Utf8Bytes::try_from(bytes.clone()) {
                Ok(text) => Message::Text(text),
                Err(_) => Message::Binary(bytes),
            },
            Ok(None) => break,
            Err(_) => Message::Ping(Bytes::new()),
        };
        if sink.send(message).await.is_err() {
            return;
        }
    }
    let frame = close.get().cloned().unwrap_or(CloseFrame { code: CloseCode::Normal, reason: Utf8Bytes::default() });
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}

/// What a client sent on a WebSocket port, as [`serve`] would read it: `input` goes through
/// the handshake and the message reader on an in-memory stream, and the length of each SIP
/// message read is returned (none when the handshake was refused). Panics when a message
/// is over `max_message_size`, which the reader must never deliver.
#[cfg(feature = "fuzzing")]
// A fuzz target's entry point: failing loudly is its job.
#[allow(clippy::expect_used)]
pub fn fuzz_session(input: &[u8], max_message_size: usize) -> Vec<usize> {
    use tokio::sync::Semaphore;
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    }
    let rules = StreamRules {
        max_message_size,
        idle_timeout: Duration::from_secs(60),
        head_timeout: Duration::from_secs(10),
        share: Arc::new(Semaphore::new(1)),
        counters: Arc::default(),
    };
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let sending = async move {
        let _ = client.write_all(input).await;
        let _ = client.shutdown().await;
        // What the server answers is read until it drops its end, so its writes never block.
        let _ = client.read_to_end(&mut Vec::new()).await;
    };
    let reading = async {
        let Ok(ws) = handshake(server, max_message_size).await else { return Vec::new() };
        let (_sink, messages) = ws.split();
        let mut reader = WsMessages { messages, close: Arc::default(), rules };
        let mut lengths = Vec::new();
        while let Some(Ok(item)) = reader.next().await {
            if let StreamItem::Message(message) = item {
                assert!(message.len() <= max_message_size, "a {}-byte message was delivered", message.len());
                lengths.push(message.len());
            }
        }
        lengths
    };
    RUNTIME.with(|runtime| runtime.block_on(async { tokio::join!(sending, reading).1 }))
}
