//! Per-source admission (what one source may take): a flooding source gets its burst and
//! its rate and nothing more while another is served; new state has its own, smaller
//! budget; trusted sources are exempt; each state table gives one source a share and has a
//! total; the per-watcher quota cannot be widened by rotating the From; and an
//! address-of-record binds a bounded number of contacts.

use presence_core::{EngineConfig, Limits, Peer, Quota, Rate};
use sip_proto::HeaderName;

use crate::support::*;

fn harness(limits: Limits) -> Harness {
    Harness::with_config(EngineConfig { limits, seed: 17, ..EngineConfig::default() })
}

fn from(addr: &str) -> Peer {
    Peer { addr: addr.parse().unwrap(), ..udp_peer() }
}

fn options(branch: &str) -> Vec<u8> {
    request("OPTIONS", "sip:pbx.example.com", &format!("z9hG4bK{branch}"), "")
}

/// How many of `n` OPTIONS from `peer` at `secs` were answered.
fn answered(h: &mut Harness, label: &str, n: usize, peer: Peer, secs: f64) -> usize {
    (0..n).filter(|i| !h.send(&options(&format!("{label}{i}")), peer, secs).is_empty()).count()
}

/// A SUBSCRIBE to `entity` whose From is `subscriber`.
fn subscribe_as(subscriber: &str, entity: &str, call_id: &str) -> Vec<u8> {
    let raw = String::from_utf8(Watch::new(call_id, "dialog", entity).subscribe(Some(600))).unwrap();
    raw.replace("<sip:1002@pbx.example.com>", &format!("<sip:{subscriber}>")).into_bytes()
}

fn status_and_reason(h: &mut Harness, raw: &[u8], peer: Peer, secs: f64) -> (u16, String) {
    let (responses, _) = split(&h.send(raw, peer, secs));
    (responses[0].status, responses[0].reason.clone())
}

#[test]
fn a_flooding_source_gets_its_burst_and_rate_while_another_is_served() {
    let requests = Rate { per_second: 10, burst: 20 };
    let mut h = harness(Limits { requests, ..Limits::default() });
    let (flood, good) = (from("203.0.113.9:5060"), from("192.0.2.20:5060"));
    assert_eq!(answered(&mut h, "f", 100, flood, 0.0), 20, "the burst");
    assert_eq!(h.engine.stats().requests_throttled, 80, "every drop counted");
    assert_eq!(answered(&mut h, "g", 5, good, 0.0), 5, "another source is served");
    assert_eq!(answered(&mut h, "f2", 100, flood, 0.5), 5, "10/s for half a second");

    // Over a stream, the refusal is said: 503 with Retry-After.
    let stream = Peer { addr: "203.0.113.9:40000".parse().unwrap(), ..tcp_peer() };
    let busy = only_response(&h.send(&options("t1"), stream, 0.5));
    assert_eq!((busy.status, busy.reason.as_str()), (503, "Too Many Requests From This Source"));
    assert_eq!(busy.headers.get(&HeaderName::RetryAfter), Some("10"));
}

#[test]
fn new_state_has_its_own_budget_and_a_refresh_does_not_draw_on_it() {
    let new_state = Rate { per_second: 1, burst: 3 };
    let mut h = harness(Limits { new_state, ..Limits::default() });
    let mut first = Watch::new("ns0", "dialog", "1001@pbx.example.com");
    established(&mut h, &mut first, Some(600), 0.0);
    let created = (1..6)
        .filter(|i| {
            !h.send(
                &Watch::new(&format!("ns{i}"), "dialog", "1001@pbx.example.com").subscribe(Some(600)),
                udp_peer(),
                0.0,
            )
            .is_empty()
        })
        .count();
    assert_eq!(created, 2, "three new subscriptions in the burst, the first included");
    assert_eq!(answered(&mut h, "o", 5, udp_peer(), 0.0), 5, "requests that create nothing still pass");
    let (responses, _) = split(&h.send(&first.subscribe(Some(600)), udp_peer(), 0.0));
    assert_eq!(responses[0].status, 200, "a refresh in the dialog is not new state");
}

#[test]
fn trusted_sources_are_exempt_from_the_per_source_limits() {
    let tight = Rate { per_second: 1, burst: 1 };
    let limits = Limits {
        trusted: vec!["192.0.2.0/24".parse().unwrap()],
        requests: tight,
        new_state: tight,
        ..Limits::default()
    };
    let mut h = harness(limits);
    assert_eq!(answered(&mut h, "p", 50, from("192.0.2.99:5060"), 0.0), 50);
    assert_eq!(h.engine.source_count(), 0, "no bucket is kept for a trusted source");
    assert_eq!(answered(&mut h, "u", 5, from("198.51.100.7:5060"), 0.0), 1);
}

