//! The registrar's flows (RFC 5626 §6) and Path (RFC 3327) on a virtual clock: a phone that
//! names its binding by `+sip.instance` and `reg-id` replaces it when it registers again
//! over a new connection, and our subscription to it follows; `Require: outbound` when the
//! flow is ours; 439 when the first hop cannot keep it; Path becomes the Route of what we
//! send the phone, and is echoed to a phone that supports it.

use presence_core::api::{Command, VoicemailReason};
use presence_core::bodies::mwi::MessageCounts;
use presence_core::{FlowId, Peer};
use sip_proto::{HeaderName, Method};

use crate::support::*;
use crate::watching::ALLOW;

const AOR: &str = "1001@pbx.example.com";
const INSTANCE: &str = r#"+sip.instance="<urn:uuid:0c8e6c4e-8d2a-4bb2-a1a6-3f1f0a3c7d11>""#;

/// A browser's Contact: a random user at an `.invalid` host, as JsSIP and SIP.js send.
fn browser_contact(user: &str) -> String {
    format!("<sip:{user}@df7jal23ls0d.invalid;transport=tcp>;reg-id=1;{INSTANCE}")
}

/// A connection of the phone's: TCP from `port`, flow `flow`.
fn connection(port: u16, flow: u64) -> Peer {
    Peer { addr: format!("192.0.2.10:{port}").parse().unwrap(), flow: Some(FlowId(flow)), ..tcp_peer() }
}

#[test]
fn a_flow_registered_again_over_a_new_connection_replaces_its_binding_and_the_watch_follows() {
    let mut h = Harness::new();
    let first = connection(40312, 9);
    let extra = format!("Supported: path, outbound\r\n{ALLOW}");
    let sent = h.send(&register(AOR, "js1", 1, &[&browser_contact("a1")], &extra), first, 0.0);
    let (responses, requests) = split(&sent);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].headers.get(&HeaderName::Require), Some("outbound"), "RFC 5626 §6: the flow is ours");
    let subscribe = requests.iter().find(|r| r.method == Method::Subscribe).expect("a SUBSCRIBE to the phone");
    let to_first = sent.iter().find(|t| t.payload.starts_with(b"SUBSCRIBE")).unwrap();
    assert_eq!(to_first.destination, first, "over the connection it registered on");
    assert_eq!(subscribe.uri.to_string(), "sip:a1@df7jal23ls0d.invalid;transport=tcp");

    // The connection dies before the phone answers; our SUBSCRIBE times out (64*T1) and
    // the watch ends.
    h.engine.handle_flow_closed(FlowId(9), h.at(1.0));
    h.engine.handle_timeout(h.at(33.0));
    h.drain();
    assert_eq!(h.engine.watch_count(), 0);

    // The phone reconnects and registers again: another port, another Contact user, the
    // same instance and reg-id. One binding, on the new connection, and a new SUBSCRIBE there.
    let second = connection(40999, 10);
    let sent = h.send(&register(AOR, "js2", 1, &[&browser_contact("b2")], &extra), second, 40.0);
    let (responses, _) = split(&sent);
    assert_eq!(responses[0].status, 200);
    let listed: Vec<_> = responses[0].headers.get_all(&HeaderName::Contact).collect();
    assert_eq!(listed.len(), 1, "the new flow replaced the old binding: {listed:?}");
    assert!(listed[0].contains("sip:b2@df7jal23ls0d.invalid"), "{listed:?}");
    assert_eq!(h.engine.binding_count(), 1);
    let again = sent.iter().find(|t| t.payload.starts_with(b"SUBSCRIBE")).expect("subscribed to again");
    assert_eq!(again.destination, second);
    assert!(again.payload.starts_with(b"SUBSCRIBE sip:b2@df7jal23ls0d.invalid"));
}

#[test]
fn without_supported_outbound_the_instance_still_names_the_binding_but_no_flow_is_promised() {
    let mut h = Harness::new();
    let r = only_response(&h.send(&register(AOR, "p1", 1, &[&browser_contact("a1")], ""), connection(40312, 9), 0.0));
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get(&HeaderName::Require), None);
    h.send(&register(AOR, "p2", 1, &[&browser_contact("b2")], ""), connection(40999, 10), 5.0);
    assert_eq!(h.engine.binding_count(), 1);
}

