//! Subscribing back to registered phones (RFC 6665 §4.1) on a virtual clock: the SUBSCRIBE after
//! REGISTER, refreshes, NOTIFY handling, digest challenges from the phone, ending with the
//! binding, and composing several phones; plus unsolicited MWI and check-sync.

use presence_core::api::{Command, InEvent, VoicemailReason};
use presence_core::bodies::mwi::MessageCounts;
use presence_core::bodies::{Basic, dialog_info, pidf, xpidf};
use presence_core::{AuthConfig, EngineConfig, Peer, Secret, User};
use sip_proto::{HeaderName, Request, Response};

use crate::support::*;

const AOR: &str = "1001@pbx.example.com";
pub(crate) const ALLOW: &str = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, SUBSCRIBE, NOTIFY\r\n";

pub(crate) fn polycom_busy() -> &'static str {
    r#"<?xml version="1.0"?><presence><presentity uri="sip:1001@pbx.example.com;method=SUBSCRIBE"/><atom id="1001"><address uri="sip:1001@192.0.2.10;user=ip" priority="0.800000"><status status="open"/><msnsubstatus substatus="busy"/></address></atom></presence>"#
}

/// The phone's NOTIFY in the dialog our SUBSCRIBE created.
pub(crate) fn phone_notify(
    subscribe: &Request,
    ok: &Response,
    cseq: u32,
    state: &str,
    body: Option<(&str, &str)>,
) -> Vec<u8> {
    let (content_type, body) = match body {
        Some((t, b)) => (format!("Content-Type: {t}\r\n"), b),
        None => (String::new(), ""),
    };
    format!(
        "NOTIFY sip:presence@198.51.100.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKpn{cseq}x{len}x{slen};rport\r\n\
         Max-Forwards: 70\r\n\
         From: {to}\r\n\
         To: {from}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} NOTIFY\r\n\
         Contact: <sip:1001@192.0.2.10:5062>\r\n\
         Event: presence\r\n\
         Subscription-State: {state}\r\n\
         {content_type}Content-Length: {len}\r\n\r\n{body}",
        to = ok.headers.get(&HeaderName::To).unwrap(),
        from = subscribe.headers.get(&HeaderName::From).unwrap(),
        call_id = subscribe.headers.call_id().unwrap(),
        len = body.len(),
        slen = state.len(),
    )
    .into_bytes()
}

/// The phone's 200 to our SUBSCRIBE, with its tag and Contact.
pub(crate) fn phone_ok(subscribe: &Request, expires: u32) -> Response {
    let mut ok = Response::to(subscribe, 200);
    let mut to = subscribe.headers.to().unwrap();
    to.params.set("tag", Some("phone-tag"));
    ok.headers.set(HeaderName::To, to.to_string());
    ok.headers.push(HeaderName::Contact, "<sip:1001@192.0.2.10:5062>");
    ok.headers.push(HeaderName::Expires, expires.to_string());
    ok
}

/// REGISTERs 1001 with SUBSCRIBE allowed, answers the NOTIFYs that causes, and returns
/// the SUBSCRIBE the server sent to the phone.
fn registered(h: &mut Harness, secs: f64) -> Request {
    let (responses, requests) =
        split(&h.send(&register(AOR, "reg", 1, &["<sip:1001@192.0.2.10:5062>"], ALLOW), udp_peer(), secs));
    assert_eq!(responses[0].status, 200);
    let (subscribes, notifies): (Vec<_>, Vec<_>) =
        requests.into_iter().partition(|r| r.method == sip_proto::Method::Subscribe);
    for n in notifies {
        h.send(&answer(&n, 200), udp_peer(), secs);
    }
    subscribes.into_iter().next().expect("a SUBSCRIBE to the phone")
}

/// Answers every NOTIFY the engine sends, until it sends no more; returns them.
fn answer_all(h: &mut Harness, first: Vec<Request>, secs: f64) -> Vec<Request> {
    let mut seen = Vec::new();
    let mut pending: Vec<Request> = first.into_iter().filter(|r| r.method == sip_proto::Method::Notify).collect();
    while let Some(n) = pending.pop() {
        let more = split(&h.send(&answer(&n, 200), udp_peer(), secs)).1;
        pending.extend(more.into_iter().filter(|r| r.method == sip_proto::Method::Notify));
        seen.push(n);
    }
    seen
}

