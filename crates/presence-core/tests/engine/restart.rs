//! Restart continuity: the changes an engine emits, stored and loaded into a new
//! engine, let subscriptions go on in their dialogs with higher CSeq and version, end those
//! that expired meanwhile, and keep registrations, publications and pushed state.

use std::collections::HashMap;

use presence_core::api::{Command, VoicemailReason};
use presence_core::bodies::mwi::MessageCounts;
use presence_core::bodies::{dialog_info, pidf};
use presence_core::{Engine, EngineConfig, FlowId};
use presence_store::{MemoryStore, Store};
use sip_proto::HeaderName;

use crate::support::*;

const ENTITY: &str = "1001@pbx.example.com";
/// Unix milliseconds at the harness's t0.
const T0_MS: u64 = 1_790_000_000_000;

fn persistent(seed: u64) -> Harness {
    let mut h = Harness::with_config(EngineConfig { seed, ..EngineConfig::default() });
    h.engine.enable_persistence(h.t0, T0_MS);
    h
}

fn store_changes(h: &mut Harness, store: &mut MemoryStore) {
    store.apply(&h.engine.take_changes()).unwrap();
}

/// A new engine restored from `store`, `secs` after t0 (the same clock reading pair).
fn restart(old: &Harness, store: &mut MemoryStore, secs: f64) -> Harness {
    let mut h = Harness { engine: Engine::new(EngineConfig { seed: 99, ..EngineConfig::default() }), t0: old.t0 };
    h.engine.enable_persistence(h.t0, T0_MS);
    let flows = HashMap::from([(LOCAL.parse().unwrap(), FlowId(1))]);
    h.engine.restore(store.load().unwrap(), &flows, h.at(secs));
    h
}

/// 1001 registers from a phone that takes SUBSCRIBE; returns our SUBSCRIBE to it and the
/// phone's 200 (sent).
fn watched_phone(h: &mut Harness) -> (sip_proto::Request, sip_proto::Response) {
    use crate::watching::{ALLOW, phone_ok};
    let sent = h.send(&register(ENTITY, "reg", 1, &["<sip:1001@192.0.2.10:5062>"], ALLOW), udp_peer(), 0.0);
    let subscribe = split(&sent).1.into_iter().find(|r| r.method == sip_proto::Method::Subscribe).unwrap();
    let ok = phone_ok(&subscribe, 600);
    h.send(&ok.encode(), udp_peer(), 0.1);
    (subscribe, ok)
}

/// An integration's partial dialog update: call `call_id` in `state`.
fn call(call_id: &str, state: presence_core::call::CallState) -> Command {
    Command::Dialog {
        entity: ENTITY.into(),
        display: None,
        call_count: None,
        calls: presence_core::api::CallsUpdate::Partial(presence_core::call::Call::new(call_id, state)),
        call_id: None,
    }
}

#[test]
fn a_subscription_goes_on_in_its_dialog_with_higher_cseq_and_version() {
    let mut store = MemoryStore::new();
    let mut h = persistent(1);
    let mut watch = Watch::new("blf", "dialog", ENTITY);
    let (_, first) = established(&mut h, &mut watch, Some(600), 0.0);
    let before = (first.headers.cseq().unwrap().seq, dialog_info::parse(&first.body).unwrap().version);
    store_changes(&mut h, &mut store);

    let mut h = restart(&h, &mut store, 30.0);
    assert_eq!(h.engine.subscription_count(), 1);
    h.engine.handle_command(call("c1", presence_core::call::CallState::Early), h.at(31.0));
    let sent = h.drain();
    let (_, notifies) = split(&sent);
    let n = &notifies[0];
    assert_eq!(sent[0].destination, udp_peer(), "to the same address, through the same socket");
    assert_eq!(n.headers.call_id().unwrap(), "blf");
    assert_eq!(n.headers.to().unwrap().tag(), Some("w-blf"));
    assert_eq!(n.headers.from().unwrap().tag(), watch.to_tag.as_deref(), "our tag is the same");
    let after = (n.headers.cseq().unwrap().seq, dialog_info::parse(&n.body).unwrap().version);
    assert!(after.0 > before.0 && after.1 > before.1, "{before:?} -> {after:?}");
    assert_eq!(header(n, HeaderName::SubscriptionState), "active;expires=569", "the remaining lifetime is kept");

    // The phone's refresh in the same dialog is accepted: no re-SUBSCRIBE needed.
    h.send(&answer(n, 200), udp_peer(), 31.0);
    let (responses, _) = split(&h.send(&watch.subscribe(Some(600)), udp_peer(), 32.0));
    assert_eq!(responses[0].status, 200);
}

