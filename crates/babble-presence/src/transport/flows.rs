//! The flows the driver sends on (UDP sockets and stream connections, by [`FlowId`]) and
//! their numbering. Sending never waits. A datagram the UDP socket cannot take now (its send
//! buffer is full) waits in the socket's bounded send queue, which a task of the socket's
//! drains as it becomes writable, so our responses and NOTIFYs are not lost to a burst; only
//! a full queue drops, and that is reported as a backlog. A full connection queue is one too.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use presence_core::{FlowId, Peer, Transmit, Transport};

use crate::counters::{self, ShellCounters};
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
#[derive(Debug)]
pub(crate) struct Flows {
    udp: HashMap<FlowId, UdpFlow>,
    streams: HashMap<FlowId, mpsc::Sender<Bytes>>,
    counters: Arc<ShellCounters>,
}

/// A datagram the socket refused (other than for a full buffer): counted, and logged at
/// warn, because what does not leave here never reaches the phone (a NOTIFY too large for
/// a datagram would end its subscription after its timeouts).
fn refused(counters: &ShellCounters, addr: SocketAddr, size: usize, error: &std::io::Error) {
    counters::add(&counters.udp_send_failures, 1);
    tracing::warn!(%addr, size, %error, "udp send refused");
}

/// Datagrams one UDP socket may hold back while its send buffer is full.
const UDP_SEND_QUEUE: usize = 16_384;

/// A UDP socket and the queue of what it could not send at once.
#[derive(Debug)]
struct UdpFlow {
    socket: Arc<UdpSocket>,
    queue: mpsc::Sender<(Bytes, SocketAddr)>,
    /// Datagrams in the queue: while any wait, new ones queue behind them, so a peer gets
    /// them in the order they were sent.
    queued: Arc<AtomicUsize>,
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
    /// No flows yet; what they fail to send is counted in `counters`.
    pub(crate) fn new(counters: Arc<ShellCounters>) -> Self {
        Flows { udp: HashMap::new(), streams: HashMap::new(), counters }
    }

    /// Adds a UDP socket, with the task that sends what it queues (it ends with the flows);
    /// datagrams the socket refuses are counted in `counters`.
    pub(crate) fn add_udp(&mut self, flow: FlowId, socket: Arc<UdpSocket>, counters: Arc<ShellCounters>) {
        let (queue, mut waiting) = mpsc::channel::<(Bytes, SocketAddr)>(UDP_SEND_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let (sender, count) = (socket.clone(), queued.clone());
        tokio::spawn(async move {
            while let Some((payload, addr)) = waiting.recv().await {
                // Waits until the socket is writable; any other error is a lost datagram.
                if let Err(e) = sender.send_to(&payload, addr).await {
                    refused(&counters, addr, payload.len(), &e);
                }
                count.fetch_sub(1, Ordering::Relaxed);
            }
        });
        self.udp.insert(flow, UdpFlow { socket, queue, queued });
    }

    pub(crate) fn add_stream(&mut self, flow: FlowId, writer: mpsc::Sender<Bytes>) {
        self.streams.insert(flow, writer);
    }

    pub(crate) fn remove_stream(&mut self, flow: FlowId) {
        self.streams.remove(&flow);
    }

    /// Sends without waiting: UDP with `try_send_to`, or behind the datagrams already
    /// queued for the socket; streams by queueing to their writer.
    pub(crate) fn send(&self, transmit: &Transmit) -> Result<(), SendError> {
        let Peer { transport, addr, flow, .. } = transmit.destination;
        match transport {
            Transport::Udp => {
                let (id, udp) = flow.and_then(|f| self.udp.get(&f).map(|u| (f, u))).ok_or(SendError::FlowGone(flow))?;
                if udp.queued.load(Ordering::Relaxed) == 0 {
                    match udp.socket.try_send_to(&transmit.payload, addr) {
                        Ok(_) => return Ok(()),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        // Too large, unreachable and the like: a lost datagram, as on the wire.
                        Err(e) => {
                            refused(&self.counters, addr, transmit.payload.len(), &e);
                            return Ok(());
                        }
                    }
                }
                udp.queued.fetch_add(1, Ordering::Relaxed);
                udp.queue.try_send((transmit.payload.clone(), addr)).map_err(|_| {
                    udp.queued.fetch_sub(1, Ordering::Relaxed);
                    SendError::Backlogged(id)
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// With a send buffer far smaller than a burst, `try_send_to` would refuse most of it;
    /// the queue sends every datagram, in order.
    #[tokio::test]
    async fn a_burst_larger_than_the_socket_buffer_arrives_whole_and_in_order() {
        const BURST: usize = 2_000;
        let small = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        small.set_send_buffer_size(4096).unwrap();
        small.set_nonblocking(true).unwrap();
        small.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
        let socket = Arc::new(UdpSocket::from_std(small.into()).unwrap());
        let (receiver, _, _) = crate::transport::udp::bind("127.0.0.1:0".parse().unwrap(), 8 << 20).unwrap();
        let to = receiver.local_addr().unwrap();
        let counters = Arc::new(ShellCounters::default());
        let mut flows = Flows::new(counters.clone());
        flows.add_udp(FlowId(1), socket.clone(), counters);
        let destination =
            Peer { transport: Transport::Udp, addr: to, flow: Some(FlowId(1)), local: socket.local_addr().unwrap() };
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0; 2048];
            while got.len() < BURST {
                let wait = tokio::time::timeout(std::time::Duration::from_secs(10), receiver.recv(&mut buf));
                let Ok(Ok(_)) = wait.await else { break };
                got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            }
            got
        });
        for n in 0..BURST as u32 {
            let mut payload = n.to_be_bytes().to_vec();
            payload.resize(1000, 0);
            flows.send(&Transmit { destination, payload: payload.into() }).unwrap();
        }
        let got = reading.await.unwrap();
        assert_eq!(got.len(), BURST, "every datagram arrived");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in the order sent");
    }

    /// A datagram larger than UDP can carry is refused by the socket: counted, not lost
    /// without trace.
    #[tokio::test]
    async fn a_datagram_too_large_to_send_is_counted() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let counters = Arc::new(ShellCounters::default());
        let mut flows = Flows::new(counters.clone());
        flows.add_udp(FlowId(1), socket.clone(), counters.clone());
        let destination = Peer {
            transport: Transport::Udp,
            addr: socket.local_addr().unwrap(),
            flow: Some(FlowId(1)),
            local: socket.local_addr().unwrap(),
        };
        flows.send(&Transmit { destination, payload: vec![b'x'; 70_000].into() }).unwrap();
        // Refused at once, or by the send task if the socket was not yet known writable.
        for _ in 0..100 {
            if counters::read(&counters.udp_send_failures) > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(counters::read(&counters.udp_send_failures), 1);
    }
}
