//! What authentication proves, and no more: an authenticated user subscribes, registers and
//! publishes only as itself or as what its grants name; credentials serve only the
//! Request-URI they were computed for, only with an algorithm we offered, and only once; an
//! unknown user and a wrong password get the same answer; and the nonce table stays within
//! its cap, forgetting the oldest first.

use presence_core::{Algorithm, AuthConfig, EngineConfig, Grant, User};
use sha2::{Digest, Sha256};
use sip_proto::header::AuthParams;
use sip_proto::{HeaderName, Response};

use crate::auth::{credentials_of, hex_md5, user};
use crate::support::*;

const AOR: &str = "1001@pbx.example.com";

fn harness(users: Vec<User>, tune: impl FnOnce(&mut AuthConfig)) -> Harness {
    let mut auth = AuthConfig { register: true, subscribe: true, publish: true, users, ..AuthConfig::default() };
    tune(&mut auth);
    Harness::with_config(EngineConfig { auth, seed: 13, ..EngineConfig::default() })
}

fn key(text: &str) -> presence_core::EntityKey {
    EngineConfig::default().entity_key(text)
}

/// `raw` with an `Authorization` header carrying `credentials`.
fn with_credentials(raw: Vec<u8>, credentials: &str) -> Vec<u8> {
    let text = String::from_utf8(raw).unwrap();
    text.replacen("Content-Length", &format!("Authorization: {credentials}\r\nContent-Length"), 1).into_bytes()
}

fn replaced(raw: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains(from), "{from} is not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

/// Sends `raw` without credentials and returns the 401 it gets.
fn challenge(h: &mut Harness, raw: Vec<u8>, secs: f64) -> Response {
    let challenge = only_response(&h.send(&raw, udp_peer(), secs));
    assert_eq!(challenge.status, 401, "{}", challenge.reason);
    challenge
}

/// Answers `challenge` as `username` (password `secret`) for `method` and `uri`.
fn answered(username: &str, challenge: &Response, method: &str, uri: &str, nc: u32) -> String {
    credentials_of(username, challenge, HeaderName::WwwAuthenticate, method, uri, "secret", nc)
}

fn status_and_reason(sent: &[presence_core::Transmit]) -> (u16, String) {
    let (responses, _) = split(sent);
    (responses[0].status, responses[0].reason.clone())
}

fn publish(entity: &str, branch: &str) -> Vec<u8> {
    let pidf = zoiper_pidf(entity, "open", "At lunch");
    let body = Some(("application/pidf+xml", pidf.as_str()));
    Publish { entity, event: "presence", device: "1001@192.0.2.10:5062", if_match: None, expires: Some(600), body }
        .encode(branch)
}

#[test]
fn an_authenticated_user_cannot_subscribe_as_someone_else() {
    // The watcher's From is 1002; the credentials are 1001's.
    let mut h = harness(vec![user("1001", None, &[])], |_| {});
    let mut watch = Watch::new("imp", "message-summary", "1002@pbx.example.com");
    let c = challenge(&mut h, watch.subscribe(None), 0.0);
    let creds = answered("1001", &c, "SUBSCRIBE", "sip:1002@pbx.example.com", 1);
    let sent = h.send(&with_credentials(watch.subscribe(None), &creds), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent), (403, "From Does Not Match the Authenticated User".into()));
    assert_eq!(h.engine.subscription_count(), 0, "1002's message counts were not read");
    assert_eq!(h.engine.stats().auth_refusals, 1);

    // Granted 1002 (a shared line), 1001 may.
    let mut h = harness(vec![user("1001", None, &[Grant::Entity(key("1002@pbx.example.com"))])], |_| {});
    let mut watch = Watch::new("granted", "message-summary", "1002@pbx.example.com");
    let c = challenge(&mut h, watch.subscribe(None), 0.0);
    let creds = answered("1001", &c, "SUBSCRIBE", "sip:1002@pbx.example.com", 1);
    let (responses, _) = split(&h.send(&with_credentials(watch.subscribe(None), &creds), udp_peer(), 1.0));
    assert_eq!(responses[0].status, 200);
}

