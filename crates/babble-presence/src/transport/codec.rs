//! The SIP stream codec: cuts a byte stream into messages by their Content-Length
//! (RFC 3261 §18.3) with [`sip_proto::framing`], and picks out the keep-alives of
//! RFC 5626 §3.5.1. Every stream transport frames with it.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use sip_proto::framing::{Frame, FrameLimits, frame};
use tokio_util::codec::Decoder;

/// What the codec yields.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StreamItem {
    /// One whole SIP message.
    Message(Bytes),
    /// A CRLFCRLF keep-alive ping, to be answered with a CRLF pong.
    Ping,
    /// A keep-alive the transport has answered itself (a WebSocket ping, RFC 6455 §5.5.2,
    /// or pong): it only shows the connection is alive.
    Alive,
    /// The head of a message whose body is over the limit; nothing after it can be framed.
    OversizedHead(Bytes),
}

/// A tokio-util decoder over [`frame`].
pub(crate) struct SipCodec {
    limits: FrameLimits,
    /// Set after an oversized message or an unreadable Content-Length: the stream cannot be
    /// resynchronised.
    poisoned: bool,
}

impl SipCodec {
    pub(crate) fn new(limits: FrameLimits) -> Self {
        SipCodec { limits, poisoned: false }
    }
}

impl Decoder for SipCodec {
    type Item = StreamItem;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<StreamItem>> {
        loop {
            if self.poisoned {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream closed after a message it cannot frame",
                ));
            }
            match frame(src, &self.limits) {
                Frame::Incomplete => return Ok(None),
                // A stray CRLF (a pong, or padding before a message, RFC 3261 §7.5).
                Frame::Pong(n) => src.advance(n),
                Frame::Ping(n) => {
                    src.advance(n);
                    return Ok(Some(StreamItem::Ping));
                }
                Frame::Message { len, .. } => {
                    return Ok(Some(StreamItem::Message(src.split_to(len).freeze())));
                }
                Frame::BodyTooLarge { head_len } => {
                    self.poisoned = true;
                    return Ok(Some(StreamItem::OversizedHead(src.split_to(head_len).freeze())));
                }
                // The head alone, as a message: the parser refuses its Content-Length by name,
                // so the peer gets a 400 saying why before the stream closes.
                Frame::UnreadableLength { head_len } => {
                    self.poisoned = true;
                    return Ok(Some(StreamItem::Message(src.split_to(head_len).freeze())));
                }
                Frame::Invalid(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_frames_messages_pings_and_poisons_after_oversize() {
        let mut codec = SipCodec::new(FrameLimits { max_head: 100, max_body: 4 });
        let mut buf = BytesMut::from(&b"\r\n\r\n\r\nX a b\r\nl: 2\r\n\r\nhiY a b\r\nl: 9\r\n\r\n"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(StreamItem::Ping));
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(StreamItem::Message(Bytes::from_static(b"X a b\r\nl: 2\r\n\r\nhi")))
        );
        assert!(matches!(codec.decode(&mut buf).unwrap(), Some(StreamItem::OversizedHead(_))));
        assert!(codec.decode(&mut buf).is_err());
    }
}
