//! Device profiles chosen from the subscriber's User-Agent: what each one changes on the
//! wire (the 2xx status, single-dialog documents, the idle dummy dialog, callers shown
//! confirmed), that other phones are untouched, and that the choice shows in the look-up.

use presence_core::EngineConfig;
use presence_core::api::{CallsUpdate, Command};
use presence_core::bodies::dialog_info;
use presence_core::call::{Call, CallState, Direction};
use presence_core::profiles::{DeviceProfile, builtin};

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
    let (_, calls) = watch_as(&mut h, "Yealink SIP-T46S 66.86.0.15", "yealink");
    assert!(calls.is_empty(), "phones without the profile see the plain idle document");
    let views = h.engine.subscription_views(h.at(0.0));
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
    let mut profiles = vec![DeviceProfile {
        name: "old-rfc3265".into(),
        user_agents: vec!["OldPhone".into()],
        subscribe_status: 202,
        single_dialog: false,
        idle_dummy_dialog: false,
        caller_confirmed: false,
        pickup_prefix: None,
        min_notify_interval_ms: 0,
    }];
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
    let other = body(&mut h, "Yealink SIP-T46S", "yealink");
    assert!(other.contains(r#"<target uri="sip:2000@pbx.example.com"/></remote>"#), "{other}");
}

#[test]
fn a_rate_limited_profile_merges_changes_into_one_notify_per_interval_but_answers_refreshes_at_once() {
    let limited = DeviceProfile { min_notify_interval_ms: 1000, ..builtin()[1].clone() };
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
