//! Where a message came from and where one goes: transport kind, address and, for stream
//! transports, the connection (flow) it travels on, so requests and responses to a party
//! reached over TCP reuse its connection (RFC 3261 §18.2.2, RFC 5626).

use std::fmt;
use std::net::SocketAddr;

/// A transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP (unreliable: transactions retransmit).
    Udp,
    /// TCP.
    Tcp,
}

impl Transport {
    /// Whether the transport delivers reliably (RFC 3261 §17: no retransmissions, timers
    /// J and K are zero).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token used in Via (`UDP`, `TCP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// A connection, numbered by the shell that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// The far end of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The transport.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// For streams the connection; for UDP the local socket the datagram arrived on (a
    /// reply leaves from that socket, as NATed phones require).
    pub flow: Option<FlowId>,
    /// Our address on that socket or connection (may be unspecified, `0.0.0.0`, for a
    /// wildcard UDP socket).
    pub local: SocketAddr,
}

impl Peer {
    /// Our Via for a request we send this peer from `our_host` (RFC 3261 §8.1.1.7), asking
    /// for `rport` (RFC 3581) so the answer finds its way back through NATs.
    pub(crate) fn via(&self, our_host: &str, branch: &str) -> String {
        format!("SIP/2.0/{} {our_host}:{};branch={branch};rport", self.transport.via_token(), self.local.port())
    }

    /// Our local IP as URI host text (IPv6 in brackets), for Via, Contact and From.
    pub(crate) fn local_host(&self) -> String {
        match self.local.ip() {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        }
    }

    /// Our Contact towards this peer, `<sip:[user@]our_host:port[;transport=tcp]>`.
    pub(crate) fn contact(&self, user: Option<&str>, our_host: &str) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        let transport = if self.transport == Transport::Tcp { ";transport=tcp" } else { "" };
        format!("<sip:{user}{our_host}:{}{transport}>", self.local.port())
    }
}

/// Bytes to send, produced by the engine for the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send: over `destination.flow` if it is still open, else to its address.
    pub destination: Peer,
    /// The encoded message.
    pub payload: bytes::Bytes,
}
