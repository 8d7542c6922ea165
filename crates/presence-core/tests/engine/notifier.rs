//! The notifier role (RFC 6665 §4.2) on a virtual clock: accepting, refusing,
//! refreshing, expiring and ending subscriptions, the NOTIFYs they get, and how NOTIFY
//! outcomes and state changes are handled.

use presence_core::api::{CallsUpdate, Command, InEvent, VoicemailReason};
use presence_core::bodies::mwi::MessageCounts;
use presence_core::bodies::{Basic, dialog_info, pidf, xpidf};
use presence_core::call::{Call, CallState};
use presence_core::{EngineConfig, Peer};
use sip_proto::HeaderName;

use crate::support::*;

#[test]
fn subscribe_gets_200_with_expires_and_an_immediate_notify() {
    let mut h = Harness::new();
    let mut watch = Watch::new("blf1", "presence", "1001@PBX.example.com");
    let (ok, notify) = established(&mut h, &mut watch, Some(600), 0.0);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.expires().unwrap(), Some(600));
    assert!(ok.headers.get(&HeaderName::Contact).unwrap().contains("198.51.100.1:5060"));

    assert_eq!(notify.uri.to_string(), "sip:1002@192.168.1.50:5062", "NOTIFY targets the Contact");
    assert_eq!(header(&notify, HeaderName::Event), "presence");
    assert_eq!(header(&notify, HeaderName::SubscriptionState), "active;expires=600");
    assert_eq!(header(&notify, HeaderName::ContentType), "application/pidf+xml");
    assert_eq!(notify.headers.cseq().unwrap().seq, 1);
    assert_eq!(notify.headers.from().unwrap().tag(), watch.to_tag.as_deref(), "From tag is the 2xx To tag");
    assert_eq!(notify.headers.to().unwrap().tag(), Some("w-blf1"));
    let report = pidf::parse(&notify.body).unwrap();
    assert_eq!((report.status, report.dnd, report.on_the_phone), (Basic::Open, false, false));
    assert!(body(&notify).contains(r#"entity="sip:1001@pbx.example.com""#), "host lowercased");

    match h.engine.poll_event() {
        Some(InEvent::SubscribeIn(w)) => {
            assert_eq!(w.entity, "1001@pbx.example.com", "the watched resource, not the subscriber");
            assert_eq!(w.subscriber, "1002@pbx.example.com");
            assert_eq!((w.expires, w.call_id.as_str(), w.content_type), (600, "blf1", "application/pidf+xml"));
        }
        other => panic!("expected presence.subscribe.in, got {other:?}"),
    }
}

#[test]
fn refusals_489_406_423_and_400() {
    let mut h = Harness::new();
    let refuse = |h: &mut Harness, watch: &mut Watch, expires| {
        only_response(&h.send(&watch.subscribe(expires), udp_peer(), 0.0))
    };

    let r = refuse(&mut h, &mut Watch::new("e1", "talk", "1001@pbx.example.com"), None);
    assert_eq!(r.status, 489);
    assert_eq!(r.headers.allow_events().unwrap(), vec!["presence", "dialog", "message-summary", "as-feature-event"]);

    let r = refuse(&mut h, &mut Watch::new("e2", "presence", "1001@pbx.example.com").accept("text/plain"), None);
    assert_eq!(r.status, 406);
    assert_eq!(
        r.headers.get_all(&HeaderName::Accept).collect::<Vec<_>>(),
        vec!["application/pidf+xml", "application/xpidf+xml"]
    );

    let r = refuse(&mut h, &mut Watch::new("e3", "dialog", "1001@pbx.example.com"), Some(10));
    assert_eq!((r.status, r.headers.min_expires().unwrap()), (423, Some(60)));

    let raw = String::from_utf8(Watch::new("e4", "dialog", "1001@pbx.example.com").subscribe(None))
        .unwrap()
        .replace("Contact: <sip:1002@192.168.1.50:5062>\r\n", "");
    let r = only_response(&h.send(raw.as_bytes(), udp_peer(), 0.0));
    assert_eq!((r.status, r.reason.as_str()), (400, "Missing Contact header"));

    // A subscriber is a SIP address-of-record: another scheme in From is refused.
    let raw = String::from_utf8(Watch::new("e5", "dialog", "1001@pbx.example.com").subscribe(None))
        .unwrap()
        .replace("<sip:1002@pbx.example.com>", "<s4p:1002@pbx.example.com>");
    let r = only_response(&h.send(raw.as_bytes(), udp_peer(), 0.0));
    assert_eq!((r.status, r.reason.as_str()), (400, "From Is Not a SIP URI"));
    assert_eq!(h.engine.subscription_count(), 0);
    assert!(h.engine.poll_event().is_none());
}

#[test]
fn expiry_is_defaulted_and_capped() {
    let mut h = Harness::new();
    let (ok, _) = established(&mut h, &mut Watch::new("x1", "dialog", "1001@pbx.example.com"), None, 0.0);
    assert_eq!(ok.headers.expires().unwrap(), Some(3600));
    let (ok, notify) = established(&mut h, &mut Watch::new("x2", "dialog", "1001@pbx.example.com"), Some(86400), 0.0);
    assert_eq!(ok.headers.expires().unwrap(), Some(3600));
    assert_eq!(header(&notify, HeaderName::SubscriptionState), "active;expires=3600");
}

#[test]
fn expiry_sends_terminated_timeout_and_a_refresh_extends_it() {
    let mut h = Harness::new();
    let mut watch = Watch::new("r1", "dialog", "1001@pbx.example.com");
    established(&mut h, &mut watch, Some(120), 0.0);

    // Refresh at 100 s: 200, a NOTIFY showing the new remaining time.
    let (responses, notifies) = split(&h.send(&watch.subscribe(Some(120)), udp_peer(), 100.0));
    assert_eq!(responses[0].headers.expires().unwrap(), Some(120));
    assert_eq!(header(&notifies[0], HeaderName::SubscriptionState), "active;expires=120");
    h.send(&answer(&notifies[0], 200), udp_peer(), 100.0);

    // Past the first expiry (120 s) it is still alive.
    h.engine.handle_timeout(h.at(150.0));
    assert!(h.drain().is_empty());
    assert_eq!(h.engine.subscription_count(), 1);

    // At 220 s it expires: terminated;reason=timeout, then it is gone.
    h.engine.handle_timeout(h.at(220.0));
    let (_, notifies) = split(&h.drain());
    assert_eq!(header(&notifies[0], HeaderName::SubscriptionState), "terminated;reason=timeout");
    h.send(&answer(&notifies[0], 200), udp_peer(), 220.1);
    assert_eq!(h.engine.subscription_count(), 0);
    let refresh = only_response(&h.send(&watch.subscribe(Some(120)), udp_peer(), 221.0));
    assert_eq!(refresh.status, 481);
}

#[test]
fn unsubscribe_and_fetch_end_with_a_terminated_notify_carrying_state() {
    let mut h = Harness::new();
    let mut watch = Watch::new("u1", "message-summary", "1001@pbx.example.com");
    established(&mut h, &mut watch, Some(3600), 0.0);
    let (responses, notifies) = split(&h.send(&watch.subscribe(Some(0)), udp_peer(), 5.0));
    assert_eq!((responses[0].status, responses[0].headers.expires().unwrap()), (200, Some(0)));
    assert_eq!(header(&notifies[0], HeaderName::SubscriptionState), "terminated;reason=timeout");
    assert!(body(&notifies[0]).starts_with("Messages-Waiting: no"));
    h.send(&answer(&notifies[0], 200), udp_peer(), 5.0);
    assert_eq!(h.engine.subscription_count(), 0);

    // Out-of-dialog Expires: 0 is a fetch.
    let mut fetch = Watch::new("f1", "presence", "1001@pbx.example.com");
    let (responses, notifies) = split(&h.send(&fetch.subscribe(Some(0)), udp_peer(), 6.0));
    assert_eq!((responses[0].status, responses[0].headers.expires().unwrap()), (200, Some(0)));
    assert_eq!(header(&notifies[0], HeaderName::SubscriptionState), "terminated;reason=timeout");
    assert!(pidf::parse(&notifies[0].body).is_ok());
    h.send(&answer(&notifies[0], 200), udp_peer(), 6.0);
    assert_eq!(h.engine.subscription_count(), 0);
}

#[test]
fn changes_during_an_inflight_notify_are_merged_into_one() {
    let mut h = Harness::new();
    let mut watch = Watch::new("m1", "message-summary", "1001@pbx.example.com");
    established(&mut h, &mut watch, Some(3600), 0.0);
    let counts = |new| Command::Voicemail {
        entity: "1001@pbx.example.com".into(),
        counts: MessageCounts { new, old: 0, new_urgent: 0, old_urgent: 0 },
        reason: VoicemailReason::Update,
    };
    h.engine.handle_command(counts(1), h.at(1.0));
    let first = split(&h.drain()).1;
    assert_eq!(first.len(), 1);
    assert!(body(&first[0]).contains("Voice-Message: 1/0"));
    for n in 2..=5 {
        h.engine.handle_command(counts(n), h.at(1.1));
    }
    assert!(h.drain().is_empty(), "nothing more while one NOTIFY is in flight");
    let (_, next) = split(&h.send(&answer(&first[0], 200), udp_peer(), 1.2));
    assert_eq!(next.len(), 1, "one NOTIFY with the newest state");
    assert!(body(&next[0]).contains("Voice-Message: 5/0"));
    assert!(next[0].headers.cseq().unwrap().seq > first[0].headers.cseq().unwrap().seq);
    assert!(h.send(&answer(&next[0], 200), udp_peer(), 1.3).is_empty());
}

#[test]
fn blf_sees_ring_answer_end_then_idle_with_rising_versions() {
    let mut h = Harness::new();
    let mut watch = Watch::new("d1", "dialog", "1001@pbx.example.com");
    let (_, initial) = established(&mut h, &mut watch, Some(3600), 0.0);
    let idle = dialog_info::parse(&initial.body).unwrap();
    assert_eq!((idle.version, idle.calls.len()), (0, 0));

    let mut seen = vec![];
    for (secs, state) in [(1.0, CallState::Early), (2.0, CallState::Confirmed), (3.0, CallState::Terminated)] {
        let dialog = Command::Dialog {
            entity: "sip:1001@pbx.example.com".into(),
            display: Some("Alice".into()),
            call_count: None,
            calls: CallsUpdate::Partial(Call::new("call-a", state)),
            call_id: None,
        };
        h.engine.handle_command(dialog, h.at(secs));
        let (_, notifies) = split(&h.drain());
        assert_eq!(notifies.len(), 1, "{state:?}");
        let doc = dialog_info::parse(&notifies[0].body).unwrap();
        seen.push((doc.version, doc.calls.iter().map(|c| c.state).collect::<Vec<_>>()));
        h.send(&answer(&notifies[0], 200), udp_peer(), secs);
    }
    assert_eq!(
        seen,
        vec![(1, vec![CallState::Early]), (2, vec![CallState::Confirmed]), (3, vec![CallState::Terminated])]
    );
    // The next document is idle: the ended call is not shown again.
    let (_, again) = split(&h.send(&watch.subscribe(Some(3600)), udp_peer(), 4.0));
    let doc = dialog_info::parse(&again[0].body).unwrap();
    assert_eq!((doc.version, doc.calls.len()), (4, 0));
}

#[test]
fn presence_watchers_in_each_format_see_dnd_and_calls() {
    let mut h = Harness::new();
    let mut pidf_watch = Watch::new("p1", "presence", "1001@pbx.example.com");
    let mut xpidf_watch = Watch::new("p2", "presence", "1001@pbx.example.com").accept("application/xpidf+xml");
    established(&mut h, &mut pidf_watch, None, 0.0);
    let (_, first_x) = established(&mut h, &mut xpidf_watch, None, 0.0);
    assert_eq!(header(&first_x, HeaderName::ContentType), "application/xpidf+xml");

    let dnd = Command::Status {
        entity: "1001@pbx.example.com".into(),
        basic: Basic::Open,
        note: Some("DND".into()),
        dnd: true,
        on_the_phone: false,
    };
    h.engine.handle_command(dnd, h.at(1.0));
    let (_, notifies) = split(&h.drain());
    assert_eq!(notifies.len(), 2, "one NOTIFY per watcher");
    for n in &notifies {
        let report = match header(n, HeaderName::ContentType) {
            "application/pidf+xml" => pidf::parse(&n.body).unwrap(),
            _ => xpidf::parse(&n.body).unwrap(),
        };
        assert!(report.dnd, "{}", body(n));
        h.send(&answer(n, 200), udp_peer(), 1.0);
    }

    let busy =
        Command::Registration { entity: "1001@pbx.example.com".into(), registered: true, call_count: 1, call_id: None };
    h.engine.handle_command(busy, h.at(2.0));
    for n in split(&h.drain()).1 {
        let report = if header(&n, HeaderName::ContentType) == "application/pidf+xml" {
            pidf::parse(&n.body)
        } else {
            xpidf::parse(&n.body)
        };
        assert!(report.unwrap().on_the_phone);
    }
}

#[test]
fn notify_481_or_error_ends_the_subscription_without_more_notifies() {
    for status in [481, 500, 603] {
        let mut h = Harness::new();
        let mut watch = Watch::new("n1", "presence", "1001@pbx.example.com");
        let (_, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 0.0));
        assert!(h.send(&answer(&notifies[0], status), udp_peer(), 0.1).is_empty(), "{status}");
        assert_eq!(h.engine.subscription_count(), 0, "{status}");
        assert_eq!(h.engine.stats().subscriptions_lost, 1);
    }
}

