//! Device profiles chosen from the subscriber's User-Agent, account or address: what each
//! one changes on the wire (the 2xx status, single-dialog documents, the idle dummy dialog,
//! callers shown confirmed, the presence format, the remote identity, the ringing note, MWI
//! urgent counts, a held empty first NOTIFY, tolerated NOTIFY timeouts), that other phones
//! are untouched, and that the choice shows in the look-up.

use std::collections::HashMap;

use presence_core::api::{CallsUpdate, Command, VoicemailReason};
use presence_core::bodies::dialog_info;
use presence_core::bodies::mwi::MessageCounts;
use presence_core::call::{Call, CallState, Direction};
use presence_core::profiles::{DeviceProfile, builtin};
use presence_core::{Engine, EngineConfig, FlowId};
use presence_store::{Change, MemoryStore, Store};
use sip_proto::HeaderName;

use crate::support::*;

const ENTITY: &str = "1001@pbx.example.com";

/// Subscribes to `ENTITY`'s dialogs as a phone with `user_agent`; returns the 2xx status and
/// the first NOTIFY's calls as (Call-ID, state).
fn watch_as(h: &mut Harness, user_agent: &str, call_id: &str) -> (u16, Vec<(String, CallState)>) {
    let mut watch = Watch::new(call_id, "dialog", ENTITY);
    let request = String::from_utf8(watch.subscribe(Some(600))).unwrap();
    let request = request.replace("User-Agent: test-phone", &format!("User-Agent: {user_agent}"));
    let (responses, notifies) = split(&h.send(request.as_bytes(), udp_peer(), 0.0));
    h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);
    let doc = dialog_info::parse(&notifies[0].body).unwrap();
    (responses[0].status, doc.calls.into_iter().map(|c| (c.call_id, c.state)).collect())
}

fn push_calls(h: &mut Harness, calls: Vec<Call>) {
    let command = Command::Dialog {
        entity: ENTITY.into(),
        display: None,
        call_count: None,
        calls: CallsUpdate::Full(calls),
        call_id: None,
    };
    h.engine.handle_command(command, h.at(0.0));
    for notify in split(&h.drain()).1 {
        h.send(&answer(&notify, 200), udp_peer(), 0.0);
    }
}

#[test]
fn bria_sees_an_idle_dummy_dialog_and_others_an_empty_document() {
    let mut h = Harness::new();
    let (status, calls) = watch_as(&mut h, "Bria 6 release 6.5.4", "bria");
    assert_eq!(status, 200);
    assert_eq!(calls, vec![("idle".to_owned(), CallState::Terminated)]);
    let (_, calls) = watch_as(&mut h, "Acme Phone 1.0", "acme");
    assert!(calls.is_empty(), "phones without the profile see the plain idle document");
    let views = h.engine.subscription_page(None, usize::MAX, h.at(0.0)).1;
    let profiles: Vec<Option<&str>> = views.iter().map(|v| v.profile.as_deref()).collect();
    assert_eq!(profiles, vec![Some("bria"), None], "the look-up shows the choice");
}

#[test]
fn an_spa962_sees_one_dialog_the_ringing_one_and_its_own_calls_confirmed() {
    let mut h = Harness::new();
    push_calls(&mut h, vec![Call::new("talking", CallState::Confirmed), Call::new("ringing", CallState::Early)]);
    let (_, calls) = watch_as(&mut h, "Linksys/SPA962-6.1.5(a)", "spa");
    assert_eq!(calls, vec![("ringing".to_owned(), CallState::Early)]);
    let (_, calls) = watch_as(&mut h, "PolycomVVX-VVX_411-UA/6.3.1", "vvx");
    assert_eq!(calls.len(), 2, "a multi-dialog phone sees both");

    let outgoing = Call { direction: Some(Direction::Initiator), ..Call::new("out", CallState::Early) };
    push_calls(&mut h, vec![outgoing]);
    let (_, calls) = watch_as(&mut h, "Linksys/SPA962-6.1.5(a)", "spa2");
    assert_eq!(calls, vec![("out".to_owned(), CallState::Confirmed)], "the caller's own call does not blink");
}

#[test]
fn a_configured_profile_answers_202_and_comes_before_the_builtins() {
    let mut profiles =
        vec![DeviceProfile { subscribe_status: 202, ..DeviceProfile::new("old-rfc3265", &["OldPhone"]) }];
    profiles.extend(builtin());
    let mut h = Harness::with_config(EngineConfig { profiles, ..EngineConfig::default() });
    let (status, _) = watch_as(&mut h, "OldPhone 1.0", "old");
    assert_eq!(status, 202);
    let (status, _) = watch_as(&mut h, "Bria 6", "bria");
    assert_eq!(status, 200);
}

