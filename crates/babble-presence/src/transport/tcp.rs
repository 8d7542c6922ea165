//! TCP: an accept loop capped by a semaphore, and per connection a reader that frames the
//! byte stream with [`sip_proto::framing`] (Content-Length framing, RFC 5626 keep-alives)
//! and a writer fed by a bounded queue. These are per-connection tasks, never
//! per-subscription ones.

use std::io;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use presence_core::{FlowId, Peer, Transport};
use sip_proto::framing::{Frame, FrameLimits, frame};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::{Decoder, FramedRead};

use super::{FlowIds, Inbound};

/// Messages queued for one connection before it counts as backlogged.
const WRITE_QUEUE: usize = 256;

/// What the decoder yields.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Message(Bytes),
    Ping,
    OversizedHead(Bytes),
}

/// A tokio-util decoder over [`frame`].
struct SipCodec {
    limits: FrameLimits,
    /// Set after an oversized message: the stream cannot be resynchronised.
    poisoned: bool,
}

impl Decoder for SipCodec {
    type Item = Item;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Item>> {
        loop {
            if self.poisoned {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "stream closed after an oversized message"));
            }
            match frame(src, &self.limits) {
                Frame::Incomplete => return Ok(None),
                Frame::Pong(n) => src.advance(n),
                Frame::Ping(n) => {
                    src.advance(n);
                    return Ok(Some(Item::Ping));
                }
                Frame::Message { len, .. } => {
                    return Ok(Some(Item::Message(src.split_to(len).freeze())));
                }
                Frame::BodyTooLarge { head_len } => {
                    self.poisoned = true;
                    return Ok(Some(Item::OversizedHead(src.split_to(head_len).freeze())));
                }
                Frame::Invalid(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }
}

/// Accepts connections until the listener fails or the driver goes away. The connections'
/// tasks belong to it: when it is stopped (the server shutting down), they stop too and the
/// connections close.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    ids: Arc<FlowIds>,
    limits: FrameLimits,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Forget the connections that have ended.
        while connections.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors fails at once and again: pause rather than spin.
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let flow = ids.next();
        let inbound = inbound.clone();
        let Ok(local) = stream.local_addr() else { continue };
        connections.spawn(async move {
            let source = Peer { transport: Transport::Tcp, addr, flow: Some(flow), local };
            serve(stream, source, flow, inbound, limits).await;
            drop(permit);
        });
    }
}

async fn serve(stream: TcpStream, source: Peer, flow: FlowId, inbound: mpsc::Sender<Inbound>, limits: FrameLimits) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let (writer, mut queue) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    if inbound.send(Inbound::FlowOpened { flow, writer: writer.clone() }).await.is_err() {
        return;
    }
    let writing = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if write.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    tracing::debug!(peer = %source.addr, ?flow, "tcp connection opened");
    let mut frames = FramedRead::new(read, SipCodec { limits, poisoned: false });
    while let Some(item) = frames.next().await {
        let event = match item {
            Ok(Item::Message(bytes)) => Inbound::Message { bytes, source },
            Ok(Item::OversizedHead(head)) => Inbound::OversizedHead { head, source },
            Ok(Item::Ping) => {
                // RFC 5626 §3.5.1: answer a CRLFCRLF ping with a CRLF pong.
                let _ = writer.try_send(Bytes::from_static(b"\r\n"));
                continue;
            }
            Err(e) => {
                tracing::debug!(peer = %source.addr, error = %e, "closing tcp connection");
                break;
            }
        };
        if inbound.send(event).await.is_err() {
            return;
        }
    }
    drop(writer);
    // The driver drops its writer handle on FlowClosed, after any response still queued
    // for this flow (such as a 413) has been handed to the writer, which then finishes.
    let _ = inbound.send(Inbound::FlowClosed { flow }).await;
    let _ = writing.await;
    tracing::debug!(peer = %source.addr, ?flow, "tcp connection closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_frames_messages_pings_and_poisons_after_oversize() {
        let mut codec = SipCodec { limits: FrameLimits { max_head: 100, max_body: 4 }, poisoned: false };
        let mut buf = BytesMut::from(&b"\r\n\r\n\r\nX a b\r\nl: 2\r\n\r\nhiY a b\r\nl: 9\r\n\r\n"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Item::Ping));
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Item::Message(Bytes::from_static(b"X a b\r\nl: 2\r\n\r\nhi")))
        );
        assert!(matches!(codec.decode(&mut buf).unwrap(), Some(Item::OversizedHead(_))));
        assert!(codec.decode(&mut buf).is_err());
    }
}
