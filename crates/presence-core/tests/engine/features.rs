//! Feature-key synchronisation (`as-feature-event`, docs/feature-keys.md) on a virtual clock:
//! one DND and one set of forwarding per user, shown by every phone of the user, every
//! package and the API; set by a feature key, the API, or any source's news of DND (last
//! writer wins); never announced twice, so phones cannot loop; and kept across a restart.

use std::collections::HashMap;

use presence_core::api::{Command, InEvent};
use presence_core::bodies::{dialog_info, pidf};
use presence_core::features::{ForwardKind, Forwarding};
use presence_core::{Engine, EngineConfig, FlowId, Peer, Transport};
use presence_store::{MemoryStore, Store};
use sip_proto::{HeaderName, Method, Request};

use crate::support::*;

const USER: &str = "1001@pbx.example.com";
const CSTA: &str = "http://www.ecma-international.org/standards/ecma-323/csta/ed3";
const FEATURE_TYPE: &str = "application/x-as-feature-event+xml";

fn peer(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: format!("192.0.2.20:{port}").parse().unwrap(),
        flow: Some(FlowId(1)),
        local: LOCAL.parse().unwrap(),
    }
}

/// One of the user's phones, with its feature-key subscription.
struct Phone {
    peer: Peer,
    call_id: String,
    to_tag: Option<String>,
    cseq: u32,
    /// The user whose features it subscribes to (its own, unless a test says otherwise).
    from: &'static str,
    /// Header lines its next SUBSCRIBE carries (credentials).
    extra: String,
}

impl Phone {
    fn new(port: u16) -> Self {
        Phone {
            peer: peer(port),
            call_id: format!("fk-{port}"),
            to_tag: None,
            cseq: 0,
            from: USER,
            extra: String::new(),
        }
    }

    /// The next SUBSCRIBE of its dialog, with `body` (a Set request) if given.
    fn subscribe(&mut self, body: Option<&str>) -> Vec<u8> {
        self.cseq += 1;
        let (port, call_id, cseq, from, extra) =
            (self.peer.addr.port(), &self.call_id, self.cseq, self.from, &self.extra);
        let to_tag = self.to_tag.as_ref().map(|t| format!(";tag={t}")).unwrap_or_default();
        let (content_type, body) = match body {
            Some(b) => (format!("Content-Type: {FEATURE_TYPE}\r\n"), b),
            None => (String::new(), ""),
        };
        format!(
            "SUBSCRIBE sip:{USER} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.20:{port};branch=z9hG4bK{call_id}-{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{from}>;tag=p{port}\r\n\
             To: <sip:{USER}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} SUBSCRIBE\r\n\
             Contact: <sip:1001@192.0.2.20:{port}>\r\n\
             Event: as-feature-event\r\n\
             Accept: {FEATURE_TYPE}\r\n\
             Expires: 3600\r\n\
             {extra}{content_type}Content-Length: {len}\r\n\r\n{body}",
            len = body.len(),
        )
        .into_bytes()
    }
}

fn set_dnd(on: bool) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?><SetDoNotDisturb xmlns="{CSTA}"><device>1001</device><doNotDisturbOn>{on}</doNotDisturbOn></SetDoNotDisturb>"#
    )
}

fn set_forwarding(kind: &str, on: bool, to: &str, rings: &str) -> String {
    format!(
        r#"<SetForwarding xmlns="{CSTA}"><device>1001</device><activateForward>{on}</activateForward><forwardingType>{kind}</forwardingType><forwardDN>{to}</forwardDN><ringCount>{rings}</ringCount></SetForwarding>"#
    )
}

