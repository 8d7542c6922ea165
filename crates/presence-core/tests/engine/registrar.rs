//! The registrar (RFC 3261 §10.3) on a virtual clock: bindings, expiry rules,
//! `*` removal, Call-ID/CSeq ordering, events, and registered versus offline presence.

use presence_core::api::InEvent;
use presence_core::bodies::{Basic, pidf};
use sip_proto::HeaderName;
use sip_proto::header::Contacts;

use crate::support::*;

const AOR: &str = "1001@pbx.example.com";

fn contacts(r: &sip_proto::Response) -> Vec<(String, Option<String>)> {
    match r.headers.contacts().unwrap() {
        Contacts::List(list) => {
            list.iter().map(|c| (c.uri.to_string(), c.params.get("expires").map(str::to_owned))).collect()
        }
        Contacts::Wildcard => panic!("a 200 lists bindings"),
    }
}

#[test]
fn bindings_are_added_listed_refreshed_and_removed() {
    let mut h = Harness::new();
    let r = only_response(&h.send(
        &register(AOR, "reg1", 1, &["<sip:1001@192.0.2.10:5062>"], "Expires: 600\r\n"),
        udp_peer(),
        0.0,
    ));
    assert_eq!(r.status, 200);
    assert_eq!(contacts(&r), vec![("sip:1001@192.0.2.10:5062".into(), Some("600".into()))]);
    match h.engine.poll_event() {
        Some(InEvent::Register(e)) => {
            assert_eq!((e.entity.as_str(), e.expires, e.source.port), (AOR, 600, 5062));
            assert_eq!(e.user_agent.as_deref(), Some("test-phone"));
        }
        other => panic!("expected register, got {other:?}"),
    }
    // A second device, with the expires parameter winning over the header.
    let r = only_response(&h.send(
        &register(AOR, "reg2", 1, &["<sip:1001@192.0.2.11>;expires=120"], "Expires: 600\r\n"),
        udp_peer(),
        10.0,
    ));
    assert_eq!(contacts(&r).len(), 2);
    assert!(contacts(&r).contains(&("sip:1001@192.0.2.10:5062".into(), Some("590".into()))), "remaining time");
    assert_eq!(h.engine.binding_count(), 2);

    // A refresh before half its life raises no new event; after it, one.
    let _ = h.engine.poll_event();
    h.send(&register(AOR, "reg1", 2, &["<sip:1001@192.0.2.10:5062>"], "Expires: 600\r\n"), udp_peer(), 100.0);
    assert!(h.engine.poll_event().is_none());
    h.send(&register(AOR, "reg1", 3, &["<sip:1001@192.0.2.10:5062>"], "Expires: 600\r\n"), udp_peer(), 400.0);
    assert!(matches!(h.engine.poll_event(), Some(InEvent::Register(_))));

    // Expires: 0 for one contact removes it.
    let r = only_response(&h.send(
        &register(AOR, "reg2", 2, &["<sip:1001@192.0.2.11>"], "Expires: 0\r\n"),
        udp_peer(),
        401.0,
    ));
    assert_eq!(contacts(&r).len(), 1);
    assert!(matches!(h.engine.poll_event(), Some(InEvent::Unregister(e)) if e.contact == "sip:1001@192.0.2.11"));

    // Fetch: no Contact lists the bindings and changes nothing.
    let r = only_response(&h.send(&register(AOR, "reg3", 1, &[], ""), udp_peer(), 402.0));
    assert_eq!(contacts(&r).len(), 1);

    // `*` with Expires: 0 removes the rest.
    let r = only_response(&h.send(&register(AOR, "reg4", 1, &["*"], "Expires: 0\r\n"), udp_peer(), 403.0));
    assert!(r.headers.get(&HeaderName::Contact).is_none());
    assert_eq!(h.engine.binding_count(), 0);
}

#[test]
fn refusals_423_wildcard_and_out_of_order() {
    let mut h = Harness::new();
    let r =
        only_response(&h.send(&register(AOR, "a", 1, &["<sip:1001@192.0.2.10>"], "Expires: 10\r\n"), udp_peer(), 0.0));
    assert_eq!((r.status, r.headers.min_expires().unwrap()), (423, Some(60)));
    let r = only_response(&h.send(&register(AOR, "b", 1, &["*"], "Expires: 60\r\n"), udp_peer(), 0.0));
    assert_eq!(r.status, 400);
    h.send(&register(AOR, "c", 5, &["<sip:1001@192.0.2.10>"], ""), udp_peer(), 0.0);
    let r = only_response(&h.send(&register(AOR, "c", 4, &["<sip:1001@192.0.2.10>"], ""), udp_peer(), 1.0));
    assert_eq!(r.status, 500, "an older CSeq in the same Call-ID");
    let r = only_response(&h.send(
        &register(AOR, "d", 1, &["<sip:1001@192.0.2.10>"], "Expires: 99999\r\n"),
        udp_peer(),
        2.0,
    ));
    assert_eq!(contacts(&r)[0].1.as_deref(), Some("7200"), "capped at the maximum");
}

/// A header or parameter that does not parse is refused naming it, never read as absent
/// (a bad `expires` parameter used to fall back to the Expires header; a bad Allow, to none).
#[test]
fn unreadable_contact_expires_and_allow_are_refused_with_400() {
    let mut h = Harness::new();
    let r = only_response(&h.send(
        &register(AOR, "e", 1, &["<sip:1001@192.0.2.10>;expires=soon"], "Expires: 600\r\n"),
        udp_peer(),
        0.0,
    ));
    assert_eq!((r.status, r.reason.as_str()), (400, "Malformed Contact expires parameter"));
    let r = only_response(&h.send(
        &register(AOR, "f", 1, &["<sip:1001@192.0.2.10>"], "Allow: SUBSCRIBE, NOT A METHOD\r\n"),
        udp_peer(),
        1.0,
    ));
    assert_eq!((r.status, r.reason.as_str()), (400, "Malformed Allow header"));
    assert_eq!(h.engine.binding_count(), 0, "neither was bound");
}

#[test]
fn expiry_unregisters_and_turns_presence_offline() {
    let mut h = Harness::new();
    let mut watch = Watch::new("w", "presence", AOR);
    let (responses, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 0.0));
    watch.accepted(&responses[0]);
    h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);

    let (_, notifies) =
        split(&h.send(&register(AOR, "x", 1, &["<sip:1001@192.0.2.10>"], "Expires: 60\r\n"), udp_peer(), 1.0));
    assert_eq!(pidf::parse(&notifies[0].body).unwrap().status, Basic::Open, "registered: available");
    h.send(&answer(&notifies[0], 200), udp_peer(), 1.0);
    h.engine.handle_timeout(h.at(61.0));
    let (_, notifies) = split(&h.drain());
    let last = notifies.last().expect("watchers learn the entity went offline");
    assert_eq!(pidf::parse(&last.body).unwrap().status, Basic::Closed);
    assert_eq!(h.engine.binding_count(), 0);
    let mut saw_unregister = false;
    while let Some(e) = h.engine.poll_event() {
        saw_unregister |= matches!(e, InEvent::Unregister(_));
    }
    assert!(saw_unregister);
}