/// A REGISTER as a proxy forwards it: its Via under the proxy's, and the proxy's Path.
fn through_proxy(call_id: &str, path: &str, extra: &str) -> Vec<u8> {
    let direct = String::from_utf8(register(AOR, call_id, 1, &[&browser_contact("a1")], extra)).unwrap();
    let proxied = direct.replacen("Via: ", "Via: SIP/2.0/TCP 192.0.2.50;branch=z9hG4bKproxy1\r\nVia: ", 1);
    proxied.replacen("Max-Forwards: 70\r\n", &format!("Max-Forwards: 69\r\nPath: {path}\r\n"), 1).into_bytes()
}

#[test]
fn through_a_first_hop_without_outbound_a_flow_is_refused_439() {
    let mut h = Harness::new();
    let proxy = Peer { addr: "192.0.2.50:5060".parse().unwrap(), ..tcp_peer() };
    let asks = "Supported: outbound\r\n";
    let r = only_response(&h.send(&through_proxy("x1", "<sip:192.0.2.50;lr>", asks), proxy, 0.0));
    assert_eq!(r.status, 439, "RFC 5626 §6: First Hop Lacks Outbound Support");
    assert_eq!(h.engine.binding_count(), 0);
    // The edge proxy marked its Path `ob`: the flow is its, and the registration stands.
    let r = only_response(&h.send(&through_proxy("x2", "<sip:192.0.2.50;lr;ob>", asks), proxy, 1.0));
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get(&HeaderName::Require), Some("outbound"));
    // Two Contacts with reg-id in one REGISTER are refused.
    let two =
        register(AOR, "x3", 1, &[&browser_contact("a1"), &browser_contact("c3").replace("reg-id=1", "reg-id=2")], asks);
    let r = only_response(&h.send(&two, connection(40312, 9), 2.0));
    assert_eq!(r.status, 400);
}

#[test]
fn the_path_is_the_route_of_our_requests_to_the_phone_and_echoed_when_supported() {
    let mut h = Harness::new();
    let proxy = Peer { addr: "192.0.2.50:5060".parse().unwrap(), ..tcp_peer() };
    let path = "<sip:edge.example.com;lr;ob>";
    let sent = h.send(&through_proxy("y1", path, &format!("Supported: path\r\n{ALLOW}")), proxy, 0.0);
    let (responses, requests) = split(&sent);
    assert_eq!(responses[0].headers.get(&HeaderName::Path), Some(path), "RFC 3327 §5.3: echoed");
    let subscribe = requests.iter().find(|r| r.method == Method::Subscribe).expect("a SUBSCRIBE to the phone");
    assert_eq!(subscribe.headers.get(&HeaderName::Route), Some(path), "through the Path it registered by");
    let to_proxy = sent.iter().find(|t| t.payload.starts_with(b"SUBSCRIBE")).unwrap();
    assert_eq!(to_proxy.destination, proxy);

    // Unsolicited MWI takes the same route.
    let counts = MessageCounts { new: 2, old: 0, new_urgent: 0, old_urgent: 0 };
    h.engine
        .handle_command(Command::Voicemail { entity: AOR.into(), counts, reason: VoicemailReason::Update }, h.at(1.0));
    let mwi = split(&h.drain()).1.into_iter().find(|r| header(r, HeaderName::Event) == "message-summary");
    let mwi = mwi.expect("an unsolicited MWI NOTIFY");
    assert_eq!(mwi.headers.get(&HeaderName::Route), Some(path));

    // A REGISTER without Supported: path gets no Path back.
    let r = split(&h.send(&through_proxy("y2", path, ""), proxy, 2.0)).0.remove(0);
    assert_eq!(r.headers.get(&HeaderName::Path), None);
}

#[test]
fn a_register_may_require_path_and_outbound_and_nothing_else() {
    let mut h = Harness::new();
    let r = only_response(&h.send(
        &register(AOR, "z1", 1, &["<sip:1001@192.0.2.10:5062>"], "Require: path, outbound\r\n"),
        udp_peer(),
        0.0,
    ));
    assert_eq!(r.status, 200);
    let r = only_response(&h.send(
        &register(AOR, "z2", 1, &["<sip:1001@192.0.2.10:5062>"], "Require: path, 100rel\r\n"),
        udp_peer(),
        1.0,
    ));
    assert_eq!((r.status, r.headers.get(&HeaderName::Unsupported)), (420, Some("100rel")));
}
