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
    /// TLS over TCP (RFC 3261 §26.2).
    Tls,
    /// SIP over WebSocket (RFC 7118).
    Ws,
    /// SIP over secure WebSocket (RFC 7118).
    Wss,
}

impl Transport {
    /// Whether the transport delivers reliably (RFC 3261 §17: no retransmissions, timers
    /// J and K are zero).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token used in Via (`UDP`, `TCP`, `TLS`; RFC 7118 §5.2 `WS`, `WSS`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// The transport named as in a `transport` URI parameter or in the stored form.
    pub fn from_name(name: &str) -> Option<Transport> {
        Some(match name.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            "ws" => Transport::Ws,
            "wss" => Transport::Wss,
            _ => return None,
        })
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
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

    /// Our Contact towards this peer, `<sip:[user@]our_host:port[;transport=…]>`, naming
    /// the transport unless it is UDP, the default (RFC 3261 §19.1.1; RFC 7118 §5.2 for
    /// `ws` and `wss`). Requests the peer sends us within a dialog reuse its connection.
    pub(crate) fn contact(&self, user: Option<&str>, our_host: &str) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        let transport = match self.transport {
            Transport::Udp => String::new(),
            other => format!(";transport={other}"),
        };
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