#[test]
fn zoiper_gets_the_star_star_pickup_target_and_others_the_remote_party() {
    let mut h = Harness::new();
    let mut ringing = Call::new("ringing", CallState::Early);
    ringing.remote =
        Some(presence_core::call::Party { display: Some("Alice".into()), uri: "2000@pbx.example.com".into() });
    push_calls(&mut h, vec![ringing]);
    let body = |h: &mut Harness, user_agent: &str, call_id: &str| {
        let mut watch = Watch::new(call_id, "dialog", ENTITY);
        let request = String::from_utf8(watch.subscribe(Some(600))).unwrap().replace("test-phone", user_agent);
        let (_, notifies) = split(&h.send(request.as_bytes(), udp_peer(), 0.0));
        h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);
        body(&notifies[0])
    };
    let zoiper = body(&mut h, "Z 5.6.1 v2.10.20.6", "z");
    assert!(!zoiper.contains("**"), "a User-Agent without \"Zoiper\" is not matched");
    let zoiper = body(&mut h, "Zoiper rv2.10.20.6", "zoiper");
    assert!(zoiper.contains(r#"<target uri="sip:**1001@pbx.example.com"/></remote>"#), "{zoiper}");
    assert!(zoiper.contains(r#"<identity display="Alice">sip:2000@pbx.example.com</identity>"#));
    let other = body(&mut h, "Acme Phone 1.0", "acme");
    assert!(other.contains(r#"<target uri="sip:2000@pbx.example.com"/></remote>"#), "{other}");
    let grandstream = body(&mut h, "Grandstream GXP2170 1.0.11.3", "gxp");
    assert!(!grandstream.contains("Alice"), "Grandstream keys get no remote identity: {grandstream}");
    assert!(grandstream.contains(r#"<remote><target uri="sip:2000@pbx.example.com"/></remote>"#), "{grandstream}");
}

#[test]
fn a_rate_limited_profile_merges_changes_into_one_notify_per_interval_but_answers_refreshes_at_once() {
    let bria = builtin().into_iter().find(|p| p.name == "bria").unwrap();
    let limited = DeviceProfile { min_notify_interval_ms: 1000, ..bria };
    let mut h = Harness::with_config(EngineConfig { profiles: vec![limited], ..EngineConfig::default() });
    let mut watch = Watch::new("slow", "dialog", ENTITY);
    let request = String::from_utf8(watch.subscribe(Some(600))).unwrap().replace("test-phone", "Bria 6");
    let (responses, notifies) = split(&h.send(request.as_bytes(), udp_peer(), 0.0));
    watch.accepted(&responses[0]);
    h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);

    let ring = |h: &mut Harness, state, secs| {
        let calls = CallsUpdate::Full(vec![Call::new("c1", state)]);
        let command = Command::Dialog { entity: ENTITY.into(), display: None, call_count: None, calls, call_id: None };
        h.engine.handle_command(command, h.at(secs));
        split(&h.drain()).1
    };
    assert!(ring(&mut h, CallState::Early, 0.2).is_empty(), "held back within the interval");
    assert!(ring(&mut h, CallState::Confirmed, 0.5).is_empty(), "and merged with the next change");
    h.engine.handle_timeout(h.at(0.99));
    assert!(split(&h.drain()).1.is_empty());
    h.engine.handle_timeout(h.at(1.0));
    let (_, notifies) = split(&h.drain());
    assert_eq!(notifies.len(), 1, "one NOTIFY at the end of the interval");
    let doc = dialog_info::parse(&notifies[0].body).unwrap();
    assert_eq!(doc.calls.iter().map(|c| c.state).collect::<Vec<_>>(), vec![CallState::Confirmed], "the newest state");
    h.send(&answer(&notifies[0], 200), udp_peer(), 1.0);

    // A refresh right after still gets its NOTIFY at once (RFC 6665 §4.2.1.2).
    let (_, notifies) = split(&h.send(&watch.subscribe(Some(600)), udp_peer(), 1.1));
    assert_eq!(notifies.len(), 1);
}

/// Subscribes to `ENTITY`'s `event` as a phone with `user_agent` (and `accept`); returns the
/// 2xx status and the NOTIFYs sent at once, answered 200.
fn subscribe_as(
    h: &mut Harness,
    event: &str,
    accept: Option<&str>,
    user_agent: &str,
    call_id: &str,
) -> (u16, Vec<String>) {
    let mut watch = Watch::new(call_id, event, ENTITY);
    if let Some(accept) = accept {
        watch = watch.accept(accept);
    }
    let request = String::from_utf8(watch.subscribe(Some(600))).unwrap().replace("test-phone", user_agent);
    let (responses, notifies) = split(&h.send(request.as_bytes(), udp_peer(), 0.0));
    for notify in &notifies {
        h.send(&answer(notify, 200), udp_peer(), 0.0);
    }
    let described = notifies.iter().map(|n| format!("{}\n{}", header(n, HeaderName::ContentType), body(n))).collect();
    (responses[0].status, described)
}

#[test]
fn polycom_gets_xpidf_even_when_its_accept_lists_pidf_first() {
    let mut h = Harness::new();
    let accept = Some("application/pidf+xml, application/xpidf+xml");
    let (_, polycom) = subscribe_as(&mut h, "presence", accept, "PolycomVVX-VVX_411-UA/6.3.1", "vvx");
    assert!(polycom[0].starts_with("application/xpidf+xml\n"), "{polycom:?}");
    let (_, other) = subscribe_as(&mut h, "presence", accept, "Acme Phone 1.0", "acme");
    assert!(other[0].starts_with("application/pidf+xml\n"), "{other:?}");
    let pidf_only = Some("application/pidf+xml");
    let (_, polycom) = subscribe_as(&mut h, "presence", pidf_only, "PolycomVVX-VVX_411-UA/6.3.1", "vvx2");
    assert!(polycom[0].starts_with("application/pidf+xml\n"), "never a format it refused: {polycom:?}");
}

#[test]
fn microsip_reads_ringing_from_the_pidf_note() {
    let mut h = Harness::new();
    let mut ringing = Call::new("in", CallState::Early);
    ringing.direction = Some(Direction::Recipient);
    push_calls(&mut h, vec![ringing]);
    let (_, microsip) = subscribe_as(&mut h, "presence", None, "MicroSIP/3.21.3", "micro");
    assert!(microsip[0].contains("<note>Ringing</note>"), "{microsip:?}");
    let (_, other) = subscribe_as(&mut h, "presence", None, "Acme Phone 1.0", "acme");
    assert!(!other[0].contains("Ringing"), "{other:?}");
    push_calls(&mut h, vec![Call::new("in", CallState::Confirmed)]);
    let (_, microsip) = subscribe_as(&mut h, "presence", None, "MicroSIP/3.21.3", "micro2");
    assert!(microsip[0].contains("<note>On the phone</note>"), "answered: {microsip:?}");
}

#[test]
fn an_old_cisco_gets_mwi_counts_without_the_urgent_part() {
    let mut h = Harness::new();
    let counts = MessageCounts { new: 2, old: 8, new_urgent: 0, old_urgent: 0 };
    let reason = VoicemailReason::Update;
    h.engine.handle_command(Command::Voicemail { entity: ENTITY.into(), counts, reason }, h.at(0.0));
    let (_, cisco) = subscribe_as(&mut h, "message-summary", None, "Cisco-CP7960G/8.0", "cisco");
    assert!(cisco[0].ends_with("Voice-Message: 2/8\r\n"), "{cisco:?}");
    let (_, other) = subscribe_as(&mut h, "message-summary", None, "Acme Phone 1.0", "acme");
    assert!(other[0].ends_with("Voice-Message: 2/8 (0/0)\r\n"), "{other:?}");
}

#[test]
fn samsung_waits_for_the_first_counts_instead_of_an_empty_notify() {
    let config = EngineConfig { zero_voicemail_when_unknown: false, ..EngineConfig::default() };
    let mut h = Harness::with_config(config);
    h.engine.enable_persistence(h.t0, 0);
    let (status, samsung) = subscribe_as(&mut h, "message-summary", None, "SAMSUNG SMT-i5343", "samsung");
    assert_eq!((status, samsung.len()), (200, 0), "no NOTIFY while it would be empty: {samsung:?}");
    let stored = h.engine.take_changes();
    assert!(
        stored.iter().any(|c| matches!(c, Change::PutSubscription(r) if r.dialog.call_id == "samsung")),
        "the waiting subscription is stored all the same: {stored:?}"
    );
    let (_, other) = subscribe_as(&mut h, "message-summary", None, "Acme Phone 1.0", "acme");
    assert_eq!(other.len(), 1, "others get the immediate NOTIFY of RFC 6665 §4.2.1");
    assert!(!other[0].contains("Messages-Waiting"), "and it is empty: {other:?}");

    let counts = MessageCounts { new: 1, old: 0, new_urgent: 0, old_urgent: 0 };
    let reason = VoicemailReason::Update;
    h.engine.handle_command(Command::Voicemail { entity: ENTITY.into(), counts, reason }, h.at(1.0));
    let (_, notifies) = split(&h.drain());
    assert_eq!(notifies.len(), 2, "both hear of the counts");
    let samsung = notifies.iter().find(|n| header(n, HeaderName::CallId) == "samsung").unwrap();
    assert!(body(samsung).starts_with("Messages-Waiting: yes\r\n"), "{}", body(samsung));
}

#[test]
fn a_cisco_spa_outlasts_notify_timeouts_that_end_other_udp_subscriptions() {
    let mut h = Harness::new();
    let subscribe = |h: &mut Harness, user_agent: &str, call_id: &str| {
        let watch = &mut Watch::new(call_id, "dialog", ENTITY);
        let request = String::from_utf8(watch.subscribe(Some(3600))).unwrap().replace("test-phone", user_agent);
        // The first NOTIFY is answered, the later ones never.
        let (_, notifies) = split(&h.send(request.as_bytes(), udp_peer(), 0.0));
        h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);
    };
    subscribe(&mut h, "Cisco/SPA525G2-7.6.2", "spa");
    subscribe(&mut h, "Acme Phone 1.0", "acme");
    let ringing = presence_core::api::Command::Dialog {
        entity: ENTITY.into(),
        display: None,
        call_count: None,
        calls: presence_core::api::CallsUpdate::Full(vec![presence_core::call::Call::new(
            "c1",
            presence_core::call::CallState::Early,
        )]),
        call_id: None,
    };
    h.engine.handle_command(ringing, h.at(0.0));
    // Timer F is 64·T1 = 32 s: three timeouts end a plain subscription after about 96 s.
    let mut secs = 0.0;
    while secs < 130.0 {
        secs += 0.5;
        h.engine.handle_timeout(h.at(secs));
        h.drain();
    }
    let left: Vec<Option<String>> =
        h.engine.subscription_page(None, usize::MAX, h.at(secs)).1.into_iter().map(|v| v.profile).collect();
    assert_eq!(left, vec![Some("cisco-spa".to_owned())], "only the SPA is still subscribed");
}

#[test]
fn a_profile_assigned_to_an_address_beats_the_user_agent() {
    let lobby = DeviceProfile {
        subscribe_status: 202,
        addresses: vec!["192.0.2.0/24".parse().unwrap()],
        ..DeviceProfile::new("lobby", &[])
    };
    let mut profiles = builtin();
    profiles.push(lobby);
    let mut h = Harness::with_config(EngineConfig { profiles, ..EngineConfig::default() });
    let (status, _) = subscribe_as(&mut h, "dialog", None, "Bria 6", "bria");
    assert_eq!(status, 202, "the test peer's 192.0.2.10 is in the lobby's network");
    let views = h.engine.subscription_page(None, usize::MAX, h.at(0.0)).1;
    assert_eq!(views[0].profile.as_deref(), Some("lobby"));
}

#[test]
fn samsung_still_waits_for_the_first_counts_after_a_restart() {
    let config = || EngineConfig { zero_voicemail_when_unknown: false, ..EngineConfig::default() };
    let samsung = |raw: Vec<u8>| String::from_utf8(raw).unwrap().replace("test-phone", "SAMSUNG SMT-i5343");
    let mut h = Harness::with_config(config());
    h.engine.enable_persistence(h.t0, 0);
    let mut watch = Watch::new("samsung", "message-summary", ENTITY);
    let (responses, notifies) = split(&h.send(samsung(watch.subscribe(Some(600))).as_bytes(), udp_peer(), 0.0));
    watch.accepted(&responses[0]);
    assert!(notifies.is_empty());
    let mut store = MemoryStore::new();
    store.apply(&h.engine.take_changes()).unwrap();

    let mut h = Harness { engine: Engine::new(config()), t0: h.t0 };
    h.engine.enable_persistence(h.t0, 0);
    let flows = HashMap::from([(LOCAL.parse().unwrap(), FlowId(1))]);
    h.engine.restore(store.load().unwrap(), &flows, h.at(10.0));
    let (responses, notifies) = split(&h.send(samsung(watch.subscribe(Some(600))).as_bytes(), udp_peer(), 10.0));
    assert_eq!(responses[0].status, 200, "the refresh finds its subscription");
    assert!(
        notifies.is_empty(),
        "still no empty NOTIFY after the restart: {:?}",
        notifies.iter().map(body).collect::<Vec<_>>()
    );

    let counts = MessageCounts { new: 1, old: 0, new_urgent: 0, old_urgent: 0 };
    let reason = VoicemailReason::Update;
    h.engine.handle_command(Command::Voicemail { entity: ENTITY.into(), counts, reason }, h.at(11.0));
    let (_, notifies) = split(&h.drain());
    assert!(body(&notifies[0]).starts_with("Messages-Waiting: yes\r\n"));
}