/// The events a NOTIFY reports, as `(element, its text)` lists, one per document (the parts
/// of a multipart body split on its boundary).
fn events(n: &Request) -> Vec<Vec<(String, String)>> {
    let content_type = header(n, HeaderName::ContentType);
    let text = body(n);
    let documents: Vec<String> = match content_type.strip_prefix("multipart/mixed;boundary=") {
        Some(boundary) => text
            .split(&format!("--{boundary}"))
            .filter(|p| p.contains("<?xml"))
            .map(|p| {
                assert!(p.contains(&format!("Content-Type: {FEATURE_TYPE}")), "each part says its type");
                p[p.find("<?xml").unwrap()..].trim_end().to_owned()
            })
            .collect(),
        None => {
            assert_eq!(content_type, FEATURE_TYPE);
            vec![text]
        }
    };
    documents
        .iter()
        .map(|d| {
            let doc = roxmltree::Document::parse(d).unwrap();
            let root = doc.root_element();
            assert_eq!(root.tag_name().namespace(), Some(CSTA));
            let mut fields = vec![(root.tag_name().name().to_owned(), String::new())];
            fields.extend(
                root.children()
                    .filter(|c| c.is_element())
                    .map(|c| (c.tag_name().name().to_owned(), c.text().unwrap_or_default().to_owned())),
            );
            fields
        })
        .collect()
}

/// The DND a NOTIFY reports, if it reports it.
fn dnd_of(n: &Request) -> Option<bool> {
    events(n).into_iter().find(|e| e[0].0 == "DoNotDisturbEvent").map(|e| {
        let on = e.iter().find(|(k, _)| k == "doNotDisturbOn").unwrap();
        on.1 == "true"
    })
}

struct Site {
    h: Harness,
    a: Phone,
    b: Phone,
}

/// The phones' network, trusted as a proxy's would be: without digest authentication only a
/// trusted source may change feature settings.
fn trusting() -> EngineConfig {
    let limits = presence_core::Limits { trusted: vec!["192.0.2.0/24".parse().unwrap()], ..Default::default() };
    EngineConfig { seed: 7, limits, ..EngineConfig::default() }
}

/// Two phones of 1001 with feature-key subscriptions, and 1002 watching 1001's presence and
/// BLF; every first NOTIFY answered.
fn site() -> Site {
    let mut h = Harness::with_config(trusting());
    let (mut a, mut b) = (Phone::new(5070), Phone::new(5072));
    for phone in [&mut a, &mut b] {
        let sent = h.send(&phone.subscribe(None), phone.peer, 0.0);
        let (responses, notifies) = split(&sent);
        assert_eq!(responses[0].status, 200);
        phone.to_tag = responses[0].headers.to().unwrap().tag().map(str::to_owned);
        assert_eq!(notifies.len(), 1);
        let first = events(&notifies[0]);
        let names: Vec<&str> = first.iter().map(|e| e[0].0.as_str()).collect();
        assert_eq!(names, ["DoNotDisturbEvent", "ForwardingEvent", "ForwardingEvent", "ForwardingEvent"]);
        assert_eq!(dnd_of(&notifies[0]), Some(false));
        h.send(&answer(&notifies[0], 200), phone.peer, 0.0);
    }
    let mut presence = Watch::new("pw", "presence", USER);
    established(&mut h, &mut presence, None, 0.0);
    let mut blf = Watch::new("bw", "dialog", USER);
    established(&mut h, &mut blf, None, 0.0);
    Site { h, a, b }
}

/// The NOTIFYs sent to `peer` among `sent`.
fn to(sent: &[presence_core::Transmit], peer: Peer) -> Vec<Request> {
    let theirs: Vec<_> = sent.iter().filter(|t| t.destination.addr == peer.addr).cloned().collect();
    split(&theirs).1.into_iter().filter(|r| r.method == Method::Notify).collect()
}

fn events_raised(h: &mut Harness) -> Vec<InEvent> {
    std::iter::from_fn(|| h.engine.poll_event()).collect()
}