#[test]
fn udp_subscription_survives_two_timeouts_and_ends_at_the_third() {
    let mut h = Harness::new();
    let mut watch = Watch::new("t1", "presence", "1001@pbx.example.com");
    // The watcher answers its first NOTIFY, so it is where it said it was; then falls silent.
    established(&mut h, &mut watch, None, 0.0);
    let dnd = presence_core::api::Command::Status {
        entity: "1001@pbx.example.com".into(),
        basic: presence_core::bodies::Basic::Open,
        note: Some("DND".into()),
        dnd: true,
        on_the_phone: false,
    };
    h.engine.handle_command(dnd, h.at(1.0));
    let (_, notifies) = split(&h.drain());
    let first_cseq = notifies[0].headers.cseq().unwrap().seq;
    // Timer E retransmits the same NOTIFY.
    h.engine.handle_timeout(h.at(1.5));
    let again = split(&h.drain()).1;
    assert_eq!(again[0].headers.cseq().unwrap().seq, first_cseq, "a retransmission, not a new NOTIFY");

    let mut t = 1.0;
    let mut sent_notifies = 0;
    while h.engine.subscription_count() > 0 && t < 200.0 {
        t += 0.5;
        h.engine.handle_timeout(h.at(t));
        let fresh: Vec<_> =
            split(&h.drain()).1.into_iter().filter(|n| n.headers.cseq().unwrap().seq > first_cseq).collect();
        sent_notifies +=
            fresh.iter().map(|n| n.headers.cseq().unwrap().seq).collect::<std::collections::BTreeSet<_>>().len();
    }
    assert_eq!(h.engine.subscription_count(), 0);
    assert_eq!(h.engine.stats().notify_timeouts, 3);
    assert!((97.0..98.0).contains(&t), "three Timer F periods of 32 s, ended at {t}");
    assert!(sent_notifies >= 2, "a new NOTIFY is tried after each timeout");
}

