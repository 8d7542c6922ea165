//! RFC 3261 rules at the transaction and transport layer: method handling (§8.2), malformed
//! input, retransmission absorption (§17.2.2), Timer J, response addressing (§18.2.2,
//! RFC 3581) and the size and overload bounds.

use presence_core::{EngineConfig, Peer};
use sip_proto::HeaderName;

use crate::support::*;

#[test]
fn options_gets_capabilities_and_is_addressed_by_rport() {
    let mut h = Harness::new();
    let sent = h.send(&request("OPTIONS", "sip:pbx.example.com", "z9hG4bKo1", ""), udp_peer(), 0.0);
    let r = only_response(&sent);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.allow().unwrap().unwrap(),
        vec![
            sip_proto::Method::Options,
            sip_proto::Method::Subscribe,
            sip_proto::Method::Notify,
            sip_proto::Method::Publish,
            sip_proto::Method::Register
        ]
    );
    assert_eq!(r.headers.allow_events().unwrap(), vec!["presence", "dialog", "message-summary", "as-feature-event"]);
    let accept: Vec<String> = r.headers.accept().unwrap().unwrap().iter().map(|m| m.essence()).collect();
    assert_eq!(
        accept,
        vec![
            "application/pidf+xml",
            "application/xpidf+xml",
            "application/dialog-info+xml",
            "application/simple-message-summary",
            "application/x-as-feature-event+xml"
        ]
    );

    assert!(r.headers.to().unwrap().tag().is_some(), "a final response carries a To tag");
    assert!(r.headers.contains(&HeaderName::Server));
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.params.get("rport"), Some("5062"));
    assert_eq!(via.params.get("received"), Some("192.0.2.10"));
    assert_eq!(sent[0].destination, udp_peer());
}

#[test]
fn invite_gets_405_statelessly_with_the_same_tag_on_retransmission() {
    let mut h = Harness::new();
    let invite = request("INVITE", "sip:1001@pbx.example.com", "z9hG4bKi1", "");
    let first = only_response(&h.send(&invite, udp_peer(), 0.0));
    let again = only_response(&h.send(&invite, udp_peer(), 0.5));
    assert_eq!(first.status, 405);
    assert_eq!(first.headers.get(&HeaderName::Allow), Some("OPTIONS"));
    assert_eq!(first.headers.to().unwrap().tag(), again.headers.to().unwrap().tag());
    assert_eq!(h.engine.server_transaction_count(), 0, "INVITE keeps no state");
    let ack = request("ACK", "sip:1001@pbx.example.com", "z9hG4bKi1", "");
    assert!(h.send(&ack, udp_peer(), 0.6).is_empty(), "ACK is absorbed");
}

#[test]
fn unknown_method_gets_501_and_known_unserved_method_405() {
    let mut h = Harness::new();
    let r = only_response(&h.send(&request("FROBNICATE", "sip:pbx.example.com", "z9hG4bKu", ""), udp_peer(), 0.0));
    assert_eq!((r.status, r.headers.get(&HeaderName::Allow)), (501, Some("OPTIONS")));
    let r = only_response(&h.send(&request("MESSAGE", "sip:1001@pbx.example.com", "z9hG4bKm", ""), udp_peer(), 0.0));
    assert_eq!(r.status, 405);
}

#[test]
fn in_dialog_request_for_unknown_dialog_gets_481() {
    let mut h = Harness::new();
    let raw = String::from_utf8(request("SUBSCRIBE", "sip:1001@pbx.example.com", "z9hG4bKd", "Event: presence\r\n"))
        .unwrap()
        .replace("To: <sip:1001@pbx.example.com>", "To: <sip:1001@pbx.example.com>;tag=nosuch");
    let r = only_response(&h.send(raw.as_bytes(), udp_peer(), 0.0));
    assert_eq!(r.status, 481);
    assert_eq!(r.headers.to().unwrap().tag(), Some("nosuch"), "an existing To tag is kept");
}

#[test]
fn unsupported_scheme_and_required_extension() {
    let mut h = Harness::new();
    let r = only_response(&h.send(&request("OPTIONS", "tel:+15550100", "z9hG4bKt", ""), udp_peer(), 0.0));
    assert_eq!(r.status, 416);
    let r = only_response(&h.send(
        &request("OPTIONS", "sip:pbx.example.com", "z9hG4bKr", "Require: foo, bar\r\n"),
        udp_peer(),
        0.0,
    ));
    assert_eq!(r.status, 420);
    assert_eq!(r.headers.get_all(&HeaderName::Unsupported).collect::<Vec<_>>(), vec!["foo", "bar"]);
}

#[test]
fn an_accept_q_value_that_is_not_one_gets_400_naming_accept() {
    // RFC 2616 §3.9's qvalue: before, an unreadable q was read as 1.
    let mut h = Harness::new();
    let bad_q = request("OPTIONS", "sip:pbx.example.com", "z9hG4bKq1", "Accept: application/pidf+xml;q=high\r\n");
    let r = only_response(&h.send(&bad_q, udp_peer(), 0.0));
    assert_eq!((r.status, r.reason.as_str()), (400, "Malformed Accept header"));
}