#[test]
fn a_user_registers_and_publishes_only_for_what_it_owns() {
    let users = vec![user("1001", None, &[]), user("gateway", None, &[Grant::Domain("pbx.example.com".into())])];
    let mut h = harness(users, |_| {});

    // From 1001 (itself), but registering 1002's address-of-record.
    let as_1002 = |cseq| {
        let raw = register("1002@pbx.example.com", "reg", cseq, &["<sip:1002@192.0.2.10:5062>"], "");
        replaced(raw, "From: <sip:1002@", "From: <sip:1001@")
    };
    let c = challenge(&mut h, as_1002(1), 0.0);
    let creds = answered("1001", &c, "REGISTER", "sip:pbx.example.com", 1);
    let sent = h.send(&with_credentials(as_1002(2), &creds), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent), (403, "Not Allowed to Register This Address".into()));
    assert_eq!(h.engine.binding_count(), 0);
    // Its own address: registered.
    let own = |cseq| register(AOR, "own", cseq, &["<sip:1001@192.0.2.10:5062>"], "");
    let creds = answered("1001", &c, "REGISTER", "sip:pbx.example.com", 2);
    assert_eq!(status_and_reason(&h.send(&with_credentials(own(1), &creds), udp_peer(), 1.0)).0, 200);
    assert_eq!(h.engine.binding_count(), 1);

    // PUBLISH for 1002 with 1001's From, and with 1002's From: both refused.
    let for_1002 = replaced(publish("1002@pbx.example.com", "p1"), "From: <sip:1002@", "From: <sip:1001@");
    let c = challenge(&mut h, for_1002, 2.0);
    let creds = answered("1001", &c, "PUBLISH", "sip:1002@pbx.example.com", 1);
    let for_1002 = replaced(publish("1002@pbx.example.com", "p2"), "From: <sip:1002@", "From: <sip:1001@");
    let sent = h.send(&with_credentials(for_1002, &creds), udp_peer(), 3.0);
    assert_eq!(status_and_reason(&sent), (403, "Not Allowed to Publish for This Entity".into()));
    let creds = answered("1001", &c, "PUBLISH", "sip:1002@pbx.example.com", 2);
    let sent = h.send(&with_credentials(publish("1002@pbx.example.com", "p3"), &creds), udp_peer(), 3.0);
    assert_eq!(status_and_reason(&sent), (403, "From Does Not Match the Authenticated User".into()));
    assert_eq!(h.engine.publication_count(), 0, "nothing was published for 1002");

    // The gateway's account is granted the whole domain.
    let c = challenge(&mut h, publish("1002@pbx.example.com", "g1"), 4.0);
    let creds = answered("gateway", &c, "PUBLISH", "sip:1002@pbx.example.com", 1);
    let sent = h.send(&with_credentials(publish("1002@pbx.example.com", "g2"), &creds), udp_peer(), 5.0);
    assert_eq!(status_and_reason(&sent).0, 200);
    assert_eq!(h.engine.publication_count(), 1);
}

#[test]
fn an_account_with_a_realm_acts_only_in_that_domain() {
    // Extension 1001 of the tenant a.example.com is not 1001 of b.example.com.
    let mut h = harness(vec![user("1001", Some("a.example.com"), &[])], |_| {});
    let at = |aor: &str, cseq| {
        let raw = register(aor, &format!("t{cseq}"), cseq, &["<sip:1001@192.0.2.10:5062>"], "");
        replaced(raw, "REGISTER sip:pbx.example.com", "REGISTER sip:a.example.com")
    };
    let c = challenge(&mut h, at("1001@b.example.com", 1), 0.0);
    let creds = answered("1001", &c, "REGISTER", "sip:a.example.com", 1);
    let sent = h.send(&with_credentials(at("1001@b.example.com", 2), &creds), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent).0, 403);
    let creds = answered("1001", &c, "REGISTER", "sip:a.example.com", 2);
    let sent = h.send(&with_credentials(at("1001@a.example.com", 3), &creds), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent).0, 200);
}

