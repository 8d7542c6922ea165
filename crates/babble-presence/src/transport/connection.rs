//! The task of one stream connection, whatever carries it: it takes a [`MessageReader`]
//! (the framed messages of the connection) and the task that writes what the driver queues,
//! so TCP and TLS (bytes framed by the [`SipCodec`](super::codec::SipCodec)) and WebSocket
//! (one SIP message per WebSocket message) share it and add only their handshake. It
//! registers the connection with the driver as a flow, hands over the messages, and answers
//! keep-alive pings (RFC 5626 §3.5.1). An oversized message is handed over as its head alone
//! (the engine answers 413) and ends the connection, since nothing after it can be framed.
//! These are per-connection tasks, never per-subscription ones.
//!
//! A connection is kept in bounds by [`StreamRules`]: it closes when a message it began
//! (or the first one) is not complete within the head timeout, which ends slowloris-style
//! trickles, and when nothing at all arrives within the idle timeout. Its messages wait for
//! a place in the streams' share of the inbound queue, so a flood over streams slows its own
//! senders (TCP pushes back) instead of leaving no room for datagrams.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use presence_core::{FlowId, Peer, Received};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::codec::{Decoder, FramedRead};

use super::Inbound;
use super::codec::StreamItem;
use crate::counters::{self, ShellCounters};

/// Messages queued for one connection before it counts as backlogged.
const WRITE_QUEUE: usize = 256;

/// How stream connections are kept in bounds.
#[derive(Clone, Debug)]
pub(crate) struct StreamRules {
    /// Largest message read.
    pub(crate) max_message_size: usize,
    /// A connection with nothing received for this long is closed (keep-alives count).
    pub(crate) idle_timeout: Duration,
    /// A connection whose first message, or a message it began, is not complete within
    /// this is closed; it also bounds a TLS or WebSocket handshake.
    pub(crate) head_timeout: Duration,
    /// Places in the inbound queue that stream messages may hold at once: the rest is left
    /// for datagrams, which cannot wait.
    pub(crate) share: Arc<Semaphore>,
    /// Where timeouts are counted.
    pub(crate) counters: Arc<ShellCounters>,
}

/// The reading side of a stream connection: its messages as [`StreamItem`]s.
pub(crate) trait MessageReader: Stream<Item = Result<StreamItem, Self::Error>> + Unpin {
    /// Why the connection's bytes cannot be read further.
    type Error: Display;

    /// Whether part of a message has arrived and waits for the rest (the head timeout
    /// then runs).
    fn holds_partial(&self) -> bool;
}

impl<R: AsyncRead + Unpin, D: Decoder<Item = StreamItem>> MessageReader for FramedRead<R, D>
where
    D::Error: Display,
{
    type Error = D::Error;

    fn holds_partial(&self) -> bool {
        !self.read_buffer().is_empty()
    }
}