#[test]
fn malformed_requests_are_answered_or_dropped_and_counted() {
    let mut h = Harness::new();
    let bad_expires = request("OPTIONS", "sip:pbx.example.com", "z9hG4bKb1", "Expires: soon\r\n");
    let r = only_response(&h.send(&bad_expires, udp_peer(), 0.0));
    assert_eq!((r.status, r.reason.as_str()), (400, "Malformed Expires header"));
    assert_eq!(r.headers.call_id().unwrap(), "call-z9hG4bKb1");

    // A broken transaction identifier leaves nothing a client could match: dropped.
    let bad_cseq = String::from_utf8(request("OPTIONS", "sip:pbx.example.com", "z9hG4bKb4", ""))
        .unwrap()
        .replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS");
    assert!(h.send(bad_cseq.as_bytes(), udp_peer(), 0.0).is_empty());

    // A comma inside the Via parameters splits it in two, and the second is not a Via: the
    // 400 carries the top one only, so it parses and the phone can match it.
    let split_via = String::from_utf8(request("OPTIONS", "sip:pbx.example.com", "z9hG4bKb5", ""))
        .unwrap()
        .replace(";branch=", ";bra,nch=");
    let r = only_response(&h.send(split_via.as_bytes(), udp_peer(), 0.0));
    assert_eq!(r.status, 400);
    assert_eq!(r.headers.via().unwrap().len(), 1);

    let bad_version = String::from_utf8(request("OPTIONS", "sip:pbx.example.com", "z9hG4bKb2", ""))
        .unwrap()
        .replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia");
    assert_eq!(only_response(&h.send(bad_version.as_bytes(), udp_peer(), 0.0)).status, 505);

    for garbage in [&b"\x16\x03\x01\x02\x00garbage"[..], b"hello world\r\n\r\n", b""] {
        assert!(h.send(garbage, udp_peer(), 0.0).is_empty());
    }
    assert_eq!(h.engine.stats().malformed_answered, 3);
    assert_eq!(h.engine.stats().malformed_dropped, 4);

    // Still answering afterwards.
    let ok = h.send(&request("OPTIONS", "sip:pbx.example.com", "z9hG4bKb3", ""), udp_peer(), 0.1);
    assert_eq!(only_response(&ok).status, 200);
}

#[test]
fn udp_retransmissions_get_the_same_response_until_timer_j() {
    let mut h = Harness::new();
    let options = request("OPTIONS", "sip:pbx.example.com", "z9hG4bKrt", "");
    let first = h.send(&options, udp_peer(), 0.0);
    let second = h.send(&options, udp_peer(), 0.5);
    assert_eq!(first[0].payload, second[0].payload, "the stored response is resent byte for byte");
    assert_eq!(h.engine.stats().retransmissions_absorbed, 1);
    assert_eq!(h.engine.server_transaction_count(), 1);

    // Timer J = 64*T1 = 32 s.
    assert_eq!(h.engine.poll_timeout(), Some(h.at(32.0)));
    h.engine.handle_timeout(h.at(31.9));
    assert_eq!(h.engine.server_transaction_count(), 1);
    h.engine.handle_timeout(h.at(32.0));
    assert_eq!(h.engine.server_transaction_count(), 0);
    assert_eq!(h.engine.pending_timer_count(), 0);
    assert_eq!(h.engine.poll_timeout(), None);
}

#[test]
fn stream_transactions_end_at_once_and_answer_on_the_flow() {
    let mut h = Harness::new();
    let sent = h.send(&request("OPTIONS", "sip:pbx.example.com", "z9hG4bKtcp", ""), tcp_peer(), 0.0);
    assert_eq!(sent[0].destination, tcp_peer());
    assert_eq!(h.engine.server_transaction_count(), 0, "Timer J is zero on reliable transports");
    assert_eq!(h.engine.pending_timer_count(), 0);
}

#[test]
fn oversized_input_is_dropped_on_udp_and_gets_413_on_streams() {
    let mut h = Harness::with_config(EngineConfig { max_message_size: 600, ..EngineConfig::default() });
    let mut big = request("OPTIONS", "sip:pbx.example.com", "z9hG4bKbig", "");
    big.extend(std::iter::repeat_n(b'x', 1000));
    assert!(h.send(&big, udp_peer(), 0.0).is_empty());
    assert_eq!(h.engine.stats().oversized, 1);

    let head = String::from_utf8(request("OPTIONS", "sip:pbx.example.com", "z9hG4bKbig2", ""))
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: 99999999");
    h.engine.handle_oversized_head(head.as_bytes(), tcp_peer(), h.at(0.0));
    let r = only_response(&h.drain());
    assert_eq!(r.status, 413);
}

#[test]
fn a_full_transaction_table_forgets_its_oldest_answered_transaction() {
    let mut h = Harness::with_config(EngineConfig { max_server_transactions: 2, ..EngineConfig::default() });
    let options = |branch| request("OPTIONS", "sip:p", branch, "");
    for branch in ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"] {
        assert_eq!(only_response(&h.send(&options(branch), udp_peer(), 0.0)).status, 200, "{branch} answered");
    }
    assert_eq!(h.engine.stats().transactions_forgotten_early, 1);
    // The second is still held: its retransmission is absorbed. The first was forgotten:
    // its retransmission is taken as a new request (and makes room in turn).
    h.send(&options("z9hG4bK2"), udp_peer(), 0.1);
    assert_eq!(h.engine.stats().retransmissions_absorbed, 1);
    h.send(&options("z9hG4bK1"), udp_peer(), 0.2);
    assert_eq!(h.engine.stats().retransmissions_absorbed, 1);
    assert_eq!(h.engine.stats().transactions_forgotten_early, 2, "the oldest still held, the second, made room");
}

proptest::proptest! {
    /// No input makes the engine panic, and its answers to a request with one byte changed
    /// always parse as responses.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600), mutate_at in 0usize..400) {
        let mut h = Harness::new();
        let peer: Peer = udp_peer();
        h.send(&bytes, peer, 0.0);
        let mut options = request("OPTIONS", "sip:pbx.example.com", "z9hG4bKp", "");
        let i = mutate_at % options.len();
        options[i] = bytes.first().copied().unwrap_or(b'!');
        for t in h.send(&options, peer, 0.0) {
            response_of(&t);
        }
    }
}