#[test]
fn register_then_subscribe_notify_and_refresh() {
    let mut h = Harness::new();
    let sent = h.send(&register(AOR, "reg", 1, &["<sip:1001@192.0.2.10:5062>"], ALLOW), udp_peer(), 0.0);
    let subscribe = split(&sent).1.remove(0);
    assert!(sent[0].payload.starts_with(b"SIP/2.0 200"), "the REGISTER's 200 goes out first");
    assert_eq!(sent[1].destination, udp_peer(), "sent where the REGISTER came from");
    assert_eq!(subscribe.uri.to_string(), "sip:1001@192.0.2.10:5062");
    assert_eq!(header(&subscribe, HeaderName::Event), "presence");
    assert_eq!(
        subscribe.headers.get_all(&HeaderName::Accept).collect::<Vec<_>>(),
        vec!["application/pidf+xml", "application/xpidf+xml"]
    );
    assert_eq!(h.engine.watch_count(), 1);

    let ok = phone_ok(&subscribe, 600);
    assert!(h.send(&ok.encode(), udp_peer(), 0.1).is_empty());
    let notify =
        phone_notify(&subscribe, &ok, 1, "active;expires=600", Some(("application/xpidf+xml", polycom_busy())));
    let reply = only_response(&h.send(&notify, udp_peer(), 0.2));
    assert_eq!(reply.status, 200);
    let status = std::iter::from_fn(|| h.engine.poll_event()).find_map(|e| match e {
        InEvent::StatusIn(s) => Some(s),
        _ => None,
    });
    let status = status.expect("presence.status.in");
    assert_eq!((status.entity.as_str(), status.dnd, status.on_the_phone), (AOR, true, false));
    assert_eq!(status.source.port, 5062);

    // Refreshed at three quarters of the 600 s granted, in the dialog.
    h.engine.handle_timeout(h.at(449.0));
    assert!(h.drain().is_empty());
    h.engine.handle_timeout(h.at(450.1));
    let refresh = split(&h.drain()).1.remove(0);
    assert_eq!(refresh.headers.cseq().unwrap().seq, subscribe.headers.cseq().unwrap().seq + 1);
    assert_eq!(refresh.headers.to().unwrap().tag(), Some("phone-tag"));
    assert_eq!(refresh.uri.to_string(), "sip:1001@192.0.2.10:5062");
}

#[test]
fn a_phones_dnd_reaches_watchers_in_every_format_and_leaves_with_its_binding() {
    let mut h = Harness::new();
    let mut watchers = vec![
        Watch::new("wp", "presence", AOR),
        Watch::new("wx", "presence", AOR).accept("application/xpidf+xml"),
        Watch::new("wd", "dialog", AOR),
    ];
    for w in &mut watchers {
        let (responses, notifies) = split(&h.send(&w.subscribe(None), udp_peer(), 0.0));
        w.accepted(&responses[0]);
        h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);
    }
    let subscribe = registered(&mut h, 1.0);
    for n in split(&h.drain()).1 {
        h.send(&answer(&n, 200), udp_peer(), 1.0);
    }
    // Answer the NOTIFYs the registration caused.
    let ok = phone_ok(&subscribe, 600);
    h.send(&ok.encode(), udp_peer(), 1.1);
    let sent = h.send(
        &phone_notify(&subscribe, &ok, 1, "active;expires=600", Some(("application/xpidf+xml", polycom_busy()))),
        udp_peer(),
        1.2,
    );
    let (responses, notifies) = split(&sent);
    assert_eq!(responses[0].status, 200);
    let notifies: Vec<Request> = notifies.into_iter().filter(|n| n.method == sip_proto::Method::Notify).collect();
    assert_eq!(notifies.len(), 3, "each watcher is told");
    for n in &notifies {
        let dnd = match header(n, HeaderName::ContentType) {
            "application/pidf+xml" => pidf::parse(&n.body).unwrap().dnd,
            "application/xpidf+xml" => xpidf::parse(&n.body).unwrap().dnd,
            _ => dialog_info::parse(&n.body).unwrap().calls.iter().any(|c| c.call_id == "dnd"),
        };
        assert!(dnd, "{}", body(n));
        h.send(&answer(n, 200), udp_peer(), 1.3);
    }

    // Unregister: our subscription ends with Expires 0, watchers see offline.
    let sent = h.send(&register(AOR, "reg", 2, &["<sip:1001@192.0.2.10:5062>"], "Expires: 0\r\n"), udp_peer(), 5.0);
    let requests = split(&sent).1;
    let unsubscribe = requests.iter().find(|r| r.method == sip_proto::Method::Subscribe).expect("an unsubscribe");
    assert_eq!(unsubscribe.headers.expires().unwrap(), Some(0));
    let presence = requests.iter().find(|r| header(r, HeaderName::ContentType) == "application/pidf+xml").unwrap();
    assert_eq!(pidf::parse(&presence.body).unwrap().status, Basic::Closed);
    h.send(&Response::to(unsubscribe, 200).encode(), udp_peer(), 5.1);
    assert_eq!(h.engine.watch_count(), 1, "kept to answer the phone's final NOTIFY");
    let last = phone_notify(&subscribe, &ok, 2, "terminated;reason=timeout", None);
    assert_eq!(only_response(&h.send(&last, udp_peer(), 5.2)).status, 200, "not 481");
    assert_eq!(h.engine.watch_count(), 0);
}

