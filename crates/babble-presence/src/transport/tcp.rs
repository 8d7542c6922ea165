//! TCP: an accept loop capped by a semaphore, and per connection a reader that frames the
//! byte stream with the [`SipCodec`] and a writer fed by a bounded queue. These are
//! per-connection tasks, never per-subscription ones.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use presence_core::{FlowId, Peer, Transport};
use sip_proto::framing::FrameLimits;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::FramedRead;

use super::codec::{SipCodec, StreamItem};
use super::{FlowIds, Inbound};

/// Messages queued for one connection before it counts as backlogged.
const WRITE_QUEUE: usize = 256;

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
    let mut frames = FramedRead::new(read, SipCodec::new(limits));
    while let Some(item) = frames.next().await {
        let event = match item {
            Ok(StreamItem::Message(bytes)) => Inbound::Message { bytes, source },
            Ok(StreamItem::OversizedHead(head)) => Inbound::OversizedHead { head, source },
            Ok(StreamItem::Ping) => {
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