#[test]
fn credentials_serve_only_the_request_uri_they_were_computed_for() {
    let mut h = harness(vec![user("1002", None, &[])], |_| {});
    let mut watch = Watch::new("uri", "presence", "1003@pbx.example.com");
    let c = challenge(&mut h, watch.subscribe(None), 0.0);
    let for_1002 = answered("1002", &c, "SUBSCRIBE", "sip:1002@pbx.example.com", 1);
    let sent = h.send(&with_credentials(watch.subscribe(None), &for_1002), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent), (403, "Digest URI Does Not Match the Request-URI".into()));
    assert_eq!(h.engine.subscription_count(), 0);
    // The same entity written another way (case, port, parameters) is the same target.
    let same = answered("1002", &c, "SUBSCRIBE", "sip:1003@PBX.example.com:5060;transport=udp", 2);
    let sent = h.send(&with_credentials(watch.subscribe(None), &same), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent).0, 200);
}

/// SHA-256 credentials (RFC 8760) for `challenge`, as 1001 computes them.
fn sha256_credentials(challenge: &Response, uri: &str) -> String {
    let hex = |s: String| Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let c = AuthParams::parse(challenge.headers.get(&HeaderName::WwwAuthenticate).unwrap()).unwrap();
    let (realm, nonce) = (c.get("realm").unwrap(), c.get("nonce").unwrap());
    let (ha1, ha2) = (hex(format!("1001:{realm}:secret")), hex(format!("REGISTER:{uri}")));
    let response = hex(format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
    format!(
        r#"Digest username="1001", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="abc""#
    )
}

#[test]
fn only_the_offered_algorithms_are_accepted() {
    let mut h = harness(vec![user("1001", None, &[])], |a| a.algorithms = vec![Algorithm::Sha256]);
    let reg = |cseq| register(AOR, "alg", cseq, &["<sip:1001@192.0.2.10:5062>"], "");
    let c = challenge(&mut h, reg(1), 0.0);
    let www = c.headers.get(&HeaderName::WwwAuthenticate).unwrap();
    assert!(www.contains("algorithm=SHA-256") && !www.contains("MD5"), "{www}");

    let md5 = answered("1001", &c, "REGISTER", "sip:pbx.example.com", 1);
    let sent = h.send(&with_credentials(reg(2), &md5), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent), (403, "Digest algorithm not offered".into()));
    // No algorithm parameter means MD5 (RFC 2617 §3.2.2): refused as well.
    let implied = md5.replace(", algorithm=MD5", "");
    let sent = h.send(&with_credentials(reg(3), &implied), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent), (403, "Digest algorithm not offered".into()));
    assert_eq!(h.engine.binding_count(), 0);

    let sha = sha256_credentials(&c, "sip:pbx.example.com");
    assert_eq!(status_and_reason(&h.send(&with_credentials(reg(4), &sha), udp_peer(), 1.0)).0, 200);
}