#[test]
fn one_source_holds_at_most_its_share_of_the_subscriptions_and_the_table_has_a_total() {
    let subscriptions = Quota { per_source: 3, total: 5 };
    let mut h = harness(Limits { subscriptions, ..Limits::default() });
    let (a, b) = (from("203.0.113.9:5060"), from("192.0.2.20:5060"));
    for i in 0..3 {
        let raw = subscribe_as(&format!("20{i}@pbx.example.com"), &format!("30{i}@pbx.example.com"), &format!("a{i}"));
        assert_eq!(status_and_reason(&mut h, &raw, a, 0.0).0, 200);
    }
    let raw = subscribe_as("209@pbx.example.com", "309@pbx.example.com", "a9");
    assert_eq!(status_and_reason(&mut h, &raw, a, 0.0), (503, "Too Many Subscriptions From This Source".into()));
    for i in 0..2 {
        let raw = subscribe_as("1002@pbx.example.com", &format!("40{i}@pbx.example.com"), &format!("b{i}"));
        assert_eq!(status_and_reason(&mut h, &raw, b, 0.0).0, 200, "another source has its own share");
    }
    let raw = subscribe_as("1002@pbx.example.com", "409@pbx.example.com", "b9");
    assert_eq!(status_and_reason(&mut h, &raw, b, 0.0), (503, "Subscription Table Full".into()));
    assert_eq!(h.engine.subscription_count(), 5);
}

#[test]
fn rotating_the_from_buys_no_more_of_an_entitys_quota() {
    let config = |limits| EngineConfig { max_subscriptions_per_watcher: 2, limits, seed: 3, ..EngineConfig::default() };
    let mut h = Harness::with_config(config(Limits::default()));
    let socket = from("203.0.113.9:5060");
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            let raw = subscribe_as(&format!("20{i}@pbx.example.com"), "1001@pbx.example.com", &format!("r{i}"));
            status_and_reason(&mut h, &raw, socket, 0.0).0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 503], "counted per source socket, whatever the From says");

    // A trusted proxy vouches for the From: its subscribers are counted one by one.
    let trusted = Limits { trusted: vec!["203.0.113.0/24".parse().unwrap()], ..Limits::default() };
    let mut h = Harness::with_config(config(trusted));
    for i in 0..3 {
        let raw = subscribe_as(&format!("20{i}@pbx.example.com"), "1001@pbx.example.com", &format!("p{i}"));
        assert_eq!(status_and_reason(&mut h, &raw, socket, 0.0).0, 200);
    }
    let again = |call_id: &str| subscribe_as("200@pbx.example.com", "1001@pbx.example.com", call_id);
    assert_eq!(status_and_reason(&mut h, &again("p8"), socket, 0.0).0, 200);
    let looping = status_and_reason(&mut h, &again("p9"), socket, 0.0);
    assert_eq!(looping, (503, "Too Many Subscriptions From This Watcher".into()));
}

#[test]
fn an_address_of_record_binds_a_bounded_number_of_contacts() {
    let limits =
        Limits { max_bindings_per_aor: 3, registrations: Quota { per_source: 4, total: 100 }, ..Limits::default() };
    let mut h = harness(limits);
    let aor = "1001@pbx.example.com";
    let contacts = ["<sip:1001@192.0.2.10:5061>", "<sip:1001@192.0.2.10:5062>", "<sip:1001@192.0.2.10:5063>"];
    let r = only_response(&h.send(&register(aor, "b", 1, &contacts, ""), udp_peer(), 0.0));
    assert_eq!(r.status, 200);
    let fourth = register(aor, "b", 2, &["<sip:1001@192.0.2.10:5064>"], "");
    let r = only_response(&h.send(&fourth, udp_peer(), 1.0));
    assert_eq!((r.status, r.reason.as_str()), (403, "Too Many Contacts (at most 3 per address)"));
    assert_eq!(h.engine.binding_count(), 3);
    // One removed and one added in the same REGISTER stays within the bound.
    let swap = register(aor, "b", 3, &["<sip:1001@192.0.2.10:5061>;expires=0", "<sip:1001@192.0.2.10:5064>"], "");
    let (responses, _) = split(&h.send(&swap, udp_peer(), 2.0));
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].headers.get_all(&HeaderName::Contact).count(), 3);

    // The source's share of the registrar: a fourth binding from it, for another AoR, waits.
    let other = register("1005@pbx.example.com", "c", 1, &["<sip:1005@192.0.2.10:5070>"], "");
    assert_eq!(only_response(&h.send(&other, udp_peer(), 3.0)).status, 200);
    let fifth = register("1006@pbx.example.com", "d", 1, &["<sip:1006@192.0.2.10:5071>"], "");
    let r = only_response(&h.send(&fifth, udp_peer(), 3.0));
    assert_eq!((r.status, r.reason.as_str()), (503, "Too Many Registrations From This Source"));
    assert_eq!(h.engine.binding_count(), 4);
}

