//! UDP: one receive loop per socket, no framing (one datagram is one message, RFC 3261
//! §18.1.1). Inbound datagrams are read here and handed over without waiting: when the
//! driver falls behind, requests that would start new work are shed once the queue is three
//! quarters full, and anything is dropped once it is full, counted either way, as a full
//! socket buffer would drop them, instead of stalling the socket. Before that, a source
//! sending requests at more than twice its rate is shed unread ([`FloodGate`]), so one
//! flooding address cannot fill the queue for everyone.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use presence_core::{FloodGate, FlowId, Peer, Received, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::Inbound;
use crate::counters::{self, ShellCounters};

/// A UDP socket bound to `addr` whose receive and send buffers were asked to hold `buffer`
/// bytes, so a burst waits in the kernel instead of being dropped; with the sizes the
/// kernel granted (it caps them at `net.core.rmem_max` / `wmem_max`).
pub(crate) fn bind(addr: SocketAddr, buffer: usize) -> std::io::Result<(UdpSocket, usize, usize)> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
    socket.set_recv_buffer_size(buffer)?;
    socket.set_send_buffer_size(buffer)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let granted = (socket.recv_buffer_size()?, socket.send_buffer_size()?);
    Ok((UdpSocket::from_std(socket.into())?, granted.0, granted.1))
}

/// Receives until the socket fails or the driver goes away.
pub(crate) async fn receive_loop(
    socket: Arc<UdpSocket>,
    flow: FlowId,
    inbound: mpsc::Sender<Inbound>,
    max_message_size: usize,
    mut gate: FloodGate,
    counters: Arc<ShellCounters>,
) {
    // One byte more than allowed, so an oversized datagram is seen as such (the kernel
    // truncates to the buffer) and the engine counts it.
    let capacity = max_message_size + 1;
    let Ok(local) = socket.local_addr() else { return };
    let mut buf = BytesMut::with_capacity(capacity);
    loop {
        buf.clear();
        buf.reserve(capacity);
        let (len, addr) = match socket.recv_buf_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP port-unreachable from an earlier send surfaces here on some systems.
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let received = tokio::time::Instant::now();
        // Responses finish our own work: only requests meet the gate.
        let is_response = buf[..len].starts_with(b"SIP/");
        if !is_response && !gate.admit(addr.ip(), received.into_std()) {
            counters::add(&counters.udp_flood_drops, 1);
            continue;
        }
        // Read here, on this socket's task, so the engine's thread only runs the protocol;
        // what waits in the queue holds no copy of the receive buffer.
        let message = Received::read(&buf[..len], max_message_size);
        let source = Peer { transport: Transport::Udp, addr, flow: Some(flow), local };
        // The queue's room first: telling new work apart reads the To header.
        if inbound.capacity() < inbound.max_capacity() / 4 && message.starts_work() {
            // The last quarter of the queue is kept for what finishes work already begun
            // (responses, in-dialog requests): under a burst, new work is shed first, here,
            // before it waits; its sender retransmits.
            counters::add(&counters.udp_requests_shed, 1);
            continue;
        }
        match inbound.try_send(Inbound::Message { message, source, received, held: None }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters::add(&counters.udp_queue_drops, 1);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn options(to_tag: &str) -> String {
        format!(
            "OPTIONS sip:1001@pbx.example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{to_tag}x\r\n\
             From: <sip:1002@pbx.example.com>;tag=f\r\n\
             To: <sip:1001@pbx.example.com>{to_tag}\r\n\
             Call-ID: c{to_tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    }

    /// With the queue over three quarters full, a request outside any dialog is shed at once and
    /// counted, and an in-dialog one still queues.
    #[tokio::test]
    async fn new_work_is_shed_before_the_queue_fills() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (inbound, mut queue) = mpsc::channel(8);
        for _ in 0..7 {
            inbound.try_send(Inbound::FlowClosed { flow: FlowId(9) }).unwrap();
        }
        let counters = Arc::new(ShellCounters::default());
        let receiving = tokio::spawn(receive_loop(
            socket.clone(),
            FlowId(1),
            inbound,
            4096,
            FloodGate::new(&presence_core::Limits::default()),
            counters.clone(),
        ));
        let server = socket.local_addr().unwrap();
        phone.send_to(options("").as_bytes(), server).await.unwrap();
        phone.send_to(options(";tag=ours").as_bytes(), server).await.unwrap();
        // Until the receive loop has taken both datagrams: one shed, one queued.
        tokio::time::timeout(Duration::from_secs(5), async {
            while queue.len() < 8 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap();
        for _ in 0..7 {
            queue.recv().await.unwrap();
        }
        let Some(Inbound::Message { message, .. }) =
            tokio::time::timeout(Duration::from_secs(5), queue.recv()).await.unwrap()
        else {
            panic!("the in-dialog request is queued")
        };
        assert!(!message.starts_work());
        assert_eq!(counters::read(&counters.udp_requests_shed), 1, "the request outside a dialog was shed");
        receiving.abort();
    }

    /// A source over twice its request rate is shed unread; responses always pass.
    #[tokio::test]
    async fn a_flooding_source_is_shed_before_it_is_read() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (inbound, queue) = mpsc::channel(64);
        let counters = Arc::new(ShellCounters::default());
        let tight = presence_core::Limits {
            requests: presence_core::Rate { per_second: 1, burst: 1 },
            ..presence_core::Limits::default()
        };
        let gate = FloodGate::new(&tight);
        let receiving = tokio::spawn(receive_loop(socket.clone(), FlowId(1), inbound, 4096, gate, counters.clone()));
        let server = socket.local_addr().unwrap();
        for n in 0..10 {
            phone.send_to(options(&format!(";n={n}")).as_bytes(), server).await.unwrap();
        }
        phone.send_to(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", server).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while counters::read(&counters.udp_flood_drops) + (queue.len() as u64) < 11 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(queue.len(), 3, "twice the burst of requests, and the response");
        assert_eq!(counters::read(&counters.udp_flood_drops), 8);
        receiving.abort();
    }
}
