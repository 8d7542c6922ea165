//! PUBLISH (RFC 3903 §6) and composition (docs/architecture.md, "Rules that are ours") on a virtual clock: the entity-tag
//! life cycle, refusals, expiry, several publishers of one entity, and every watcher format
//! seeing the composed state.

use presence_core::bodies::{dialog_info, pidf, xpidf};
use presence_core::call::CallState;
use presence_core::{DndRule, EngineConfig};
use sip_proto::{HeaderName, Response};

use crate::support::*;

const ENTITY: &str = "1001@pbx.example.com";
const PIDF: &str = "application/pidf+xml";

fn publish(h: &mut Harness, p: &Publish<'_>, branch: &str, secs: f64) -> (Response, Vec<sip_proto::Request>) {
    let (responses, notifies) = split(&h.send(&p.encode(branch), udp_peer(), secs));
    assert_eq!(responses.len(), 1);
    (responses[0].clone(), notifies)
}

fn etag(r: &Response) -> String {
    r.headers.sip_etag().unwrap().expect("a 2xx carries SIP-ETag")
}

fn zoiper<'a>(body: &'a str) -> Publish<'a> {
    Publish {
        entity: ENTITY,
        event: "presence",
        device: "1001@192.0.2.10:5062",
        if_match: None,
        expires: Some(600),
        body: Some((PIDF, body)),
    }
}

/// Watches ENTITY with `accept`, answering its NOTIFYs; returns the watch.
fn watcher(h: &mut Harness, call_id: &str, event: &str, accept: Option<&str>) -> Watch {
    let mut watch = Watch::new(call_id, event, ENTITY);
    if let Some(a) = accept {
        watch = watch.accept(a);
    }
    let (responses, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 0.0));
    watch.accepted(&responses[0]);
    for n in notifies {
        h.send(&answer(&n, 200), udp_peer(), 0.0);
    }
    watch
}

/// Answers every NOTIFY and returns their bodies.
fn bodies_of(h: &mut Harness, notifies: Vec<sip_proto::Request>, secs: f64) -> Vec<(String, String)> {
    notifies
        .into_iter()
        .map(|n| {
            h.send(&answer(&n, 200), udp_peer(), secs);
            (header(&n, HeaderName::ContentType).to_owned(), body(&n))
        })
        .collect()
}

#[test]
fn etag_life_cycle_refresh_modify_remove_and_412() {
    let mut h = Harness::new();
    let online = zoiper_pidf(ENTITY, "open", "Online");
    let (ok, _) = publish(&mut h, &zoiper(&online), "p1", 0.0);
    assert_eq!((ok.status, ok.headers.expires().unwrap()), (200, Some(600)));
    let first = etag(&ok);

    // Refresh: no body, new tag; the old tag is gone.
    let refresh = Publish { if_match: Some(&first), body: None, ..zoiper("") };
    let (ok, _) = publish(&mut h, &refresh, "p2", 10.0);
    let second = etag(&ok);
    assert_ne!(first, second, "a new entity-tag on every 2xx");
    assert_eq!(publish(&mut h, &refresh, "p3", 11.0).0.status, 412, "the refreshed-away tag is unknown");

    // Modify: a body with SIP-If-Match.
    let dnd = zoiper_pidf(ENTITY, "open", "DND");
    let (ok, _) = publish(&mut h, &Publish { if_match: Some(&second), ..zoiper(&dnd) }, "p4", 12.0);
    let third = etag(&ok);
    let mut watch = Watch::new("w1", "presence", ENTITY);
    let (_, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 13.0));
    assert!(pidf::parse(&notifies[0].body).unwrap().dnd, "publish-then-watch delivers the state");
    h.send(&answer(&notifies[0], 200), udp_peer(), 13.0);

    // Remove: Expires 0; the watcher sees the state go.
    let remove = Publish { if_match: Some(&third), expires: Some(0), body: None, ..zoiper("") };
    let (ok, notifies) = publish(&mut h, &remove, "p5", 14.0);
    assert_eq!((ok.status, ok.headers.expires().unwrap()), (200, Some(0)));
    assert!(!pidf::parse(&notifies[0].body).unwrap().dnd);
    assert_eq!(h.engine.publication_count(), 0);
    assert_eq!(publish(&mut h, &Publish { if_match: Some("never-issued"), ..refresh }, "p6", 15.0).0.status, 412);
}