#[test]
fn notify_bodies_the_server_cannot_use_are_refused_naming_why() {
    let mut h = Harness::new();
    let subscribe = registered(&mut h, 0.0);
    let ok = phone_ok(&subscribe, 600);
    h.send(&ok.encode(), udp_peer(), 0.1);
    let bad = only_response(&h.send(
        &phone_notify(&subscribe, &ok, 1, "active", Some(("application/pidf+xml", "<presence"))),
        udp_peer(),
        0.2,
    ));
    assert_eq!(bad.status, 400);
    assert!(bad.reason.starts_with("Bad NOTIFY Body: malformed XML"), "{}", bad.reason);
    let odd = only_response(&h.send(
        &phone_notify(&subscribe, &ok, 2, "active", Some(("text/plain", "hi"))),
        udp_peer(),
        0.3,
    ));
    assert_eq!(odd.status, 415);
    assert!(odd.headers.get(&HeaderName::Accept).is_some());
    let old = only_response(&h.send(&phone_notify(&subscribe, &ok, 1, "active", None), udp_peer(), 0.4));
    assert_eq!(old.status, 500, "CSeq must increase in the dialog");
    let stranger = String::from_utf8(phone_notify(&subscribe, &ok, 3, "active", None))
        .unwrap()
        .replace(subscribe.headers.call_id().unwrap(), "unknown-call");
    assert_eq!(only_response(&h.send(stranger.as_bytes(), udp_peer(), 0.5)).status, 481);
}

#[test]
fn a_notify_before_the_2xx_establishes_the_dialog() {
    let mut h = Harness::new();
    let subscribe = registered(&mut h, 0.0);
    let ok = phone_ok(&subscribe, 600);
    let early = phone_notify(&subscribe, &ok, 1, "active;expires=600", Some(("application/xpidf+xml", polycom_busy())));
    assert_eq!(only_response(&h.send(&early, udp_peer(), 0.05)).status, 200);
    assert!(h.send(&ok.encode(), udp_peer(), 0.1).is_empty());
    assert_eq!(h.engine.watch_count(), 1);
}