#[test]
fn dnd_pressed_on_one_phone_shows_on_the_other_in_every_package_and_in_the_api() {
    let Site { mut h, mut a, b, .. } = site();
    events_raised(&mut h);
    let sent = h.send(&a.subscribe(Some(&set_dnd(true))), a.peer, 1.0);
    let (responses, _) = split(&sent);
    assert_eq!(responses[0].status, 200, "the SUBSCRIBE carrying the request is accepted");

    let to_a = to(&sent, a.peer);
    assert_eq!(to_a.len(), 1, "the phone that asked gets the NOTIFY its SUBSCRIBE is owed");
    assert_eq!(dnd_of(&to_a[0]), Some(true));
    assert_eq!(events(&to_a[0]).len(), 4, "a refresh is told every feature");
    let to_b = to(&sent, b.peer);
    assert_eq!(to_b.len(), 1);
    assert_eq!(events(&to_b[0]).len(), 1, "the other phone is told only what changed");
    assert_eq!(dnd_of(&to_b[0]), Some(true));

    let watchers = to(&sent, udp_peer());
    let presence = watchers.iter().find(|n| header(n, HeaderName::Event) == "presence").unwrap();
    assert!(pidf::parse(&presence.body).unwrap().dnd, "presence shows DND");
    let blf = watchers.iter().find(|n| header(n, HeaderName::Event) == "dialog").unwrap();
    let lamp = dialog_info::parse(&blf.body).unwrap();
    assert!(lamp.calls.iter().any(|c| c.call_id == "dnd"), "the BLF key shows DND");
    assert!(h.engine.features(&h.engine.config().entity_key(USER)).dnd);

    let raised = events_raised(&mut h);
    let feature_in: Vec<_> =
        raised.iter().filter_map(|e| if let InEvent::FeatureIn(r) = e { Some(r) } else { None }).collect();
    assert_eq!(feature_in.len(), 1);
    assert!(feature_in[0].state.dnd);
    assert_eq!(feature_in[0].source.port, 5070);
}

#[test]
fn setting_what_is_already_set_is_answered_and_announced_to_no_one_else() {
    let Site { mut h, mut a, b, .. } = site();
    let sent = h.send(&a.subscribe(Some(&set_dnd(true))), a.peer, 1.0);
    // Answer every NOTIFY of the change at its own destination.
    for t in &sent {
        if let Ok(sip_proto::Message::Request(n)) = sip_proto::parse_message(&t.payload) {
            h.send(&answer(&n, 200), t.destination, 1.1);
        }
    }
    events_raised(&mut h);
    let again = h.send(&a.subscribe(Some(&set_dnd(true))), a.peer, 2.0);
    assert_eq!(to(&again, a.peer).len(), 1, "the asking phone still gets its NOTIFY");
    assert_eq!(dnd_of(&to(&again, a.peer)[0]), Some(true));
    assert!(to(&again, b.peer).is_empty(), "nothing changed: the other phone hears nothing");
    assert!(to(&again, udp_peer()).is_empty(), "nor do the watchers");
    assert!(events_raised(&mut h).iter().all(|e| !matches!(e, InEvent::FeatureIn(_))));
}

/// Runs until nothing more is sent: every NOTIFY is answered 200 by its phone, and an
/// echoing phone, told a DND other than the one it shows, sets what it was told (the
/// behaviour that made phones loop on other servers). Returns the DND each phone was last
/// told and how many NOTIFYs each got.
fn settle(
    h: &mut Harness,
    pending: Vec<presence_core::Transmit>,
    mut echo: Option<&mut Phone>,
    secs: f64,
) -> (HashMap<u16, bool>, HashMap<u16, usize>) {
    let mut queue = pending;
    let mut last: HashMap<u16, bool> = HashMap::new();
    let mut notifies = HashMap::new();
    let mut rounds = 0;
    while !queue.is_empty() {
        rounds += 1;
        assert!(rounds < 100, "the phones and the server never settle: a loop");
        let mut next = Vec::new();
        for t in std::mem::take(&mut queue) {
            let Ok(sip_proto::Message::Request(n)) = sip_proto::parse_message(&t.payload) else { continue };
            if n.method != Method::Notify {
                continue;
            }
            let port = t.destination.addr.port();
            *notifies.entry(port).or_default() += 1;
            if header(&n, HeaderName::Event) == "as-feature-event"
                && let Some(dnd) = dnd_of(&n)
            {
                let shown = last.insert(port, dnd).unwrap_or(false);
                if let Some(phone) = echo.as_deref_mut().filter(|p| p.peer.addr.port() == port && shown != dnd) {
                    next.extend(h.send(&phone.subscribe(Some(&set_dnd(dnd))), phone.peer, secs));
                }
            }
            next.extend(h.send(&answer(&n, 200), t.destination, secs));
        }
        queue = next;
    }
    (last, notifies)
}