#[test]
fn refusals_489_415_400_423() {
    let mut h = Harness::new();
    let online = zoiper_pidf(ENTITY, "open", "Online");
    let r = publish(&mut h, &Publish { event: "talk", ..zoiper(&online) }, "r1", 0.0).0;
    assert_eq!(r.status, 489);
    assert!(r.headers.allow_events().unwrap().contains(&"presence".to_owned()));

    let r = publish(&mut h, &Publish { body: Some(("text/plain", "hi")), ..zoiper("") }, "r2", 0.0).0;
    assert_eq!(r.status, 415);
    assert_eq!(r.headers.get_all(&HeaderName::Accept).collect::<Vec<_>>(), vec![PIDF, "application/xpidf+xml"]);

    let r = publish(&mut h, &zoiper("<presence>not closed"), "r3", 0.0).0;
    assert_eq!(r.status, 400);
    assert!(r.reason.starts_with("Bad application/pidf+xml Body: malformed XML"), "{}", r.reason);
    let r = publish(&mut h, &zoiper(r#"<!DOCTYPE x [<!ENTITY a "b">]><presence/>"#), "r4", 0.0).0;
    assert!(r.reason.contains("entity declarations"), "{}", r.reason);

    let r = publish(&mut h, &Publish { expires: Some(5), ..zoiper(&online) }, "r5", 0.0).0;
    assert_eq!((r.status, r.headers.min_expires().unwrap()), (423, Some(10)));
    let r = publish(&mut h, &Publish { body: None, ..zoiper("") }, "r6", 0.0).0;
    assert_eq!(r.status, 400);
    assert_eq!(h.engine.publication_count(), 0);
    let r = publish(&mut h, &Publish { expires: Some(99999), ..zoiper(&online) }, "r7", 0.0).0;
    assert_eq!(r.headers.expires().unwrap(), Some(3600), "capped at the maximum");
}

#[test]
fn publications_expire_and_take_their_state_along() {
    let mut h = Harness::new();
    watcher(&mut h, "w", "presence", None);
    let dnd = zoiper_pidf(ENTITY, "open", "DND");
    let (_, notifies) = publish(&mut h, &Publish { expires: Some(60), ..zoiper(&dnd) }, "e1", 0.0);
    assert!(pidf::parse(bodies_of(&mut h, notifies, 0.0)[0].1.as_bytes()).unwrap().dnd, "watch-then-publish");
    h.engine.handle_timeout(h.at(59.9));
    assert!(h.drain().is_empty());
    h.engine.handle_timeout(h.at(60.0));
    let (_, notifies) = split(&h.drain());
    assert!(!pidf::parse(&notifies[0].body).unwrap().dnd);
    assert_eq!(h.engine.publication_count(), 0);
}

#[test]
fn two_publishers_compose_and_a_removal_leaves_the_other() {
    let mut h = Harness::new();
    watcher(&mut h, "w", "presence", None);
    let open = zoiper_pidf(ENTITY, "open", "At my desk");
    let (_, n) = publish(&mut h, &Publish { device: "1001@192.0.2.20", ..zoiper(&open) }, "a1", 0.0);
    bodies_of(&mut h, n, 0.0);
    let dnd = zoiper_pidf(ENTITY, "open", "DND");
    let (soft, n) = publish(&mut h, &Publish { device: "1001@192.0.2.30", ..zoiper(&dnd) }, "b1", 1.0);
    let shown = pidf::parse(bodies_of(&mut h, n, 1.0)[0].1.as_bytes()).unwrap();
    assert!(shown.dnd, "DND if any source says DND");
    assert_eq!(shown.note.as_deref(), Some("DND"), "the most recent note");
    assert_eq!(h.engine.publication_count(), 2);

    let remove =
        Publish { device: "1001@192.0.2.30", if_match: Some(&etag(&soft)), expires: Some(0), body: None, ..zoiper("") };
    let (_, n) = publish(&mut h, &remove, "b2", 2.0);
    let shown = pidf::parse(bodies_of(&mut h, n, 2.0)[0].1.as_bytes()).unwrap();
    assert!(!shown.dnd);
    assert_eq!(shown.note.as_deref(), Some("At my desk"), "the desk phone's state stays");
    assert_eq!(h.engine.publication_count(), 1);
}

#[test]
fn republish_after_412_replaces_the_old_record() {
    let mut h = Harness::new();
    let online = zoiper_pidf(ENTITY, "open", "Online");
    publish(&mut h, &zoiper(&online), "d1", 0.0);
    let lost = Publish { if_match: Some("lost-after-restart"), body: None, ..zoiper("") };
    assert_eq!(publish(&mut h, &lost, "d2", 1.0).0.status, 412);
    let dnd = zoiper_pidf(ENTITY, "open", "DND");
    publish(&mut h, &zoiper(&dnd), "d3", 2.0);
    assert_eq!(h.engine.publication_count(), 1, "the same device replaced its record");
}

#[test]
fn dnd_rule_all_needs_every_source() {
    let config = EngineConfig { dnd_rule: DndRule::All, seed: 3, ..EngineConfig::default() };
    let mut h = Harness::with_config(config);
    watcher(&mut h, "w", "presence", None);
    let dnd = zoiper_pidf(ENTITY, "open", "DND");
    let open = zoiper_pidf(ENTITY, "open", "Online");
    let (_, n) = publish(&mut h, &Publish { device: "a", ..zoiper(&dnd) }, "x1", 0.0);
    assert!(pidf::parse(bodies_of(&mut h, n, 0.0)[0].1.as_bytes()).unwrap().dnd);
    let (_, n) = publish(&mut h, &Publish { device: "b", ..zoiper(&open) }, "x2", 1.0);
    assert!(!pidf::parse(bodies_of(&mut h, n, 1.0)[0].1.as_bytes()).unwrap().dnd);
}

#[test]
fn every_format_sees_dnd_from_a_note_and_from_an_rpid_activity() {
    let rpid_busy = format!(
        r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:{ENTITY}"><tuple id="t"><status><basic>open</basic></status></tuple><dm:person id="p"><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>"#
    );
    for doc in [zoiper_pidf(ENTITY, "open", "DND"), rpid_busy] {
        let mut h = Harness::new();
        watcher(&mut h, "pidf", "presence", None);
        watcher(&mut h, "xpidf", "presence", Some("application/xpidf+xml"));
        watcher(&mut h, "blf", "dialog", None);
        let (_, notifies) = publish(&mut h, &zoiper(&doc), "z", 1.0);
        let seen = bodies_of(&mut h, notifies, 1.0);
        assert_eq!(seen.len(), 3, "one NOTIFY per watcher");
        for (content_type, body) in seen {
            let dnd = match content_type.as_str() {
                "application/pidf+xml" => pidf::parse(body.as_bytes()).unwrap().dnd,
                "application/xpidf+xml" => xpidf::parse(body.as_bytes()).unwrap().dnd,
                _ => dialog_info::parse(body.as_bytes())
                    .unwrap()
                    .calls
                    .iter()
                    .any(|c| c.call_id == "dnd" && c.state == CallState::Confirmed),
            };
            assert!(dnd, "{content_type}: {body}");
        }
    }
}

#[test]
fn published_calls_ring_answer_end_and_stale_versions_are_ignored() {
    let mut h = Harness::new();
    watcher(&mut h, "blf", "dialog", None);
    let mut tag: Option<String> = None;
    let mut states = Vec::new();
    for (i, (version, state)) in
        [(1, "early"), (2, "confirmed"), (3, "terminated"), (1, "early")].into_iter().enumerate()
    {
        let doc = dialog_doc(ENTITY, version, "call-9", state);
        let p = Publish {
            entity: ENTITY,
            event: "dialog",
            device: "pbx",
            if_match: tag.as_deref(),
            expires: Some(600),
            body: Some(("application/dialog-info+xml", &doc)),
        };
        let (ok, notifies) = publish(&mut h, &p, &format!("v{i}"), i as f64);
        tag = Some(etag(&ok));
        for (_, body) in bodies_of(&mut h, notifies, i as f64) {
            states.push(dialog_info::parse(body.as_bytes()).unwrap().calls.iter().map(|c| c.state).collect::<Vec<_>>());
        }
    }
    assert_eq!(
        states,
        vec![vec![CallState::Early], vec![CallState::Confirmed], vec![CallState::Terminated]],
        "the stale early changes nothing"
    );
    assert_eq!(h.engine.stats().stale_publications, 1);
}

#[test]
fn a_late_early_after_terminated_from_another_publisher_is_ignored() {
    let mut h = Harness::new();
    watcher(&mut h, "blf", "dialog", None);
    let send = |h: &mut Harness, device, state, branch: &str| {
        let doc = dialog_doc(ENTITY, 0, "call-x", state);
        let p = Publish {
            entity: ENTITY,
            event: "dialog",
            device,
            if_match: None,
            expires: Some(600),
            body: Some(("application/dialog-info+xml", &doc)),
        };
        let (_, notifies) = publish(h, &p, branch, 1.0);
        bodies_of(h, notifies, 1.0).len()
    };
    assert_eq!(send(&mut h, "node-a", "confirmed", "l1"), 1);
    assert_eq!(send(&mut h, "node-a", "terminated", "l2"), 1);
    assert_eq!(send(&mut h, "node-b", "early", "l3"), 0, "tombstoned: no NOTIFY, the lamp stays idle");
}

#[test]
fn message_summary_publications_reach_mwi_watchers() {
    let mut h = Harness::new();
    watcher(&mut h, "mwi", "message-summary", None);
    let body = "Messages-Waiting: yes\r\nMessage-Account: sip:1001@pbx.example.com\r\nVoice-Message: 3/1 (1/0)\r\n";
    let p = Publish {
        entity: ENTITY,
        event: "message-summary",
        device: "vm",
        if_match: None,
        expires: Some(600),
        body: Some(("application/simple-message-summary", body)),
    };
    let (ok, notifies) = publish(&mut h, &p, "m1", 1.0);
    let seen = bodies_of(&mut h, notifies, 1.0);
    assert!(seen[0].1.contains("Voice-Message: 3/1 (1/0)"));
    let remove = Publish { if_match: Some(&etag(&ok)), expires: Some(0), body: None, ..p };
    let (_, notifies) = publish(&mut h, &remove, "m2", 2.0);
    assert!(
        bodies_of(&mut h, notifies, 2.0)[0].1.contains("Voice-Message: 0/0 (0/0)"),
        "counts leave with the publication"
    );
}

/// A publisher's 33 KB note (rendered twice in a PIDF) would make NOTIFYs too large for a
/// datagram; it is cut to `MAX_TEXT_BYTES` at a character boundary, whichever way it came.
#[test]
fn a_huge_note_is_cut_so_that_every_notify_still_fits_a_datagram() {
    let mut h = Harness::new();
    watcher(&mut h, "big", "presence", Some(PIDF));
    let note = "é".repeat(16_500);
    let doc = zoiper_pidf(ENTITY, "open", &note);
    let (ok, notifies) = publish(&mut h, &zoiper(&doc), "big1", 1.0);
    assert_eq!(ok.status, 200);
    let bodies = bodies_of(&mut h, notifies, 1.0);
    let shown = pidf::parse(bodies[0].1.as_bytes()).unwrap().note.unwrap();
    assert_eq!(shown, "é".repeat(presence_core::bodies::MAX_TEXT_BYTES / 2));
    assert!(bodies[0].1.len() < 2 * 1024, "{} bytes", bodies[0].1.len());

    // From the API too.
    let status = presence_core::api::Command::Status {
        entity: ENTITY.into(),
        basic: presence_core::bodies::Basic::Open,
        note: Some("x".repeat(40_000)),
        dnd: false,
        on_the_phone: false,
    };
    h.engine.handle_command(status, h.at(2.0));
    let (_, notifies) = split(&h.drain());
    let bodies = bodies_of(&mut h, notifies, 2.0);
    let shown = pidf::parse(bodies[0].1.as_bytes()).unwrap().note.unwrap();
    assert_eq!(shown.len(), presence_core::bodies::MAX_TEXT_BYTES);
}