/// A forged source never answers: its subscription costs one NOTIFY's retransmissions and
/// ends at that NOTIFY's timeout, with nothing more sent to the address it named.
#[test]
fn a_subscription_whose_first_notify_is_never_answered_ends_at_its_timeout() {
    let mut h = Harness::new();
    let victim = presence_core::Peer { addr: "203.0.113.50:5060".parse().unwrap(), ..udp_peer() };
    let subscribe = Watch::new("forged", "dialog", "1001@pbx.example.com").subscribe(Some(3600));
    let mut bytes_out: usize = h.send(&subscribe, victim, 0.0).iter().map(|t| t.payload.len()).sum();
    let mut t = 0.0;
    while t < 200.0 {
        t += 0.5;
        h.engine.handle_timeout(h.at(t));
        bytes_out += h.drain().iter().map(|t| t.payload.len()).sum::<usize>();
    }
    assert_eq!(h.engine.subscription_count(), 0, "ended at the first timeout");
    assert_eq!(h.engine.stats().notify_timeouts, 1);
    let factor = bytes_out as f64 / subscribe.len() as f64;
    eprintln!("one forged SUBSCRIBE of {} bytes: {bytes_out} bytes sent ({factor:.1}x)", subscribe.len());
    assert!(bytes_out < 16 * 1024, "one NOTIFY and its Timer E retransmissions: {bytes_out} bytes");
}

