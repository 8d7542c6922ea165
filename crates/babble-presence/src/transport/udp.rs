//! UDP: one receive loop per socket, no framing (one datagram is one message, RFC 3261
//! §18.1.1). Inbound datagrams are handed over without waiting: when the driver falls
//! behind, datagrams are dropped and counted, as a full socket buffer would, instead of
//! stalling the socket.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use presence_core::{FlowId, Peer, Received, Transport};
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
        // Read here, on this socket's task, so the engine's thread only runs the protocol;
        // what waits in the queue holds no copy of the receive buffer.
        let message = Received::read(&buf[..len], max_message_size);
        let source = Peer { transport: Transport::Udp, addr, flow: Some(flow), local };
        match inbound.try_send(Inbound::Message { message, source, received }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters::add(&counters.udp_queue_drops, 1);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