/// RFC 2069 style credentials (no qop, nc or cnonce) for `challenge`, as 1001 computes them.
fn without_qop(challenge: &Response, method: &str, uri: &str) -> String {
    let c = AuthParams::parse(challenge.headers.get(&HeaderName::WwwAuthenticate).unwrap()).unwrap();
    let (realm, nonce) = (c.get("realm").unwrap(), c.get("nonce").unwrap());
    let ha1 = hex_md5(&format!("1001:{realm}:secret"));
    let response = hex_md5(&format!("{ha1}:{nonce}:{}", hex_md5(&format!("{method}:{uri}"))));
    format!(r#"Digest username="1001", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}""#)
}

#[test]
fn an_answer_without_qop_is_refused_by_default_and_otherwise_used_once() {
    let reg = |cseq| register(AOR, "qop", cseq, &["<sip:1001@192.0.2.10:5062>"], "");
    let mut h = harness(vec![user("1001", None, &[])], |_| {});
    let c = challenge(&mut h, reg(1), 0.0);
    let old_style = without_qop(&c, "REGISTER", "sip:pbx.example.com");
    let sent = h.send(&with_credentials(reg(2), &old_style), udp_peer(), 1.0);
    assert_eq!(status_and_reason(&sent), (403, "Credentials without qop=auth".into()));

    let mut h = harness(vec![user("1001", None, &[])], |a| a.require_qop = false);
    let c = challenge(&mut h, reg(1), 0.0);
    let old_style = without_qop(&c, "REGISTER", "sip:pbx.example.com");
    assert_eq!(status_and_reason(&h.send(&with_credentials(reg(2), &old_style), udp_peer(), 1.0)).0, 200);
    // The same answer again, as a replay: its nonce is used up.
    let replay = only_response(&h.send(&with_credentials(reg(3), &old_style), udp_peer(), 2.0));
    assert_eq!(replay.status, 401);
    assert!(replay.headers.get(&HeaderName::WwwAuthenticate).unwrap().contains("stale=true"));
}

#[test]
fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let reg = |cseq| register(AOR, "enum", cseq, &["<sip:1001@192.0.2.10:5062>"], "");
    for challenge_again in [false, true] {
        let mut h = harness(vec![user("1001", None, &[])], |a| a.challenge_bad_credentials = challenge_again);
        let c = challenge(&mut h, reg(1), 0.0);
        let unknown = answered("9999", &c, "REGISTER", "sip:pbx.example.com", 1);
        let unknown = status_and_reason(&h.send(&with_credentials(reg(2), &unknown), udp_peer(), 1.0));
        let wrong =
            credentials_of("1001", &c, HeaderName::WwwAuthenticate, "REGISTER", "sip:pbx.example.com", "nope", 2);
        let wrong = status_and_reason(&h.send(&with_credentials(reg(3), &wrong), udp_peer(), 1.0));
        assert_eq!(unknown, wrong);
        let expected = if challenge_again { (401, "Unauthorized") } else { (403, "Bad credentials") };
        assert_eq!((unknown.0, unknown.1.as_str()), expected);
    }
}

#[test]
fn the_nonce_table_keeps_within_its_cap_forgetting_the_oldest_first() {
    let reg = |cseq| register(AOR, "cap", cseq, &["<sip:1001@192.0.2.10:5062>"], "");
    let mut h = harness(vec![user("1001", None, &[])], |a| a.max_nonces = 10);
    let challenges: Vec<Response> = (1..=25).map(|cseq| challenge(&mut h, reg(cseq), 0.0)).collect();
    assert_eq!(h.engine.nonce_count(), 10);

    let oldest = answered("1001", &challenges[0], "REGISTER", "sip:pbx.example.com", 1);
    let forgotten = only_response(&h.send(&with_credentials(reg(30), &oldest), udp_peer(), 1.0));
    assert_eq!(forgotten.status, 401, "the oldest nonce was forgotten");
    assert!(forgotten.headers.get(&HeaderName::WwwAuthenticate).unwrap().contains("stale=true"));
    let newest = answered("1001", &challenges[24], "REGISTER", "sip:pbx.example.com", 1);
    assert_eq!(status_and_reason(&h.send(&with_credentials(reg(31), &newest), udp_peer(), 1.0)).0, 200);
    assert_eq!(h.engine.nonce_count(), 10);

    // Past the nonce lifetime, the next challenge finds every earlier nonce expired.
    challenge(&mut h, reg(32), 400.0);
    assert_eq!(h.engine.nonce_count(), 1);
}