#[test]
fn subscriptions_that_expired_while_down_end_with_timeout() {
    let mut store = MemoryStore::new();
    let mut h = persistent(2);
    let mut watch = Watch::new("mwi", "message-summary", ENTITY);
    established(&mut h, &mut watch, Some(60), 0.0);
    store_changes(&mut h, &mut store);

    let mut h = restart(&h, &mut store, 120.0);
    let (_, notifies) = split(&h.drain());
    assert_eq!(header(&notifies[0], HeaderName::SubscriptionState), "terminated;reason=timeout");
    h.send(&answer(&notifies[0], 200), udp_peer(), 120.1);
    assert_eq!(h.engine.subscription_count(), 0);
    store_changes(&mut h, &mut store);
    assert!(store.load().unwrap().subscriptions.is_empty(), "and it is gone from storage");
}

#[test]
fn stream_bound_subscriptions_end_and_state_survives() {
    let mut store = MemoryStore::new();
    let mut h = persistent(3);
    let mut tcp_watch = Watch::new("tcp", "presence", ENTITY);
    let (_, notifies) = split(&h.send(&tcp_watch.subscribe(Some(600)), tcp_peer(), 0.0));
    h.send(&answer(&notifies[0], 200), tcp_peer(), 0.0);
    // A registration, a publication (DND) and pushed voicemail counts.
    h.send(&register(ENTITY, "reg", 1, &["<sip:1001@192.0.2.10:5062>"], "Expires: 600\r\n"), udp_peer(), 1.0);
    let dnd = zoiper_pidf(ENTITY, "open", "DND");
    let publish = Publish {
        entity: ENTITY,
        event: "presence",
        device: "z",
        if_match: None,
        expires: Some(600),
        body: Some(("application/pidf+xml", &dnd)),
    };
    h.send(&publish.encode("p1"), udp_peer(), 1.0);
    let counts = MessageCounts { new: 4, old: 1, new_urgent: 0, old_urgent: 0 };
    h.engine.handle_command(
        Command::Voicemail { entity: ENTITY.into(), counts, reason: VoicemailReason::Update },
        h.at(2.0),
    );
    h.drain();
    store_changes(&mut h, &mut store);

    let mut h = restart(&h, &mut store, 100.0);
    h.drain();
    assert_eq!(h.engine.subscription_count(), 0, "its TCP connection is gone");
    assert_eq!(h.engine.binding_count(), 1);
    assert_eq!(h.engine.publication_count(), 1);
    let mut watch = Watch::new("after", "presence", ENTITY);
    let (_, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 101.0));
    assert!(pidf::parse(&notifies[0].body).unwrap().dnd, "the publication's DND is back");
    let mut mwi = Watch::new("mwi-after", "message-summary", ENTITY);
    let (_, notifies) = split(&h.send(&mwi.subscribe(None), udp_peer(), 101.0));
    assert!(body(&notifies[0]).contains("Voice-Message: 4/1"), "pushed counts are back");
    // The binding keeps its remaining lifetime: it expires 600 s after it was made.
    h.engine.handle_timeout(h.at(600.9));
    assert_eq!(h.engine.binding_count(), 1);
    h.engine.handle_timeout(h.at(601.1));
    assert_eq!(h.engine.binding_count(), 0);
}

#[test]
fn a_subscription_on_a_socket_that_is_gone_is_forgotten() {
    let mut store = MemoryStore::new();
    let mut h = persistent(4);
    let mut watch = Watch::new("moved", "dialog", ENTITY);
    established(&mut h, &mut watch, Some(600), 0.0);
    store_changes(&mut h, &mut store);

    // The new run listens elsewhere: no UDP socket has the stored local address.
    let mut h = Harness { engine: Engine::new(EngineConfig::default()), t0: h.t0 };
    h.engine.enable_persistence(h.t0, T0_MS);
    let elsewhere = HashMap::from([("198.51.100.99:5060".parse().unwrap(), FlowId(1))]);
    h.engine.restore(store.load().unwrap(), &elsewhere, h.at(10.0));
    assert_eq!(h.engine.subscription_count(), 0);
    assert_eq!(h.engine.stats().subscriptions_lost, 1, "counted");
    store_changes(&mut h, &mut store);
    assert!(store.load().unwrap().subscriptions.is_empty(), "not reloaded at every start");
}