#[test]
fn a_challenge_from_the_phone_is_answered_with_configured_credentials() {
    let users = vec![User {
        username: "1001".into(),
        realm: None,
        secret: Secret::Password("secret".into()),
        act_for: Vec::new(),
    }];
    let config =
        EngineConfig { auth: AuthConfig { users, ..AuthConfig::default() }, seed: 5, ..EngineConfig::default() };
    let mut h = Harness::with_config(config);
    let subscribe = registered(&mut h, 0.0);
    let mut challenge = Response::to(&subscribe, 401);
    challenge
        .headers
        .push(HeaderName::WwwAuthenticate, r#"Digest realm="phone", nonce="abc123", qop="auth", algorithm=MD5"#);
    let retry = split(&h.send(&challenge.encode(), udp_peer(), 0.1)).1.remove(0);
    let credentials = retry.headers.authorization().unwrap().remove(0);
    assert_eq!(
        (credentials.get("username"), credentials.get("realm"), credentials.get("nc")),
        (Some("1001"), Some("phone"), Some("00000001"))
    );
    assert_eq!(retry.headers.cseq().unwrap().seq, subscribe.headers.cseq().unwrap().seq + 1);

    // Without credentials for the user, the watch is given up.
    let mut h = Harness::new();
    let subscribe = registered(&mut h, 0.0);
    let mut challenge = Response::to(&subscribe, 401);
    challenge.headers.push(HeaderName::WwwAuthenticate, r#"Digest realm="phone", nonce="n", qop="auth""#);
    assert!(h.send(&challenge.encode(), udp_peer(), 0.1).is_empty());
    assert_eq!(h.engine.watch_count(), 0);
}

#[test]
fn polycom_methods_parameter_and_contacts_that_do_not_subscribe() {
    let mut h = Harness::new();
    let polycom = r#"<sip:1001@192.0.2.10:5062>;methods="INVITE,ACK,BYE,CANCEL,OPTIONS,INFO,MESSAGE,SUBSCRIBE,NOTIFY,PRACK,UPDATE,REFER""#;
    let sent = h.send(&register(AOR, "poly", 1, &[polycom], ""), udp_peer(), 0.0);
    assert!(split(&sent).1.iter().any(|r| r.method == sip_proto::Method::Subscribe));
    let mut h = Harness::new();
    let sent = h.send(
        &register(AOR, "plain", 1, &["<sip:1001@192.0.2.10:5062>"], "Allow: INVITE, ACK, BYE\r\n"),
        udp_peer(),
        0.0,
    );
    assert!(split(&sent).1.is_empty(), "no SUBSCRIBE to a contact that does not accept it");
}

#[test]
fn unsolicited_mwi_goes_to_phones_without_an_mwi_subscription() {
    let mut h = Harness::new();
    h.send(&register(AOR, "r1", 1, &["<sip:1001@192.0.2.10:5062>"], ""), udp_peer(), 0.0);
    let other = Peer { addr: "192.0.2.11:5060".parse().unwrap(), ..udp_peer() };
    let with_sub = String::from_utf8(register(AOR, "r2", 1, &["<sip:1001@192.0.2.11>"], "")).unwrap();
    h.send(with_sub.as_bytes(), other, 0.0);
    let mut mwi = Watch::new("mwi", "message-summary", AOR);
    let (responses, notifies) = split(&h.send(&mwi.subscribe(None), other, 0.1));
    mwi.accepted(&responses[0]);
    h.send(&answer(&notifies[0], 200), other, 0.1);

    let counts = MessageCounts { new: 1, old: 0, new_urgent: 0, old_urgent: 0 };
    h.engine
        .handle_command(Command::Voicemail { entity: AOR.into(), counts, reason: VoicemailReason::Update }, h.at(1.0));
    let sent = h.drain();
    answer_all(&mut h, split(&sent).1, 1.0);
    let unsolicited: Vec<_> =
        sent.iter().filter(|t| request_line(t).starts_with("NOTIFY sip:1001@192.0.2.10:5062")).collect();
    assert_eq!(unsolicited.len(), 1, "the phone without a subscription gets an unsolicited NOTIFY");
    let n = split(&sent).1.into_iter().find(|r| r.uri.to_string() == "sip:1001@192.0.2.10:5062").unwrap();
    assert_eq!(header(&n, HeaderName::Event), "message-summary");
    assert!(body(&n).contains("Messages-Waiting: yes"));
    assert_eq!(split(&sent).1.len(), 2, "the subscribed phone gets its in-dialog NOTIFY only");

    h.engine.handle_command(Command::CheckSync { entity: AOR.into() }, h.at(2.0));
    let check_syncs = split(&h.drain()).1.into_iter().filter(|r| header(r, HeaderName::Event) == "check-sync").count();
    assert_eq!(check_syncs, 3, "both contacts out of dialog, and the MWI dialog");
}

#[test]
fn unsolicited_mwi_follows_the_registered_phones_device_profile() {
    let mut h = Harness::new();
    let cisco = String::from_utf8(register(AOR, "r1", 1, &["<sip:1001@192.0.2.10:5062>"], "")).unwrap();
    h.send(cisco.replace("test-phone", "Cisco-CP7960G/8.0").as_bytes(), udp_peer(), 0.0);
    let other = Peer { addr: "192.0.2.11:5060".parse().unwrap(), ..udp_peer() };
    h.send(&register(AOR, "r2", 1, &["<sip:1001@192.0.2.11>"], ""), other, 0.0);

    let counts = MessageCounts { new: 2, old: 8, new_urgent: 0, old_urgent: 0 };
    h.engine
        .handle_command(Command::Voicemail { entity: AOR.into(), counts, reason: VoicemailReason::Update }, h.at(1.0));
    let notifies = split(&h.drain()).1;
    let to = |uri: &str| notifies.iter().find(|r| r.uri.to_string() == uri).map(body).unwrap();
    assert!(to("sip:1001@192.0.2.10:5062").ends_with("Voice-Message: 2/8\r\n"), "the Cisco 79xx: no (0/0)");
    assert!(to("sip:1001@192.0.2.11").ends_with("Voice-Message: 2/8 (0/0)\r\n"), "the other phone: RFC 3842");
}

fn request_line(t: &presence_core::Transmit) -> String {
    String::from_utf8_lossy(&t.payload).lines().next().unwrap_or_default().to_owned()
}

#[test]
fn dnd_shows_when_all_reporting_phones_say_so() {
    let mut h = Harness::new();
    let subscribe_a = registered(&mut h, 0.0);
    let desk = Peer { addr: "192.0.2.12:5062".parse().unwrap(), ..udp_peer() };
    let sent = h.send(&register(AOR, "reg-b", 1, &["<sip:1001@192.0.2.12:5062>"], ALLOW), desk, 0.0);
    let subscribe_b = split(&sent).1.into_iter().find(|r| r.method == sip_proto::Method::Subscribe).unwrap();
    let (ok_a, ok_b) = (phone_ok(&subscribe_a, 600), phone_ok(&subscribe_b, 600));
    h.send(&ok_a.encode(), udp_peer(), 0.1);
    h.send(&ok_b.encode(), desk, 0.1);
    let mut watch = Watch::new("w", "presence", AOR);
    let (responses, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 0.2));
    watch.accepted(&responses[0]);
    h.send(&answer(&notifies[0], 200), udp_peer(), 0.2);

    let shown = |notifies: Vec<Request>| {
        let last = notifies.iter().rev().find(|n| header(n, HeaderName::ContentType) == "application/pidf+xml");
        pidf::parse(&last.expect("a presence NOTIFY").body).unwrap()
    };
    let available = r#"<presence><atom id="1"><address uri="sip:x"><status status="open"/><msnsubstatus substatus="online"/></address></atom></presence>"#;
    let busy_a = phone_notify(&subscribe_a, &ok_a, 1, "active", Some(("application/xpidf+xml", polycom_busy())));
    let sent = split(&h.send(&busy_a, udp_peer(), 1.0)).1;
    assert!(shown(answer_all(&mut h, sent, 1.0)).dnd, "the only reporting phone says DND");
    let free_b = phone_notify(&subscribe_b, &ok_b, 1, "active", Some(("application/xpidf+xml", available)));
    let sent = split(&h.send(&free_b, desk, 2.0)).1;
    assert!(!shown(answer_all(&mut h, sent, 2.0)).dnd, "one phone is not in DND");
    let busy_b = phone_notify(&subscribe_b, &ok_b, 2, "active", Some(("application/xpidf+xml", polycom_busy())));
    let sent = split(&h.send(&busy_b, desk, 3.0)).1;
    assert!(shown(answer_all(&mut h, sent, 3.0)).dnd, "every reporting phone says DND");
}

#[test]
fn a_2xx_with_an_unreadable_expires_is_dropped_and_the_watch_ends_when_our_subscribe_times_out() {
    let mut h = Harness::new();
    let subscribe = registered(&mut h, 0.0);
    let mut ok = phone_ok(&subscribe, 600);
    ok.headers.set(HeaderName::Expires, "soon");
    let dropped = h.engine.stats().malformed_dropped;
    assert!(h.send(&ok.encode(), udp_peer(), 0.1).is_empty());
    assert_eq!(h.engine.stats().malformed_dropped, dropped + 1, "a malformed response, counted (RFC 3261 §18.1.2)");
    assert_eq!(h.engine.watch_count(), 1, "still waiting for a usable answer");
    // 64*T1 later the transaction has timed out and the watch is gone.
    h.engine.handle_timeout(h.at(33.0));
    h.drain();
    assert_eq!(h.engine.watch_count(), 0);
}
