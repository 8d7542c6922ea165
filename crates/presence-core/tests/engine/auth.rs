//! Digest authentication (RFC 3261 §22) and the watch policy on a virtual clock:
//! challenges, right and wrong passwords, nonce-count replay, stale nonces, 401 or 407, the
//! realm rule, in-dialog refreshes, and who may watch whom.

use std::collections::HashMap;

use md5::{Digest, Md5};
use presence_core::{AuthConfig, EngineConfig, Grant, Secret, User, WatchPolicy};
use sip_proto::header::AuthParams;
use sip_proto::{HeaderName, Response};

use crate::support::*;

const AOR: &str = "1001@pbx.example.com";

pub(crate) fn hex_md5(s: &str) -> String {
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn config(auth: AuthConfig) -> EngineConfig {
    EngineConfig { auth, seed: 11, ..EngineConfig::default() }
}

fn auth(register: bool, subscribe: bool) -> AuthConfig {
    AuthConfig {
        register,
        subscribe,
        users: ["1001", "1002"].map(|name| user(name, None, &[])).into(),
        ..AuthConfig::default()
    }
}

/// A user with the password `secret`.
pub(crate) fn user(username: &str, realm: Option<&str>, act_for: &[Grant]) -> User {
    User {
        username: username.into(),
        realm: realm.map(str::to_owned),
        secret: Secret::Password("secret".into()),
        act_for: act_for.to_vec(),
    }
}

/// Credentials for `challenge` as user 1001 computes them (RFC 2617 qop=auth, MD5).
fn credentials(challenge: &Response, header: HeaderName, method: &str, uri: &str, password: &str, nc: u32) -> String {
    credentials_of("1001", challenge, header, method, uri, password, nc)
}

/// The watcher's (1002's) first credentials for its SUBSCRIBE to `AOR`.
fn watcher_credentials(challenge: &Response) -> String {
    credentials_of("1002", challenge, HeaderName::WwwAuthenticate, "SUBSCRIBE", &format!("sip:{AOR}"), "secret", 1)
}

/// Credentials for `challenge` as `username` computes them.
pub(crate) fn credentials_of(
    username: &str,
    challenge: &Response,
    header: HeaderName,
    method: &str,
    uri: &str,
    password: &str,
    nc: u32,
) -> String {
    let c = AuthParams::parse(challenge.headers.get(&header).expect("a challenge")).unwrap();
    let (realm, nonce) = (c.get("realm").unwrap(), c.get("nonce").unwrap());
    let ha1 = hex_md5(&format!("{username}:{realm}:{password}"));
    let ha2 = hex_md5(&format!("{method}:{uri}"));
    let nc = format!("{nc:08x}");
    let response = hex_md5(&format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}"));
    format!(
        r#"Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc={nc}, cnonce="abc""#
    )
}

fn register_with(call_id: &str, cseq: u32, authorization: Option<String>) -> Vec<u8> {
    let extra = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    register(AOR, call_id, cseq, &["<sip:1001@192.0.2.10>"], &(extra + "Expires: 600\r\n"))
}

#[test]
fn register_challenge_right_and_wrong_password_and_replay() {
    let mut h = Harness::with_config(config(auth(true, false)));
    let challenge = only_response(&h.send(&register_with("a", 1, None), udp_peer(), 0.0));
    assert_eq!(challenge.status, 401);
    let www = challenge.headers.get(&HeaderName::WwwAuthenticate).unwrap();
    assert!(www.contains(r#"realm="pbx.example.com""#) && www.contains(r#"qop="auth""#), "{www}");
    assert_eq!(h.engine.binding_count(), 0);

    let wrong = credentials(&challenge, HeaderName::WwwAuthenticate, "REGISTER", "sip:pbx.example.com", "nope", 1);
    let r = only_response(&h.send(&register_with("a", 2, Some(wrong)), udp_peer(), 1.0));
    assert_eq!((r.status, r.reason.as_str()), (403, "Bad credentials"));
    assert_eq!(h.engine.binding_count(), 0, "a wrong password never creates state");
    assert!(h.engine.poll_event().is_none());

    let right = credentials(&challenge, HeaderName::WwwAuthenticate, "REGISTER", "sip:pbx.example.com", "secret", 1);
    let r = only_response(&h.send(&register_with("a", 3, Some(right.clone())), udp_peer(), 2.0));
    assert_eq!(r.status, 200);
    assert_eq!(h.engine.binding_count(), 1);

    let r = only_response(&h.send(&register_with("a", 4, Some(right)), udp_peer(), 3.0));
    assert_eq!((r.status, r.reason.as_str()), (403, "Replayed nonce count"));
    let next = credentials(&challenge, HeaderName::WwwAuthenticate, "REGISTER", "sip:pbx.example.com", "secret", 2);
    assert_eq!(only_response(&h.send(&register_with("a", 5, Some(next)), udp_peer(), 4.0)).status, 200);
}

#[test]
fn proxy_challenges_stale_nonces_and_the_realm_rule() {
    let mut h = Harness::with_config(config(AuthConfig { proxy: true, ..auth(true, false) }));
    let challenge = only_response(&h.send(&register_with("p", 1, None), udp_peer(), 0.0));
    assert_eq!(challenge.status, 407);
    let creds = credentials(&challenge, HeaderName::ProxyAuthenticate, "REGISTER", "sip:pbx.example.com", "secret", 1);
    let late = String::from_utf8(register_with("p", 2, None))
        .unwrap()
        .replace("Expires: 600", &format!("Proxy-Authorization: {creds}\r\nExpires: 600"));
    let stale = only_response(&h.send(late.as_bytes(), udp_peer(), 301.0));
    assert_eq!(stale.status, 407);
    assert!(stale.headers.get(&HeaderName::ProxyAuthenticate).unwrap().contains("stale=true"));

    let strict =
        AuthConfig { realm: Some("other.example.com".into()), realm_must_match_host: true, ..auth(true, false) };
    let mut h = Harness::with_config(config(strict));
    let challenge = only_response(&h.send(&register_with("s", 1, None), udp_peer(), 0.0));
    let creds = credentials(&challenge, HeaderName::WwwAuthenticate, "REGISTER", "sip:pbx.example.com", "secret", 1);
    let r = only_response(&h.send(&register_with("s", 2, Some(creds)), udp_peer(), 1.0));
    assert_eq!(r.status, 403, "the authenticated realm is not the Request-URI host");
}

#[test]
fn linphone_refreshes_its_authenticated_subscription_without_a_new_challenge() {
    let mut h = Harness::with_config(config(auth(false, true)));
    let as_linphone = |raw: Vec<u8>| String::from_utf8(raw).unwrap().replace("test-phone", "Linphone Desktop/5.2.0");
    let mut watch = Watch::new("lin", "presence", AOR);
    let challenge = only_response(&h.send(as_linphone(watch.subscribe(None)).as_bytes(), udp_peer(), 0.0));
    assert_eq!(challenge.status, 401, "setting the subscription up needs credentials, whatever the device");
    let creds = watcher_credentials(&challenge);
    let raw =
        as_linphone(watch.subscribe(None)).replace("User-Agent", &format!("Authorization: {creds}\r\nUser-Agent"));
    let (responses, notifies) = split(&h.send(raw.as_bytes(), udp_peer(), 1.0));
    watch.accepted(&responses[0]);
    h.send(&answer(&notifies[0], 200), udp_peer(), 1.0);

    // Long after the nonce expired, the refresh in the dialog is taken as it is.
    let (responses, _) = split(&h.send(as_linphone(watch.subscribe(None)).as_bytes(), udp_peer(), 1000.0));
    assert_eq!(responses[0].status, 200);
    // The same refresh from another address would move the NOTIFYs there: challenged.
    let elsewhere = presence_core::Peer { addr: "203.0.113.66:5060".parse().unwrap(), ..udp_peer() };
    let forged = only_response(&h.send(as_linphone(watch.subscribe(None)).as_bytes(), elsewhere, 1001.0));
    assert_eq!(forged.status, 401);
    // A new subscription from the same phone is still challenged.
    let fresh = as_linphone(Watch::new("lin2", "presence", AOR).subscribe(None));
    assert_eq!(only_response(&h.send(fresh.as_bytes(), udp_peer(), 1000.0)).status, 401);
}

#[test]
fn an_unauthenticated_refresh_is_challenged_without_ending_the_subscription() {
    let mut h = Harness::with_config(config(auth(false, true)));
    let mut watch = Watch::new("sa", "presence", AOR);
    let challenge = only_response(&h.send(&watch.subscribe(None), udp_peer(), 0.0));
    assert_eq!(challenge.status, 401);
    let creds = watcher_credentials(&challenge);
    let raw = String::from_utf8(watch.subscribe(None))
        .unwrap()
        .replace("User-Agent", &format!("Authorization: {creds}\r\nUser-Agent"));
    let (responses, notifies) = split(&h.send(raw.as_bytes(), udp_peer(), 1.0));
    watch.accepted(&responses[0]);
    h.send(&answer(&notifies[0], 200), udp_peer(), 1.0);

    // The refresh arrives without credentials: challenged, and the subscription lives on.
    let r = only_response(&h.send(&watch.subscribe(None), udp_peer(), 100.0));
    assert_eq!(r.status, 401);
    assert_eq!(h.engine.subscription_count(), 1);
    // Still served: a change of state reaches it in an active NOTIFY.
    let dnd = presence_core::api::Command::Status {
        entity: AOR.into(),
        basic: presence_core::bodies::Basic::Open,
        note: Some("DND".into()),
        dnd: true,
        on_the_phone: false,
    };
    h.engine.handle_command(dnd, h.at(200.0));
    let (_, notifies) = split(&h.drain());
    assert_eq!(notifies.len(), 1);
    assert!(header(&notifies[0], HeaderName::SubscriptionState).starts_with("active"));
}

#[test]
fn watch_policies() {
    let same = EngineConfig { watch_policy: WatchPolicy::SameDomain, seed: 2, ..EngineConfig::default() };
    let mut h = Harness::with_config(same);
    let raw = String::from_utf8(Watch::new("x1", "presence", "1001@other.example.com").subscribe(None)).unwrap();
    assert_eq!(only_response(&h.send(raw.as_bytes(), udp_peer(), 0.0)).status, 403);
    let (responses, _) = split(&h.send(&Watch::new("x2", "presence", AOR).subscribe(None), udp_peer(), 0.0));
    assert_eq!(responses[0].status, 200);

    let key = |text| EngineConfig::default().entity_key(text);
    let lists = HashMap::from([(key(AOR), vec![key("1003@pbx.example.com")])]);
    let listed = EngineConfig { watch_policy: WatchPolicy::Lists(lists), seed: 2, ..EngineConfig::default() };
    let mut h = Harness::with_config(listed);
    let refused = only_response(&h.send(&Watch::new("x3", "presence", AOR).subscribe(None), udp_peer(), 0.0));
    assert_eq!((refused.status, refused.reason.as_str()), (403, "Not Allowed to Watch This Entity"));
    // Everyone may watch themselves: 1002's own mailbox.
    let (responses, _) =
        split(&h.send(&Watch::new("x4", "message-summary", "1002@pbx.example.com").subscribe(None), udp_peer(), 0.0));
    assert_eq!(responses[0].status, 200);
}

#[test]
fn a_subscription_set_up_without_credentials_gets_no_unchallenged_refreshes_later() {
    let as_linphone = |raw: Vec<u8>| String::from_utf8(raw).unwrap().replace("test-phone", "Linphone Desktop/5.2.0");
    // Set up while SUBSCRIBE needed no authentication, and stored.
    let mut h = Harness::with_config(config(auth(false, false)));
    h.engine.enable_persistence(h.t0, 0);
    let mut watch = Watch::new("lin", "presence", AOR);
    let (responses, notifies) = split(&h.send(as_linphone(watch.subscribe(None)).as_bytes(), udp_peer(), 0.0));
    watch.accepted(&responses[0]);
    h.send(&answer(&notifies[0], 200), udp_peer(), 0.0);
    let mut store = presence_store::MemoryStore::new();
    presence_store::Store::apply(&mut store, &h.engine.take_changes()).unwrap();

    // After a restart with authentication on, its refresh is challenged like any other.
    let mut h = Harness { engine: presence_core::Engine::new(config(auth(false, true))), t0: h.t0 };
    h.engine.enable_persistence(h.t0, 0);
    let flows = HashMap::from([(LOCAL.parse().unwrap(), presence_core::FlowId(1))]);
    h.engine.restore(presence_store::Store::load(&mut store).unwrap(), &flows, h.at(10.0));
    assert_eq!(h.engine.subscription_count(), 1);
    let refresh = only_response(&h.send(as_linphone(watch.subscribe(None)).as_bytes(), udp_peer(), 10.0));
    assert_eq!(refresh.status, 401);
}