#[test]
fn one_source_holds_at_most_its_share_of_the_transactions() {
    let mut h = harness(Limits { transactions_per_source: 5, ..Limits::default() });
    let (flood, good) = (from("203.0.113.9:5060"), from("192.0.2.20:5060"));
    assert_eq!(answered(&mut h, "f", 10, flood, 0.0), 5, "five transactions wait out Timer J");
    assert_eq!(answered(&mut h, "g", 3, good, 0.0), 3);
    // Once they end (Timer J, 64*T1 = 32 s), the source has room again.
    h.engine.handle_timeout(h.at(33.0));
    h.drain();
    assert_eq!(answered(&mut h, "f2", 10, flood, 33.0), 5);
}

#[test]
fn one_source_holds_at_most_its_share_of_the_publications() {
    let mut h = harness(Limits { publications: Quota { per_source: 2, total: 100 }, ..Limits::default() });
    let publish = |entity: &str, branch: &str| {
        let pidf = zoiper_pidf(entity, "open", "here");
        let body = Some(("application/pidf+xml", pidf.as_str()));
        Publish { entity, event: "presence", device: "d@192.0.2.10", if_match: None, expires: Some(600), body }
            .encode(branch)
    };
    let (a, b) = (from("203.0.113.9:5060"), from("192.0.2.20:5060"));
    assert_eq!(status_and_reason(&mut h, &publish("2001@pbx.example.com", "p1"), a, 0.0).0, 200);
    assert_eq!(status_and_reason(&mut h, &publish("2002@pbx.example.com", "p2"), a, 0.0).0, 200);
    let third = status_and_reason(&mut h, &publish("2003@pbx.example.com", "p3"), a, 0.0);
    assert_eq!(third, (503, "Too Many Publications From This Source".into()));
    assert_eq!(status_and_reason(&mut h, &publish("2003@pbx.example.com", "p4"), b, 0.0).0, 200);
    assert_eq!(h.engine.publication_count(), 3);
}

/// Forged SUBSCRIBEs naming a victim as their source, for a minute, faster than the
/// new-state rate: everything sent to the victim (200s, NOTIFYs and their retransmissions)
/// stays within a small multiple of what the attacker sent, as RFC 9000 §8.1 bounds a
/// server before it has validated an address.
#[test]
fn forged_subscribes_do_not_make_the_server_an_amplifier() {
    let mut h = harness(Limits::default());
    let (mut bytes_in, mut bytes_out) = (0usize, 0usize);
    for tick in 0..(60 * 50) {
        let secs = f64::from(tick) / 50.0;
        // Every port of the victim, every entity: no per-watcher quota stops it.
        let victim = from(&format!("203.0.113.50:{}", 1024 + tick));
        let entity = format!("{}@pbx.example.com", 2000 + tick % 100);
        let forged = Watch::new(&format!("amp{tick}"), "dialog", &entity).subscribe(Some(3600));
        bytes_in += forged.len();
        bytes_out += h.send(&forged, victim, secs).iter().map(|t| t.payload.len()).sum::<usize>();
        h.engine.handle_timeout(h.at(secs));
        bytes_out += h.drain().iter().map(|t| t.payload.len()).sum::<usize>();
    }
    let factor = bytes_out as f64 / bytes_in as f64;
    eprintln!("forged SUBSCRIBEs: {bytes_in} bytes in, {bytes_out} out ({factor:.2}x)");
    assert!(factor < 3.0, "{bytes_out} bytes out for {bytes_in} in");
    assert!(h.engine.stats().sends_to_unproven_held > 0, "the budget held NOTIFYs back");
}