#[test]
fn fast_toggles_end_in_the_last_state_pressed_with_one_notify_in_flight() {
    let Site { mut h, mut a, b, .. } = site();
    // Phone A toggles four times before any NOTIFY is answered: each phone has one NOTIFY
    // in flight, and the changes behind it merge into one more.
    let mut sent = Vec::new();
    for (i, on) in [true, false, true, false].into_iter().enumerate() {
        sent.extend(h.send(&a.subscribe(Some(&set_dnd(on))), a.peer, 1.0 + i as f64 * 0.05));
    }
    assert_eq!(to(&sent, b.peer).len(), 1, "one NOTIFY in flight per subscription");
    let (last, notifies) = settle(&mut h, sent, None, 1.5);
    assert_eq!((last[&5070], last[&5072]), (false, false), "both phones end showing the last press");
    assert_eq!(notifies[&5072], 2, "the other phone: the one in flight, then the merged rest");
    assert!(!h.engine.features(&h.engine.config().entity_key(USER)).dnd);
    assert!(h.drain().is_empty(), "quiet afterwards");
}

#[test]
fn a_phone_that_echoes_what_it_is_told_cannot_start_a_loop() {
    let Site { mut h, mut a, mut b, .. } = site();
    let mut sent = Vec::new();
    for (i, on) in [true, false, true, false].into_iter().enumerate() {
        sent.extend(h.send(&a.subscribe(Some(&set_dnd(on))), a.peer, 1.0 + i as f64 * 0.05));
    }
    sent.extend(h.send(&b.subscribe(Some(&set_dnd(true))), b.peer, 1.3));
    let (last, notifies) = settle(&mut h, sent, Some(&mut b), 1.5);
    let server = h.engine.features(&h.engine.config().entity_key(USER)).dnd;
    assert_eq!((last[&5070], last[&5072]), (server, server), "every key shows the server's state");
    let total: usize = notifies.values().sum();
    assert!(total < 20, "{total} NOTIFYs for five presses");
    assert!(h.drain().is_empty(), "quiet afterwards");
}

#[test]
fn a_published_dnd_reaches_feature_keys_and_a_feature_key_clears_it() {
    let Site { mut h, mut a, b, .. } = site();
    let device = "1001@192.0.2.30:5062";
    let busy = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:1001@pbx.example.com"><tuple id="t"><status><basic>open</basic></status></tuple><dm:person id="p"><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>"#;
    let publish = Publish {
        entity: USER,
        event: "presence",
        device,
        if_match: None,
        expires: Some(600),
        body: Some(("application/pidf+xml", busy)),
    };
    let sent = h.send(&publish.encode("pub1"), udp_peer(), 1.0);
    assert_eq!(split(&sent).0[0].status, 200);
    let to_b = to(&sent, b.peer);
    assert_eq!(to_b.len(), 1, "the softphone's DND reaches the desk phone's key");
    assert_eq!(dnd_of(&to_b[0]), Some(true));
    for t in &sent {
        if let Ok(sip_proto::Message::Request(n)) = sip_proto::parse_message(&t.payload) {
            h.send(&answer(&n, 200), t.destination, 1.1);
        }
    }
    // The desk phone turns DND off: the user's DND is off although the publication still
    // says busy (the last writer wins).
    let sent = h.send(&a.subscribe(Some(&set_dnd(false))), a.peer, 2.0);
    assert_eq!(dnd_of(&to(&sent, b.peer)[0]), Some(false));
    let presence = to(&sent, udp_peer()).into_iter().find(|n| header(n, HeaderName::Event) == "presence").unwrap();
    assert!(!pidf::parse(&presence.body).unwrap().dnd, "presence follows the key");
    for t in &sent {
        if let Ok(sip_proto::Message::Request(n)) = sip_proto::parse_message(&t.payload) {
            h.send(&answer(&n, 200), t.destination, 2.1);
        }
    }
    // The softphone saying busy again, unchanged, is no news; saying available and then busy
    // again is.
    let key = h.engine.config().entity_key(USER);
    let etag = |sent: &[presence_core::Transmit]| split(sent).0[0].headers.sip_etag().unwrap().unwrap();
    let same =
        h.send(&Publish { body: Some(("application/pidf+xml", busy)), ..publish }.encode("pub2"), udp_peer(), 3.0);
    assert!(to(&same, b.peer).is_empty());
    assert!(!h.engine.features(&key).dnd);
    let open = zoiper_pidf(USER, "open", "Available");
    let tag = etag(&same);
    let available = Publish { if_match: Some(&tag), body: Some(("application/pidf+xml", &open)), ..publish };
    let sent = h.send(&available.encode("pub3"), udp_peer(), 4.0);
    assert!(to(&sent, b.peer).is_empty(), "available is what the key already shows");
    let tag = etag(&sent);
    let busy_again = Publish { if_match: Some(&tag), ..publish };
    let sent = h.send(&busy_again.encode("pub4"), udp_peer(), 5.0);
    assert_eq!(dnd_of(&to(&sent, b.peer)[0]), Some(true));
    assert!(h.engine.features(&key).dnd);
}

