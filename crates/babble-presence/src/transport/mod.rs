//! The network shell: one module per transport turns sockets into [`Inbound`] events for
//! the driver, and [`Flows`] is the table the driver writes [`presence_core::Transmit`]s to.
//! `udp` owns its sockets and `listener` the accept loops of the stream transports (TCP,
//! TLS, WS, WSS), which share the `connection` task: TCP and TLS frame bytes with the
//! `codec`, WebSocket carries a message per message (`ws`), and `tls` holds the certificate.

mod codec;
mod connection;
mod flows;
pub(crate) mod listener;
pub(crate) mod tls;
pub(crate) mod udp;
pub(crate) mod ws;

pub(crate) use connection::StreamRules;
pub(crate) use flows::{FlowIds, Flows, SendError};

use bytes::Bytes;
use presence_core::{FlowId, Peer};
use tokio::sync::mpsc;

/// What the network hands the driver.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A datagram or a framed stream message, read where it arrived, and when it was read
    /// off the socket. A stream message holds a place in the streams' share of the queue
    /// (see [`connection::StreamRules::share`]) until the driver has taken it.
    Message {
        message: presence_core::Received,
        source: Peer,
        received: tokio::time::Instant,
        held: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    /// A stream message whose body is over the limit: only its head. The connection closes.
    OversizedHead { head: Bytes, source: Peer },
    /// A stream connection opened; its writer takes bytes to send.
    FlowOpened { flow: FlowId, writer: mpsc::Sender<Bytes> },
    /// A stream connection closed.
    FlowClosed { flow: FlowId },
    /// An `.out` event from the library API, and whom to tell once it is applied (and, with
    /// durable acknowledgement, stored).
    Command { command: presence_core::api::Command, applied: tokio::sync::oneshot::Sender<()> },
    /// Work to do on the engine (a look-up, or an action such as ending a subscription);
    /// the closure sends its own answer.
    Call(EngineCall),
}

/// Work on the engine, given the current time.
type EngineWork = dyn FnOnce(&mut presence_core::Engine, std::time::Instant) + Send;

/// A closure run on the engine by the driver.
pub(crate) struct EngineCall(pub(crate) Box<EngineWork>);

impl std::fmt::Debug for EngineCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineCall")
    }
}
