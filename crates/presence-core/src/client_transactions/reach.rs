//! Which destinations have shown that they receive what we send, and how much we send to the
//! others. A UDP source address can be forged, so a SUBSCRIBE or REGISTER "from" a victim
//! would make us send NOTIFYs, SUBSCRIBEs and their retransmissions to the victim: an
//! amplifier. As QUIC bounds a server before it has validated an address (RFC 9000 §8.1),
//! the requests we send to an address that has never answered draw on a byte budget per IP
//! address; a send over it is held back like a lost datagram, and Timer E retries it once
//! the budget has refilled. An address is proven once it answers one of our requests, or
//! sends credentials answering our challenge (it received the nonce); stream peers and
//! trusted networks are proven by their handshake and by configuration.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::admission::{Bucket, Limits};
use crate::peer::Peer;
use crate::tables::Bounded;

/// The proven addresses and the budgets toward the rest.
#[derive(Debug, Default)]
pub(crate) struct Reach {
    proven: Bounded<SocketAddr, ()>,
    budgets: Bounded<IpAddr, Bucket>,
}

impl Reach {
    /// `addr` has shown it receives what we send.
    pub(crate) fn prove(&mut self, addr: SocketAddr, limits: &Limits) {
        self.proven.entry(addr, limits.max_sources, || ());
    }

    /// Whether `bytes` may go to `destination` now; if not, they are held back.
    pub(crate) fn may_send(&mut self, destination: Peer, bytes: usize, limits: &Limits, now: Instant) -> bool {
        if destination.transport.is_reliable()
            || self.proven.contains(&destination.addr)
            || limits.trusts(destination.addr.ip())
        {
            return true;
        }
        let rate = limits.unproven_bytes;
        self.budgets.entry(destination.addr.ip(), limits.max_sources, || Bucket::full(rate, now)).take(bytes, rate, now)
    }
}