#[test]
fn forwarding_by_feature_key_and_by_the_api_reaches_every_key() {
    let Site { mut h, mut a, b, .. } = site();
    events_raised(&mut h);
    let sent = h.send(&a.subscribe(Some(&set_forwarding("forwardNoAns", true, "2002", "4"))), a.peer, 1.0);
    let to_b = to(&sent, b.peer);
    let only = events(&to_b[0]);
    assert_eq!(only.len(), 1, "only the forwarding that changed");
    let fields: HashMap<_, _> = only[0].iter().cloned().collect();
    assert_eq!(fields["forwardingType"], "forwardNoAns");
    assert_eq!((fields["forwardStatus"].as_str(), fields["forwardTo"].as_str()), ("true", "2002"));
    assert_eq!(fields["ringCount"], "4");
    assert!(to(&sent, udp_peer()).is_empty(), "forwarding changes no presence or BLF document");
    for t in &sent {
        if let Ok(sip_proto::Message::Request(n)) = sip_proto::parse_message(&t.payload) {
            h.send(&answer(&n, 200), t.destination, 1.1);
        }
    }
    assert!(
        events_raised(&mut h)
            .iter()
            .any(|e| matches!(e, InEvent::FeatureIn(r) if r.state.forward(ForwardKind::NoAnswer).active))
    );

    let busy = Forwarding { active: true, to: Some("sip:voicemail@pbx.example.com".into()), ring_count: None };
    let command = Command::Features { entity: USER.into(), dnd: None, forwarding: vec![(ForwardKind::Busy, busy)] };
    h.engine.handle_command(command, h.at(2.0));
    let sent = h.drain();
    for phone in [&a, &b] {
        let n = to(&sent, phone.peer);
        let fields: HashMap<_, _> = events(&n[0])[0].iter().cloned().collect();
        assert_eq!(
            (fields["forwardingType"].as_str(), fields["forwardTo"].as_str()),
            ("forwardBusy", "sip:voicemail@pbx.example.com")
        );
    }
    assert!(
        events_raised(&mut h).iter().all(|e| !matches!(e, InEvent::FeatureIn(_))),
        "the PBX is not told what it set"
    );
    // Turning it off keeps where to, for the key to turn it on again.
    for t in &sent {
        if let Ok(sip_proto::Message::Request(n)) = sip_proto::parse_message(&t.payload) {
            h.send(&answer(&n, 200), t.destination, 2.1);
        }
    }
    h.send(&a.subscribe(Some(&set_forwarding("forwardBusy", false, "", ""))), a.peer, 3.0);
    let state = h.engine.features(&h.engine.config().entity_key(USER));
    let off = state.forward(ForwardKind::Busy);
    assert!(!off.active);
    assert_eq!(off.to.as_deref(), Some("sip:voicemail@pbx.example.com"));
}

#[test]
fn a_feature_key_is_the_users_own_and_a_request_it_cannot_read_is_refused() {
    let Site { mut h, mut a, .. } = site();
    let mut other = Phone { from: "1002@pbx.example.com", ..Phone::new(5080) };
    let refused = only_response(&h.send(&other.subscribe(None), other.peer, 1.0));
    assert_eq!((refused.status, refused.reason.as_str()), (403, "Feature Keys Are the User's Own"));

    let bad = only_response(&h.send(
        &a.subscribe(Some("<SetDoNotDisturb><doNotDisturbOn>yes</doNotDisturbOn></SetDoNotDisturb>")),
        a.peer,
        2.0,
    ));
    assert_eq!(bad.status, 400);
    assert!(bad.reason.starts_with("Bad as-feature-event Body"), "{}", bad.reason);
    let on_nowhere = set_forwarding("forwardImmediate", true, "", "");
    assert_eq!(only_response(&h.send(&a.subscribe(Some(&on_nowhere)), a.peer, 3.0)).status, 400);
    assert!(!h.engine.features(&h.engine.config().entity_key(USER)).forward(ForwardKind::Always).active);

    let publish = Publish {
        entity: USER,
        event: "as-feature-event",
        device: "1001@192.0.2.20:5070",
        if_match: None,
        expires: Some(60),
        body: Some((FEATURE_TYPE, "<x/>")),
    };
    let refused = only_response(&h.send(&publish.encode("pf"), udp_peer(), 4.0));
    assert_eq!(refused.status, 489, "nothing publishes feature settings");
}