#[test]
fn stream_subscription_ends_at_the_first_timeout_or_when_its_flow_closes() {
    let mut h = Harness::new();
    let mut watch = Watch::new("tcp1", "presence", "1001@pbx.example.com");
    let (_, notifies) = split(&h.send(&watch.subscribe(None), tcp_peer(), 0.0));
    assert!(notifies[0].headers.get(&HeaderName::Contact).unwrap().contains("transport=tcp"));
    assert!(header(&notifies[0], HeaderName::Via).starts_with("SIP/2.0/TCP"));
    h.engine.handle_timeout(h.at(32.0));
    assert_eq!(h.engine.subscription_count(), 0);

    let mut other = Watch::new("tcp2", "presence", "1001@pbx.example.com");
    let (_, notifies) = split(&h.send(&other.subscribe(None), tcp_peer(), 40.0));
    h.send(&answer(&notifies[0], 200), tcp_peer(), 40.0);
    assert_eq!(h.engine.subscription_count(), 1);
    h.engine.handle_flow_closed(tcp_peer().flow.unwrap(), h.at(41.0));
    assert_eq!(h.engine.subscription_count(), 0);
}

#[test]
fn several_keys_of_one_phone_and_several_watchers_of_one_entity() {
    let mut h = Harness::new();
    let mut keys: Vec<Watch> = ["1001", "1003", "1004"]
        .iter()
        .map(|ext| Watch::new(&format!("key-{ext}"), "dialog", &format!("{ext}@pbx.example.com")))
        .collect();
    for key in &mut keys {
        established(&mut h, key, None, 0.0);
    }
    let mut second_phone = Watch::new("other-phone", "dialog", "1001@pbx.example.com");
    established(&mut h, &mut second_phone, None, 0.0);
    let ring = Command::Dialog {
        entity: "1001@pbx.example.com".into(),
        display: None,
        call_count: None,
        calls: CallsUpdate::Full(vec![Call::new("c1", CallState::Early)]),
        call_id: None,
    };
    h.engine.handle_command(ring, h.at(1.0));
    let notified: Vec<String> = split(&h.drain()).1.iter().map(|n| n.headers.call_id().unwrap().to_owned()).collect();
    assert_eq!(notified.len(), 2);
    assert!(notified.contains(&"key-1001".to_owned()) && notified.contains(&"other-phone".to_owned()));
}