#[test]
fn a_phone_we_subscribe_to_keeps_its_dialog_and_its_dnd_across_a_restart() {
    use crate::watching::{phone_notify, polycom_busy};
    use sip_proto::Method;

    let mut store = MemoryStore::new();
    let mut h = persistent(5);
    let (subscribe, ok) = watched_phone(&mut h);
    store_changes(&mut h, &mut store);
    let busy = phone_notify(&subscribe, &ok, 1, "active;expires=600", Some(("application/xpidf+xml", polycom_busy())));
    assert_eq!(only_response(&h.send(&busy, udp_peer(), 0.2)).status, 200);
    let changes = h.engine.take_changes();
    assert!(
        changes.iter().all(|c| !matches!(c, presence_store::Change::PutEntity(_))),
        "the phone's report is stored with its watch, not as pushed entity state: {changes:?}"
    );
    store.apply(&changes).unwrap();

    let mut h = restart(&h, &mut store, 60.0);
    let changes = h.engine.take_changes();
    assert!(changes.iter().all(|c| !matches!(c, presence_store::Change::PutEntity(_))), "nor rewritten at restart");
    store.apply(&changes).unwrap();
    let (_, requests) = split(&h.drain());
    assert!(requests.iter().all(|r| r.method != Method::Subscribe), "no new SUBSCRIBE to the phone at restart");
    assert_eq!(h.engine.watch_count(), 1);
    let mut watch = Watch::new("after", "presence", ENTITY);
    let (_, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 61.0));
    assert!(pidf::parse(&notifies[0].body).unwrap().dnd, "the DND the phone reported is back at once");
    h.send(&answer(&notifies[0], 200), udp_peer(), 61.0);

    // Refreshed when it was due (three quarters of 600 s after the phone's 200), in the
    // same dialog, with a CSeq past the restart margin.
    h.engine.handle_timeout(h.at(450.0));
    assert!(split(&h.drain()).1.is_empty());
    h.engine.handle_timeout(h.at(450.2));
    let refresh = split(&h.drain()).1.remove(0);
    assert_eq!(refresh.method, Method::Subscribe);
    assert_eq!(refresh.headers.call_id().unwrap(), subscribe.headers.call_id().unwrap());
    assert_eq!(refresh.headers.to().unwrap().tag(), Some("phone-tag"));
    assert!(refresh.headers.cseq().unwrap().seq > subscribe.headers.cseq().unwrap().seq + 100);
    // The phone's next NOTIFY in the old dialog is still taken.
    let idle = phone_notify(&subscribe, &ok, 2, "active;expires=600", None);
    assert_eq!(only_response(&h.send(&idle, udp_peer(), 450.3)).status, 200);
}

#[test]
fn the_device_profile_survives_a_restart() {
    let mut store = MemoryStore::new();
    let mut h = persistent(6);
    let mut watch = Watch::new("bria", "dialog", ENTITY);
    let request = String::from_utf8(watch.subscribe(Some(600))).unwrap().replace("test-phone", "Bria 6");
    let (_, notifies) = split(&h.send(request.as_bytes(), udp_peer(), 0.0));
    h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);
    store_changes(&mut h, &mut store);

    let h = restart(&h, &mut store, 10.0);
    let views = h.engine.subscription_page(None, usize::MAX, h.at(10.0)).1;
    assert_eq!(views[0].profile.as_deref(), Some("bria"));
}

#[test]
fn a_binding_refreshed_with_reworded_contact_text_is_stored_once() {
    let mut h = persistent(7);
    let mut store = MemoryStore::new();
    h.send(&register(ENTITY, "reg1", 1, &["<sip:1001@192.0.2.10:5062>;expires=600"], ""), udp_peer(), 0.0);
    h.send(&register(ENTITY, "reg1", 2, &["<sip:1001@192.0.2.10:5062>"], "Expires: 600\r\n"), udp_peer(), 10.0);
    store_changes(&mut h, &mut store);
    assert_eq!(h.engine.binding_count(), 1, "the same contact, refreshed");
    assert_eq!(store.load().unwrap().bindings.len(), 1, "stored once, under its latest wording");
    let h = restart(&h, &mut store, 20.0);
    assert_eq!(h.engine.binding_count(), 1);
}

#[test]
fn state_stored_under_a_host_that_became_an_alias_moves_to_the_canonical_name() {
    const BY_ADDRESS: &str = "1001@10.0.0.5";
    let mut h = persistent(8);
    let mut store = MemoryStore::new();
    h.send(&register(BY_ADDRESS, "reg", 1, &["<sip:1001@192.0.2.10:5062>"], "Expires: 60\r\n"), udp_peer(), 0.0);
    let counts = MessageCounts { new: 2, old: 0, new_urgent: 0, old_urgent: 0 };
    h.engine.handle_command(
        Command::Voicemail { entity: BY_ADDRESS.into(), counts, reason: VoicemailReason::Update },
        h.at(1.0),
    );
    h.drain();
    store_changes(&mut h, &mut store);

    // The next run knows 10.0.0.5 as an alias of pbx.example.com.
    let config = || EngineConfig {
        seed: 98,
        domain_aliases: vec![("10.0.0.5".into(), "pbx.example.com".into())],
        ..EngineConfig::default()
    };
    let mut h = Harness { engine: Engine::new(config()), t0: h.t0 };
    h.engine.enable_persistence(h.t0, T0_MS);
    let flows = HashMap::from([(LOCAL.parse().unwrap(), FlowId(1))]);
    h.engine.restore(store.load().unwrap(), &flows, h.at(10.0));
    store_changes(&mut h, &mut store);
    let stored = store.load().unwrap();
    assert_eq!(stored.bindings.len(), 1);
    assert_eq!(stored.bindings[0].aor, ENTITY, "stored under the canonical name");
    assert_eq!(stored.entities.len(), 1);
    assert_eq!(stored.entities[0].entity, ENTITY);

    // When the binding expires, its row goes: nothing is left under the old name to come back.
    h.engine.handle_timeout(h.at(61.0));
    assert_eq!(h.engine.binding_count(), 0);
    store_changes(&mut h, &mut store);
    assert!(store.load().unwrap().bindings.is_empty());
}