#[test]
fn settings_survive_a_restart_and_outrank_the_sources_replayed() {
    const T0_MS: u64 = 1_800_000_000_000;
    let mut h = Harness::with_config(EngineConfig { seed: 5, ..trusting() });
    h.engine.enable_persistence(h.t0, T0_MS);
    let mut store = MemoryStore::new();
    let busy = zoiper_pidf(USER, "open", "Do not disturb");
    let publish = Publish {
        entity: USER,
        event: "presence",
        device: "1001@192.0.2.30:5062",
        if_match: None,
        expires: Some(3600),
        body: Some(("application/pidf+xml", &busy)),
    };
    h.send(&publish.encode("p1"), udp_peer(), 0.0);
    let key = h.engine.config().entity_key(USER);
    assert!(h.engine.features(&key).dnd, "the published DND");
    let command = Command::Features {
        entity: USER.into(),
        dnd: Some(false),
        forwarding: vec![(ForwardKind::Always, Forwarding { active: true, to: Some("2002".into()), ring_count: None })],
    };
    h.engine.handle_command(command, h.at(1.0));
    assert!(!h.engine.features(&key).dnd);
    store.apply(&h.engine.take_changes()).unwrap();

    let mut after = Harness { engine: Engine::new(EngineConfig { seed: 6, ..EngineConfig::default() }), t0: h.t0 };
    after.engine.enable_persistence(after.t0, T0_MS);
    let flows = HashMap::from([(LOCAL.parse().unwrap(), FlowId(1))]);
    after.engine.restore(store.load().unwrap(), &flows, after.at(10.0));
    let state = after.engine.features(&key);
    assert!(!state.dnd, "the setting made after the publication still wins");
    assert_eq!(state.forward(ForwardKind::Always).to.as_deref(), Some("2002"));
    assert_eq!(after.engine.publication_count(), 1, "the publication is back too");
}

#[test]
fn without_digest_only_a_trusted_source_may_set_and_with_it_only_the_user() {
    // Untrusted, no digest: reading is open like every package; setting is refused.
    let mut h = Harness::new();
    let mut phone = Phone::new(5090);
    let sent = h.send(&phone.subscribe(None), phone.peer, 0.0);
    assert_eq!(split(&sent).0[0].status, 200);
    let mut stranger = Phone::new(5091);
    let refused = only_response(&h.send(
        &stranger.subscribe(Some(&set_forwarding("forwardImmediate", true, "+15550100", ""))),
        stranger.peer,
        1.0,
    ));
    assert_eq!((refused.status, refused.reason.as_str()), (403, "Feature Keys Need Authentication"));
    assert!(!h.engine.features(&h.engine.config().entity_key(USER)).forward(ForwardKind::Always).active);

    // With digest: 1001 proves itself and sets DND; 1002 cannot act as 1001.
    let users = ["1001", "1002"].map(|name| crate::auth::user(name, None, &[])).into();
    let auth = presence_core::AuthConfig { subscribe: true, users, ..Default::default() };
    let mut h = Harness::with_config(EngineConfig { seed: 8, auth, ..EngineConfig::default() });
    let mut phone = Phone::new(5092);
    let challenge = only_response(&h.send(&phone.subscribe(Some(&set_dnd(true))), phone.peer, 0.0));
    assert_eq!(challenge.status, 401);
    let as_user = |name: &str, challenge: &sip_proto::Response| {
        let uri = format!("sip:{USER}");
        let credentials =
            crate::auth::credentials_of(name, challenge, HeaderName::WwwAuthenticate, "SUBSCRIBE", &uri, "secret", 1);
        format!("Authorization: {credentials}\r\n")
    };
    phone.extra = as_user("1002", &challenge);
    let refused = only_response(&h.send(&phone.subscribe(Some(&set_dnd(true))), phone.peer, 1.0));
    assert_eq!((refused.status, refused.reason.as_str()), (403, "From Does Not Match the Authenticated User"));
    phone.extra.clear();
    let challenge = only_response(&h.send(&phone.subscribe(Some(&set_dnd(true))), phone.peer, 2.0));
    phone.extra = as_user("1001", &challenge);
    let sent = h.send(&phone.subscribe(Some(&set_dnd(true))), phone.peer, 3.0);
    assert_eq!(split(&sent).0[0].status, 200);
    assert!(h.engine.features(&h.engine.config().entity_key(USER)).dnd);
}