/// Serves a byte stream (TCP, or TLS over it) framed by `decoder`; see [`serve`].
pub(crate) async fn serve_bytes<S, D>(
    stream: S,
    decoder: D,
    rules: &StreamRules,
    source: Peer,
    flow: FlowId,
    inbound: mpsc::Sender<Inbound>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
    D: Decoder<Item = StreamItem>,
    D::Error: Display,
{
    let (read, write) = tokio::io::split(stream);
    serve(FramedRead::new(read, decoder), |queue| write_queued(write, queue), rules, source, flow, inbound).await;
}

/// Serves the connection `source` (numbered `flow`) until the peer closes it, its bytes
/// cannot be framed, it times out, or the driver goes away. Each message is read (parsed)
/// here, off the engine's thread. `writing` is the task that writes what the driver queues
/// for the connection; it is spawned, and ends once every sender of its queue is gone.
pub(crate) async fn serve<R, W, F>(
    mut frames: R,
    writing: W,
    rules: &StreamRules,
    source: Peer,
    flow: FlowId,
    inbound: mpsc::Sender<Inbound>,
) where
    R: MessageReader,
    W: FnOnce(mpsc::Receiver<Bytes>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (writer, queue) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    if inbound.send(Inbound::FlowOpened { flow, writer: writer.clone() }).await.is_err() {
        return;
    }
    let writing = tokio::spawn(writing(queue));
    tracing::debug!(transport = %source.transport, peer = %source.addr, ?flow, "connection opened");
    // Before the first message, the head timeout runs from the connection's opening.
    let (opened, mut last_item, mut partial_since) = (Instant::now(), None::<Instant>, None::<Instant>);
    loop {
        let deadline = match (partial_since, last_item) {
            (Some(since), _) => since + rules.head_timeout,
            (None, None) => opened + rules.head_timeout,
            (None, Some(at)) => at + rules.idle_timeout,
        };
        // Wake by the deadline, and at least every head timeout to see whether a message
        // has begun arriving (its bytes wait in the read buffer until it is whole).
        let wake = deadline.min(Instant::now() + rules.head_timeout);
        let item = match tokio::time::timeout_at(wake, frames.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(_) if Instant::now() >= deadline => {
                counters::add(&rules.counters.stream_timeouts, 1);
                let why = if last_item.is_some() && partial_since.is_none() { "idle" } else { "message too slow" };
                tracing::debug!(transport = %source.transport, peer = %source.addr, why, "closing connection");
                break;
            }
            Err(_) => {
                if partial_since.is_none() && frames.holds_partial() {
                    partial_since = Some(Instant::now());
                }
                continue;
            }
        };
        let now = Instant::now();
        last_item = Some(now);
        partial_since = frames.holds_partial().then_some(now);
        let event = match item {
            Ok(StreamItem::Message(bytes)) => {
                let message = Received::read(&bytes, rules.max_message_size);
                let Ok(held) = rules.share.clone().acquire_owned().await else { break };
                Inbound::Message { message, source, received: tokio::time::Instant::now(), held: Some(held) }
            }
            Ok(StreamItem::OversizedHead(head)) => Inbound::OversizedHead { head, source },
            Ok(StreamItem::Ping) => {
                // RFC 5626 §3.5.1: answer a CRLFCRLF ping with a CRLF pong.
                let _ = writer.try_send(Bytes::from_static(b"\r\n"));
                continue;
            }
            // A keep-alive its transport answered itself (a WebSocket ping or pong).
            Ok(StreamItem::Alive) => continue,
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

    fn rules(idle_timeout: Duration, head_timeout: Duration) -> StreamRules {
        StreamRules {
            max_message_size: 1024,
            idle_timeout,
            head_timeout,
            share: Arc::new(Semaphore::new(8)),
            counters: Arc::new(ShellCounters::default()),
        }
    }

    fn tcp_source(flow: FlowId) -> Peer {
        Peer {
            transport: Transport::Tcp,
            addr: "192.0.2.10:40312".parse().unwrap(),
            flow: Some(flow),
            local: "198.51.100.1:5060".parse().unwrap(),
        }
    }

    /// Serves a duplex stream under `rules` and returns the phone's end, the driver's
    /// queue and the task.
    fn serving(rules: StreamRules) -> (tokio::io::DuplexStream, mpsc::Receiver<Inbound>, tokio::task::JoinHandle<()>) {
        let (phone, ours) = tokio::io::duplex(4096);
        let (inbound, driver) = mpsc::channel(8);
        let codec = SipCodec::new(FrameLimits { max_head: 1024, max_body: 1024 });
        let task =
            tokio::spawn(
                async move { serve_bytes(ours, codec, &rules, tcp_source(FlowId(4)), FlowId(4), inbound).await },
            );
        (phone, driver, task)
    }

    /// Waits for the connection's `FlowClosed`, skipping messages, and says how long after
    /// `since` it came.
    async fn closed_after(driver: &mut mpsc::Receiver<Inbound>, since: Instant) -> Duration {
        while let Some(event) = driver.recv().await {
            if let Inbound::FlowClosed { .. } = event {
                return since.elapsed();
            }
        }
        panic!("the driver's queue closed first");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_says_nothing_or_trickles_a_head_is_closed() {
        let rules = rules(Duration::from_secs(600), Duration::from_secs(10));
        let counters = rules.counters.clone();
        let (_phone, mut driver, task) = serving(rules.clone());
        let start = Instant::now();
        let took = closed_after(&mut driver, start).await;
        assert!(took >= Duration::from_secs(10) && took < Duration::from_secs(11), "silent: closed after {took:?}");
        task.await.unwrap();

        // Slowloris: a byte every second, never a whole head.
        let (mut phone, mut driver, task) = serving(rules);
        tokio::spawn(async move {
            for byte in OPTIONS.iter().take(200) {
                if phone.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let took = closed_after(&mut driver, Instant::now()).await;
        assert!(took <= Duration::from_secs(20), "a trickled head: closed after {took:?}");
        task.await.unwrap();
        assert_eq!(counters::read(&counters.stream_timeouts), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_lives_while_it_sends_keep_alives_and_closes_when_they_stop() {
        let (mut phone, mut driver, task) = serving(rules(Duration::from_secs(120), Duration::from_secs(10)));
        phone.write_all(OPTIONS).await.unwrap();
        let mut pong = [0; 2];
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(100)).await;
            phone.write_all(b"\r\n\r\n").await.unwrap();
            phone.read_exact(&mut pong).await.unwrap();
        }
        let stopped = Instant::now();
        let took = closed_after(&mut driver, stopped).await;
        assert!(
            took >= Duration::from_secs(119) && took <= Duration::from_secs(121),
            "closed {took:?} after the last ping"
        );
        task.await.unwrap();
    }

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
        let rules = rules(Duration::from_secs(60), Duration::from_secs(10));
        let serving = tokio::spawn(async move { serve_bytes(ours, codec, &rules, source, flow, inbound).await });

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