#[test]
fn call_id_targets_one_watcher_even_without_a_change() {
    let mut h = Harness::new();
    let mut a = Watch::new("ta", "presence", "1001@pbx.example.com");
    let mut b = Watch::new("tb", "presence", "1001@pbx.example.com");
    established(&mut h, &mut a, None, 0.0);
    established(&mut h, &mut b, None, 0.0);
    let registered = |call_id: Option<&str>| Command::Registration {
        entity: "1001@pbx.example.com".into(),
        registered: true,
        call_count: 0,
        call_id: call_id.map(str::to_owned),
    };
    h.engine.handle_command(registered(None), h.at(1.0));
    let (_, both) = split(&h.drain());
    assert_eq!(both.len(), 2, "registration is new state");
    for n in &both {
        h.send(&answer(n, 200), udp_peer(), 1.0);
    }
    h.engine.handle_command(registered(Some("tb")), h.at(2.0));
    let (_, targeted) = split(&h.drain());
    assert_eq!(targeted.len(), 1);
    assert_eq!(targeted[0].headers.call_id().unwrap(), "tb");
}

#[test]
fn check_sync_rides_on_the_mwi_dialog_and_a_refusal_keeps_it() {
    let mut h = Harness::new();
    let mut mwi = Watch::new("cs", "message-summary", "1001@pbx.example.com");
    established(&mut h, &mut mwi, None, 0.0);
    h.engine.handle_command(Command::CheckSync { entity: "1001@pbx.example.com".into() }, h.at(1.0));
    let (_, notifies) = split(&h.drain());
    assert_eq!(header(&notifies[0], HeaderName::Event), "check-sync");
    assert!(notifies[0].body.is_empty());
    h.send(&answer(&notifies[0], 489), udp_peer(), 1.1);
    assert_eq!(h.engine.subscription_count(), 1, "a phone without check-sync keeps its MWI subscription");
    h.engine.handle_command(Command::CheckSync { entity: "9999@pbx.example.com".into() }, h.at(2.0));
    assert_eq!(h.engine.entity_page("9999", 0, 10).0, 0, "a check-sync makes no entity");
}

