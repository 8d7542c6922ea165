//! The flows the driver sends on (UDP sockets and stream connections, by [`FlowId`]) and
//! their numbering. Sending never waits: a full UDP socket buffer loses the datagram, which
//! the transaction layer's retransmissions cover (RFC 3261 §17), and a full connection
//! queue is reported as a backlog.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use presence_core::{FlowId, Peer, Transmit, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Numbers flows (UDP sockets and TCP connections) uniquely for the process's life.
#[derive(Debug, Default)]
pub(crate) struct FlowIds(AtomicU64);

impl FlowIds {
    pub(crate) fn next(&self) -> FlowId {
        FlowId(self.0.fetch_add(1, Ordering::Relaxed))
    }
}

/// The sockets and connections the driver can send on. UDP sockets are flows too: a
/// response leaves from the socket its request arrived on, which NATed phones require.
#[derive(Debug, Default)]
pub(crate) struct Flows {
    udp: HashMap<FlowId, Arc<UdpSocket>>,
    streams: HashMap<FlowId, mpsc::Sender<Bytes>>,
}

/// Why a transmit could not be carried out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// The connection or socket the message must use is gone.
    #[error("flow {0:?} is closed")]
    FlowGone(Option<FlowId>),
    /// The connection's write queue is full (a slow or stuck peer).
    #[error("flow {0:?} is not keeping up")]
    Backlogged(FlowId),
}

impl Flows {
    pub(crate) fn add_udp(&mut self, flow: FlowId, socket: Arc<UdpSocket>) {
        self.udp.insert(flow, socket);
    }

    pub(crate) fn add_stream(&mut self, flow: FlowId, writer: mpsc::Sender<Bytes>) {
        self.streams.insert(flow, writer);
    }

    pub(crate) fn remove_stream(&mut self, flow: FlowId) {
        self.streams.remove(&flow);
    }

    /// Sends without waiting: UDP with `try_send_to` (a full socket buffer drops the
    /// datagram, which retransmission covers), streams by queueing to their writer.
    pub(crate) fn send(&self, transmit: &Transmit) -> Result<(), SendError> {
        let Peer { transport, addr, flow, .. } = transmit.destination;
        match transport {
            Transport::Udp => {
                let socket = flow.and_then(|f| self.udp.get(&f)).ok_or(SendError::FlowGone(flow))?;
                // A would-block or unreachable error is a lost datagram, as on the wire.
                if let Err(e) = socket.try_send_to(&transmit.payload, addr) {
                    tracing::debug!(%addr, error = %e, "udp send failed");
                }
                Ok(())
            }
            _ => {
                let (id, writer) =
                    flow.and_then(|f| self.streams.get(&f).map(|w| (f, w))).ok_or(SendError::FlowGone(flow))?;
                writer.try_send(transmit.payload.clone()).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => SendError::Backlogged(id),
                    mpsc::error::TrySendError::Closed(_) => SendError::FlowGone(Some(id)),
                })
            }
        }
    }
}
