//! Addressing and stamping responses: where a response goes (RFC 3261 §18.2.2 with
//! RFC 3581 `rport`) and the `received`/`rport` parameters added to the top Via.
//!
//! We only ever answer to the address the request came from (or its connection), never to
//! a `maddr` or a sent-by host named in the message: an attacker must not be able to aim
//! our responses at a third party.

use std::net::IpAddr;

use sip_proto::header::Via;
use sip_proto::uri::Host;
use sip_proto::{HeaderName, Headers};

use crate::peer::Peer;

/// The default SIP port (RFC 3261 §19.1.2).
const DEFAULT_PORT: u16 = 5060;

/// Where a response to a request with these headers, received from `source`, is sent.
/// `None` when there is no readable top Via.
pub(crate) fn response_destination(request: &Headers, source: Peer) -> Option<Peer> {
    Some(destination_of(&request.top_via().ok()?, source))
}

/// Where a response goes whose top Via is `via`: the source's address, and over UDP without
/// `rport` the port the Via names.
fn destination_of(via: &Via, source: Peer) -> Peer {
    let mut destination = source;
    if !source.transport.is_reliable() && !via.wants_rport() {
        destination.addr.set_port(via.port.unwrap_or(DEFAULT_PORT));
    }
    destination
}

/// Adds `received` and `rport` to the top Via of a response (RFC 3261 §18.2.1, RFC 3581
/// §4) and returns where to send it.
pub(crate) fn stamp_via(response: &mut Headers, source: Peer) -> Option<Peer> {
    let mut via: Via = response.top_via().ok()?;
    let destination = destination_of(&via, source);
    let source_ip = source.addr.ip();
    // RFC 3581 §4: with rport, `received` is added even when it equals the sent-by host.
    if via.wants_rport() || !host_is(&via.host, source_ip) {
        via.params.set("received", Some(&source_ip.to_string()));
    }
    if via.wants_rport() {
        via.params.set("rport", Some(&source.addr.port().to_string()));
    }
    response.replace_first(&HeaderName::Via, via.to_string());
    Some(destination)
}

fn host_is(host: &Host, ip: IpAddr) -> bool {
    match (host, ip) {
        (Host::V4(a), IpAddr::V4(b)) => *a == b,
        (Host::V6(a), IpAddr::V6(b)) => *a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::{FlowId, Transport};

    fn headers(via: &str) -> Headers {
        let mut h = Headers::new();
        h.push(HeaderName::Via, via);
        h.push(HeaderName::Via, "SIP/2.0/UDP proxy;branch=z9hG4bK0");
        h
    }

    const LOCAL: &str = "198.51.100.1:5060";

    fn udp(addr: &str) -> Peer {
        Peer { transport: Transport::Udp, addr: addr.parse().unwrap(), flow: None, local: LOCAL.parse().unwrap() }
    }

    #[test]
    fn rport_answers_to_source_port() {
        let mut h = headers("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1;rport");
        let to = stamp_via(&mut h, udp("203.0.113.7:40000")).unwrap();
        assert_eq!(to.addr, "203.0.113.7:40000".parse().unwrap());
        let top = h.top_via().unwrap();
        assert_eq!(top.params.get("received"), Some("203.0.113.7"));
        assert_eq!(top.params.get("rport"), Some("40000"));
        assert_eq!(h.get_all(&HeaderName::Via).count(), 2);
    }

    #[test]
    fn without_rport_answers_to_source_ip_and_sent_by_port() {
        let mut h = headers("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1");
        let to = stamp_via(&mut h, udp("203.0.113.7:40000")).unwrap();
        assert_eq!(to.addr, "203.0.113.7:5062".parse().unwrap());
        assert_eq!(h.top_via().unwrap().params.get("received"), Some("203.0.113.7"));

        let mut same = headers("SIP/2.0/UDP 203.0.113.7;branch=z9hG4bK1;maddr=198.51.100.1");
        let to = stamp_via(&mut same, udp("203.0.113.7:40000")).unwrap();
        assert_eq!(to.addr, "203.0.113.7:5060".parse().unwrap(), "maddr is never used");
        assert!(!same.top_via().unwrap().params.contains("received"));
    }

    #[test]
    fn streams_answer_on_the_connection() {
        let mut h = headers("SIP/2.0/TCP 10.0.0.5:5062;branch=z9hG4bK1");
        let src = Peer {
            transport: Transport::Tcp,
            addr: "203.0.113.7:40000".parse().unwrap(),
            flow: Some(FlowId(3)),
            local: LOCAL.parse().unwrap(),
        };
        assert_eq!(stamp_via(&mut h, src), Some(src));
    }
}