#[test]
fn refresh_with_an_old_cseq_gets_500_and_unknown_dialog_481() {
    let mut h = Harness::new();
    let mut watch = Watch::new("c1", "presence", "1001@pbx.example.com");
    established(&mut h, &mut watch, None, 0.0);
    watch.cseq = 4;
    let (responses, _) = split(&h.send(&watch.subscribe(None), udp_peer(), 1.0));
    assert_eq!(responses[0].status, 200);
    watch.cseq = 2;
    assert_eq!(only_response(&h.send(&watch.subscribe(None), udp_peer(), 1.0)).status, 500);

    watch.to_tag = Some("not-ours".into());
    watch.cseq = 10;
    assert_eq!(only_response(&h.send(&watch.subscribe(None), udp_peer(), 1.0)).status, 481);
}

#[test]
fn dummy_voicemail_off_sends_no_body_until_counts_arrive() {
    let mut h =
        Harness::with_config(EngineConfig { zero_voicemail_when_unknown: false, seed: 1, ..EngineConfig::default() });
    let mut mwi = Watch::new("dv", "message-summary", "1001@pbx.example.com");
    let (_, first) = established(&mut h, &mut mwi, None, 0.0);
    assert!(first.body.is_empty() && first.headers.get(&HeaderName::ContentType).is_none());
    assert!(matches!(h.engine.poll_event(), Some(InEvent::VoicemailIn(_))));
}

#[test]
fn notifies_go_to_the_subscribe_source_through_the_route_set() {
    let mut h = Harness::new();
    let raw = String::from_utf8(Watch::new("rr", "presence", "1001@pbx.example.com").subscribe(None))
        .unwrap()
        .replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRecord-Route: <sip:proxy.example.com;lr>\r\n");
    let natted = Peer { addr: "203.0.113.9:31000".parse().unwrap(), ..udp_peer() };
    let sent = h.send(raw.as_bytes(), natted, 0.0);
    let (responses, notifies) = split(&sent);
    assert_eq!(responses[0].headers.get(&HeaderName::RecordRoute), Some("<sip:proxy.example.com;lr>"));
    assert_eq!(header(&notifies[0], HeaderName::Route), "<sip:proxy.example.com;lr>");
    assert_eq!(sent[1].destination.addr, natted.addr, "NOTIFY goes where the SUBSCRIBE came from");
}

