//! The task of one stream connection, whatever carries it: it takes any `AsyncRead +
//! AsyncWrite` stream and a decoder of [`StreamItem`]s, so TCP, and later TLS and
//! WebSocket, add only their listener and handshake. It registers the connection with the
//! driver as a flow, hands over the framed messages, answers keep-alive pings (RFC 5626
//! §3.5.1) and writes what the driver queues for the flow. An oversized message is handed
//! over as its head alone (the engine answers 413) and ends the connection, since nothing
//! after it can be framed. These are per-connection tasks, never per-subscription ones.

use std::fmt::Display;

use bytes::Bytes;
use futures_util::StreamExt;
use presence_core::{FlowId, Peer, Received};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, FramedRead};

use super::Inbound;
use super::codec::StreamItem;

/// Messages queued for one connection before it counts as backlogged.
const WRITE_QUEUE: usize = 256;

/// Serves the connection `source` (numbered `flow`) until the peer closes it, its bytes
/// cannot be framed, or the driver goes away. Each message is read (parsed) here, off the
/// engine's thread.
pub(crate) async fn serve<S, D>(
    stream: S,
    decoder: D,
    max_message_size: usize,
    source: Peer,
    flow: FlowId,
    inbound: mpsc::Sender<Inbound>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
    D: Decoder<Item = StreamItem>,
    D::Error: Display,
{
    let (read, write) = tokio::io::split(stream);
    let (writer, queue) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    if inbound.send(Inbound::FlowOpened { flow, writer: writer.clone() }).await.is_err() {
        return;
    }
    let writing = tokio::spawn(write_queued(write, queue));
    tracing::debug!(transport = %source.transport, peer = %source.addr, ?flow, "connection opened");
    let mut frames = FramedRead::new(read, decoder);
    while let Some(item) = frames.next().await {
        let event = match item {
            Ok(StreamItem::Message(bytes)) => {
                let message = Received::read(&bytes, max_message_size);
                Inbound::Message { message, source, received: tokio::time::Instant::now() }
            }
            Ok(StreamItem::OversizedHead(head)) => Inbound::OversizedHead { head, source },
            Ok(StreamItem::Ping) => {
                // RFC 5626 §3.5.1: answer a CRLFCRLF ping with a CRLF pong.
                let _ = writer.try_send(Bytes::from_static(b"\r\n"));
                continue;
            }
            Err(e) => {
                tracing::debug!(transport = %source.transport, peer = %source.addr, error = %e, "closing connection");
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
    tracing::debug!(transport = %source.transport, peer = %source.addr, ?flow, "connection closed");
}

/// Writes what is queued until every sender is gone, then closes the write side.
async fn write_queued<W: AsyncWrite + Unpin>(mut write: W, mut queue: mpsc::Receiver<Bytes>) {
    while let Some(bytes) = queue.recv().await {
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use presence_core::Transport;
    use sip_proto::framing::FrameLimits;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::transport::codec::SipCodec;

    const OPTIONS: &[u8] =
        b"OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10:40312;branch=z9hG4bKc1\r\n\
        From: <sip:1001@pbx.example.com>;tag=a\r\nTo: <sip:pbx.example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";
    const ANSWER: &[u8] = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";

    #[tokio::test]
    async fn serves_any_stream_from_flow_opened_to_flow_closed() {
        let (mut phone, ours) = tokio::io::duplex(4096);
        let (inbound, mut driver) = mpsc::channel(8);
        let flow = FlowId(3);
        let source = Peer {
            transport: Transport::Tcp,
            addr: "192.0.2.10:40312".parse().unwrap(),
            flow: Some(flow),
            local: "198.51.100.1:5060".parse().unwrap(),
        };
        let codec = SipCodec::new(FrameLimits { max_head: 1024, max_body: 1024 });
        let serving = tokio::spawn(serve(ours, codec, 1024, source, flow, inbound));

        let Some(Inbound::FlowOpened { flow: opened, writer }) = driver.recv().await else {
            panic!("the connection is registered first");
        };
        assert_eq!(opened, flow);
        phone.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0; 2];
        phone.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\r\n", "a ping is answered on the stream, not handed to the driver");

        phone.write_all(OPTIONS).await.unwrap();
        let Some(Inbound::Message { message, source: from, .. }) = driver.recv().await else {
            panic!("the framed message is handed over");
        };
        let Received::Message(sip_proto::Message::Request(options)) = message else { panic!("read: {message:?}") };
        assert_eq!((options.method, from), (sip_proto::Method::Options, source));
        writer.try_send(Bytes::from_static(ANSWER)).unwrap();
        let mut answer = vec![0; ANSWER.len()];
        phone.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, ANSWER, "what the driver queues is written to the stream");

        drop(phone);
        assert!(matches!(driver.recv().await, Some(Inbound::FlowClosed { flow: closed }) if closed == flow));
        drop(writer);
        serving.await.unwrap();
    }
}