#[test]
fn a_lost_notify_is_followed_by_everything_and_a_change_undone_in_flight_by_nothing() {
    let Site { mut h, mut a, b, .. } = site();
    // B's NOTIFY of DND is lost (it times out); meanwhile forwarding changes. B's next NOTIFY
    // carries both: it may never have had the DND.
    let sent = h.send(&a.subscribe(Some(&set_dnd(true))), a.peer, 1.0);
    for n in to(&sent, a.peer) {
        h.send(&answer(&n, 200), a.peer, 1.0);
    }
    assert_eq!(to(&sent, b.peer).len(), 1);
    let sent = h.send(&a.subscribe(Some(&set_forwarding("forwardBusy", true, "2002", ""))), a.peer, 2.0);
    for n in to(&sent, a.peer) {
        h.send(&answer(&n, 200), a.peer, 2.0);
    }
    assert!(to(&sent, b.peer).is_empty(), "merged behind the one in flight");
    h.engine.handle_timeout(h.at(40.0));
    let retry = to(&h.drain(), b.peer);
    assert_eq!(retry.len(), 1);
    let names: Vec<String> = events(&retry[0]).into_iter().map(|e| e[0].0.clone()).collect();
    assert_eq!(names.len(), 4, "everything after a loss: {names:?}");
    assert_eq!(dnd_of(&retry[0]), Some(true));
    h.send(&answer(&retry[0], 200), b.peer, 40.0);

    // DND off and on again while B's NOTIFY of it is in flight: B already shows on, and the
    // merged NOTIFY that would say it again is not sent.
    let sent = h.send(&a.subscribe(Some(&set_dnd(false))), a.peer, 41.0);
    for n in to(&sent, a.peer) {
        h.send(&answer(&n, 200), a.peer, 41.0);
    }
    let in_flight = to(&sent, b.peer);
    assert_eq!(dnd_of(&in_flight[0]), Some(false));
    let sent = h.send(&a.subscribe(Some(&set_dnd(true))), a.peer, 41.1);
    for n in to(&sent, a.peer) {
        h.send(&answer(&n, 200), a.peer, 41.1);
    }
    let after = h.send(&answer(&in_flight[0], 200), b.peer, 41.2);
    let next = to(&after, b.peer);
    assert_eq!(next.len(), 1, "on again is news to B, which was told off");
    assert_eq!(dnd_of(&next[0]), Some(true));
    h.send(&answer(&next[0], 200), b.peer, 41.3);
    // Off then on before B hears of either: nothing to tell it.
    let sent = h.send(&a.subscribe(Some(&set_dnd(false))), a.peer, 42.0);
    for n in to(&sent, a.peer) {
        h.send(&answer(&n, 200), a.peer, 42.0);
    }
    let in_flight = to(&sent, b.peer);
    let sent = h.send(&a.subscribe(Some(&set_dnd(true))), a.peer, 42.1);
    for n in to(&sent, a.peer) {
        h.send(&answer(&n, 200), a.peer, 42.1);
    }
    let sent = h.send(&a.subscribe(Some(&set_dnd(false))), a.peer, 42.2);
    for n in to(&sent, a.peer) {
        h.send(&answer(&n, 200), a.peer, 42.2);
    }
    let after = h.send(&answer(&in_flight[0], 200), b.peer, 42.3);
    assert!(to(&after, b.peer).is_empty(), "B was last told off, and off it is");
}