#[test]
fn subscription_quotas_per_watcher_and_per_entity_answer_503() {
    let config =
        EngineConfig { max_subscriptions_per_entity: 3, max_subscriptions_per_watcher: 2, ..EngineConfig::default() };
    let mut h = Harness::with_config(config);
    let status = |h: &mut Harness, call_id: &str, from: Peer| {
        let mut watch = Watch::new(call_id, "dialog", "1001@pbx.example.com");
        let sent = h.send(&watch.subscribe(Some(600)), from, 0.0);
        split(&sent).0[0].clone()
    };
    let phone = udp_peer();
    let other_phone = Peer { addr: "192.0.2.11:5062".parse().unwrap(), ..udp_peer() };
    assert_eq!(status(&mut h, "k1", phone).status, 200);
    assert_eq!(status(&mut h, "k2", phone).status, 200, "two BLF keys for one extension are fine");
    let looping = status(&mut h, "k3", phone);
    assert_eq!((looping.status, looping.reason.as_str()), (503, "Too Many Subscriptions From This Watcher"));
    assert_eq!(looping.headers.get(&HeaderName::RetryAfter), Some("60"));
    assert_eq!(status(&mut h, "o1", other_phone).status, 200, "other watchers are not locked out");
    let full = status(&mut h, "o2", other_phone);
    assert_eq!((full.status, full.reason.as_str()), (503, "Too Many Subscriptions"));
}

/// The entity look-up lists every entity some component holds (pushed state, watchers,
/// bindings) in pages, and drops one when its last holder lets go.
#[test]
fn entity_pages_list_what_any_component_holds() {
    let mut h = Harness::new();
    let voicemail = |entity: &str| Command::Voicemail {
        entity: entity.into(),
        counts: MessageCounts { new: 1, old: 0, new_urgent: 0, old_urgent: 0 },
        reason: VoicemailReason::Update,
    };
    h.engine.handle_command(voicemail("1001@pbx.example.com"), h.at(0.0));
    let mut watch = Watch::new("page1", "dialog", "1003@pbx.example.com");
    established(&mut h, &mut watch, Some(600), 0.0);
    h.send(&register("1004@pbx.example.com", "r1", 1, &["<sip:1004@192.0.2.10:5062>"], ""), udp_peer(), 0.0);
    h.drain();

    let names = |page: &[presence_core::views::EntityView]| page.iter().map(|v| v.entity.clone()).collect::<Vec<_>>();
    let (total, page) = h.engine.entity_page("", 1, 10);
    assert_eq!((total, names(&page)), (3, vec!["1003@pbx.example.com".to_owned(), "1004@pbx.example.com".to_owned()]));
    assert_eq!(h.engine.entity_page("1003", 0, 10).0, 1);
    assert_eq!(page[0].watchers, 1);

    // The watcher unsubscribes: once its final NOTIFY is answered, 1003 is held by nobody.
    let sent = h.send(&watch.subscribe(Some(0)), udp_peer(), 1.0);
    let (_, notifies) = split(&sent);
    h.send(&answer(&notifies[0], 200), udp_peer(), 1.0);
    let (total, page) = h.engine.entity_page("", 0, 10);
    assert_eq!((total, names(&page)), (2, vec!["1001@pbx.example.com".to_owned(), "1004@pbx.example.com".to_owned()]));
}