#[test]
fn notifies_between_stores_still_leave_cseq_and_version_rising_after_a_restart() {
    let mut store = MemoryStore::new();
    let mut h = persistent(9);
    let mut watch = Watch::new("busy-line", "dialog", ENTITY);
    established(&mut h, &mut watch, Some(3600), 0.0);
    let mut puts = 0;
    let mut last = (0, 0);
    for n in 0..120 {
        let state =
            if n % 2 == 0 { presence_core::call::CallState::Early } else { presence_core::call::CallState::Terminated };
        let at = 1.0 + f64::from(n);
        h.engine.handle_command(call(&format!("c{}", n / 2), state), h.at(at));
        let (_, notifies) = split(&h.drain());
        let n = &notifies[0];
        last = (n.headers.cseq().unwrap().seq, dialog_info::parse(&n.body).unwrap().version);
        h.send(&answer(n, 200), udp_peer(), at);
        let changes = h.engine.take_changes();
        puts += changes.iter().filter(|c| matches!(c, presence_store::Change::PutSubscription(_))).count();
        store.apply(&changes).unwrap();
    }
    assert!(puts <= 4, "120 NOTIFYs stored the subscription {puts} times");

    let mut h = restart(&h, &mut store, 200.0);
    h.engine.handle_command(call("after", presence_core::call::CallState::Early), h.at(202.0));
    let (_, notifies) = split(&h.drain());
    let after = (notifies[0].headers.cseq().unwrap().seq, dialog_info::parse(&notifies[0].body).unwrap().version);
    assert!(after.0 > last.0 && after.1 > last.1, "{last:?} -> {after:?}");
}

#[test]
fn a_stored_publication_this_run_cannot_read_is_deleted_and_counted() {
    let mut store = MemoryStore::new();
    let record = |id, package: &str, body: &str| presence_store::PublicationRecord {
        id,
        entity: ENTITY.into(),
        package: package.into(),
        etag: format!("e{id}"),
        expires_at_ms: T0_MS + 600_000,
        device: "z".into(),
        dialog_version: None,
        content_type: "application/pidf+xml".into(),
        body: body.into(),
    };
    let good = zoiper_pidf(ENTITY, "open", "DND");
    let changes = [
        presence_store::Change::PutPublication { record: record(1, "presence", &good), if_etag: None },
        presence_store::Change::PutPublication { record: record(2, "presence", "<presence>not closed"), if_etag: None },
        presence_store::Change::PutPublication { record: record(3, "no-such-package", &good), if_etag: None },
    ];
    store.apply(&changes).unwrap();
    let old = persistent(10);
    let mut h = restart(&old, &mut store, 1.0);
    assert_eq!(h.engine.publication_count(), 1);
    assert_eq!(h.engine.stats().stored_records_dropped, 2);
    store_changes(&mut h, &mut store);
    let ids: Vec<u64> = store.load().unwrap().publications.iter().map(|p| p.id).collect();
    assert_eq!(ids, [1], "not reloaded at every start");
}

#[test]
fn a_stored_watch_whose_contact_no_longer_reads_is_dropped_and_counted() {
    let mut store = MemoryStore::new();
    let mut h = persistent(11);
    watched_phone(&mut h);
    store_changes(&mut h, &mut store);
    let mut watch = store.load().unwrap().watches.remove(0);
    watch.contact = "<sip:1001@".into();
    store.apply(&[presence_store::Change::PutWatch(watch)]).unwrap();

    let mut h = restart(&h, &mut store, 10.0);
    assert_eq!(h.engine.stats().stored_records_dropped, 1);
    store_changes(&mut h, &mut store);
    let watches = store.load().unwrap().watches;
    assert!(watches.iter().all(|w| w.contact != "<sip:1001@"), "the unreadable record is gone: {watches:?}");
}