/// The per-watcher quota follows a subscription whose refresh comes from a new address (a
/// rebound NAT), and an ended subscription no longer counts.
#[test]
fn the_watcher_quota_follows_a_refresh_from_a_new_address() {
    let config = EngineConfig { max_subscriptions_per_watcher: 2, ..EngineConfig::default() };
    let mut h = Harness::with_config(config);
    let moved = Peer { addr: "192.0.2.77:6000".parse().unwrap(), ..udp_peer() };
    let mut first = Watch::new("q1", "dialog", "1001@pbx.example.com");
    let mut second = Watch::new("q2", "dialog", "1001@pbx.example.com");
    established(&mut h, &mut first, Some(600), 0.0);
    established(&mut h, &mut second, Some(600), 0.0);
    let status = |h: &mut Harness, call_id: &str, secs: f64| {
        let mut watch = Watch::new(call_id, "dialog", "1001@pbx.example.com");
        split(&h.send(&watch.subscribe(Some(600)), udp_peer(), secs)).0[0].status
    };
    assert_eq!(status(&mut h, "q3", 1.0), 503, "two from this address already");
    let (responses, notifies) = split(&h.send(&first.subscribe(Some(600)), moved, 2.0));
    assert_eq!(responses[0].status, 200);
    h.send(&answer(&notifies[0], 200), moved, 2.0);
    assert_eq!(status(&mut h, "q4", 3.0), 200, "the refreshed one now counts for its new address");
    let (_, notifies) = split(&h.send(&second.subscribe(Some(0)), udp_peer(), 4.0));
    h.send(&answer(&notifies[0], 200), udp_peer(), 4.0);
    assert_eq!(status(&mut h, "q5", 5.0), 200, "an ended subscription frees its place");
}

/// Calls whose identifiers are long can add up past what a datagram holds: the document
/// leaves calls out until it fits, the NOTIFY still goes, and the trim is counted.
#[test]
fn a_dialog_document_too_large_for_a_datagram_leaves_calls_out() {
    let mut h = Harness::new();
    let mut watch = Watch::new("big", "dialog", "1001@pbx.example.com");
    established(&mut h, &mut watch, Some(600), 0.0);
    let calls = (0..32).map(|n| Call::new(format!("{n:04}-{}", "x".repeat(3000)), CallState::Confirmed)).collect();
    let command = Command::Dialog {
        entity: "1001@pbx.example.com".into(),
        display: None,
        call_count: None,
        calls: CallsUpdate::Full(calls),
        call_id: None,
    };
    h.engine.handle_command(command, h.at(1.0));
    let sent = h.drain();
    let notify = sent.iter().find(|t| t.payload.starts_with(b"NOTIFY")).expect("the NOTIFY still goes");
    assert!(notify.payload.len() < 65_507, "{} bytes", notify.payload.len());
    let (_, notifies) = split(std::slice::from_ref(notify));
    let doc = dialog_info::parse(&notifies[0].body).unwrap();
    assert!(!doc.calls.is_empty() && doc.calls.len() < 32, "{} of 32 calls shown", doc.calls.len());
    assert_eq!(h.engine.stats().notify_bodies_trimmed, 1);
}

/// The README's own API sequence: `early` with the direction and the caller, then a partial
/// update naming only the Call-ID and `confirmed`. The confirmed NOTIFY keeps what the BLF key
/// shows as the caller and what pickup dials.
#[test]
fn a_partial_call_update_changes_what_it_names_and_keeps_the_rest() {
    let mut h = Harness::new();
    let mut watch = Watch::new("merge", "dialog", "1001@pbx.example.com");
    established(&mut h, &mut watch, Some(3600), 0.0);
    let alice = presence_core::call::Party { display: Some("Alice".into()), uri: "sip:2000@pbx.example.com".into() };
    let early = Call {
        direction: Some(presence_core::call::Direction::Recipient),
        remote: Some(alice.clone()),
        ..Call::new("call-42", CallState::Early)
    };
    let update = |call| Command::Dialog {
        entity: "1001@pbx.example.com".into(),
        display: None,
        call_count: None,
        calls: CallsUpdate::Partial(call),
        call_id: None,
    };
    h.engine.handle_command(update(early), h.at(1.0));
    let (_, notifies) = split(&h.drain());
    h.send(&answer(&notifies[0], 200), udp_peer(), 1.0);
    h.engine.handle_command(update(Call::new("call-42", CallState::Confirmed)), h.at(2.0));
    let (_, notifies) = split(&h.drain());
    let doc = dialog_info::parse(&notifies[0].body).unwrap();
    let call = &doc.calls[0];
    assert_eq!(call.state, CallState::Confirmed);
    assert_eq!(call.direction, Some(presence_core::call::Direction::Recipient));
    assert_eq!(call.remote.as_ref().map(|r| r.uri.as_str()), Some("sip:2000@pbx.example.com"));
}
