//! Digest authentication (RFC 3261 §22, RFC 2617 `qop=auth`, RFC 8760 SHA-256): challenges,
//! verifying credentials with expiring nonces, `stale=true`, and refusing a replayed nonce
//! count; and computing credentials when a phone challenges us.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};
use sip_proto::header::AuthParams;
use sip_proto::{HeaderName, Method};
use subtle::ConstantTimeEq;

use super::identity::Grant;

/// A digest algorithm (RFC 8760 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5` (RFC 3261).
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The `algorithm` parameter value.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn parse(name: Option<&str>) -> Option<Algorithm> {
        match name.map(str::to_ascii_uppercase).as_deref() {
            None | Some("MD5") => Some(Algorithm::Md5),
            Some("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// The lowercase hex digest of `input`.
    fn hash(self, input: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 => Md5::digest(input.as_bytes()).to_vec(),
            Algorithm::Sha256 => Sha256::digest(input.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A user's secret: the password, or precomputed HA1 values (`H(user:realm:password)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    /// The password.
    Password(String),
    /// HA1 per algorithm, lowercase hex; an algorithm without one cannot be used.
    Ha1 {
        /// `MD5(user:realm:password)`.
        md5: Option<String>,
        /// `SHA-256(user:realm:password)`.
        sha256: Option<String>,
    },
}

/// A user who may authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The username (usually the extension).
    pub username: String,
    /// The realm; `None` accepts the server's realm.
    pub realm: Option<String>,
    /// The secret.
    pub secret: Secret,
    /// The entities this user may act as besides its own (see [`super::identity`]).
    pub act_for: Vec<Grant>,
}

impl User {
    fn ha1(&self, algorithm: Algorithm, realm: &str) -> Option<String> {
        match &self.secret {
            Secret::Password(password) => Some(algorithm.hash(&format!("{}:{realm}:{password}", self.username))),
            Secret::Ha1 { md5, sha256 } => match algorithm {
                Algorithm::Md5 => md5.clone(),
                Algorithm::Sha256 => sha256.clone(),
            },
        }
    }
}

/// The outcome of checking a request's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict<'u> {
    /// Authenticated as `user` in `realm`, with credentials computed for `uri`.
    Authenticated { user: &'u User, realm: String, uri: String },
    /// Send a challenge (`stale` when the nonce was ours but has expired or is unknown).
    Challenge { stale: bool },
    /// Refuse with 403 and this reason.
    Forbidden(&'static str),
}

/// Why wrong credentials are refused: the same words for an unknown user, a wrong password
/// and a user without a secret for the algorithm, so the answer does not tell which
/// usernames exist.
pub(crate) const BAD_CREDENTIALS: &str = "Bad credentials";

/// How credentials are checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules<'c> {
    /// Who may authenticate.
    pub(crate) users: &'c [User],
    /// The algorithms we offer: an answer with another is refused (RFC 8760 §2.4 lets the
    /// server pick, so a client must not pick a weaker one for us).
    pub(crate) algorithms: &'c [Algorithm],
    /// Refuse an answer without `qop=auth` (RFC 2069 style), which has no nonce count.
    pub(crate) require_qop: bool,
}

/// Nonce bookkeeping and verification. Every nonce lives the same time, so the order they
/// were issued in is the order they expire in: a queue of them makes expiring and evicting
/// O(1) per challenge.
#[derive(Debug)]
pub(crate) struct Authenticator {
    nonces: HashMap<Arc<str>, NonceState>,
    issued: VecDeque<(Instant, Arc<str>)>,
    lifetime: Duration,
    capacity: usize,
}

#[derive(Debug)]
struct NonceState {
    issued: Instant,
    /// The highest `nc` accepted with this nonce (RFC 2617 §3.2.2: it must grow).
    highest_nc: u32,
}

impl Authenticator {
    /// Nonces live `lifetime`; at most `capacity` are outstanding, past which the oldest is
    /// forgotten (its client gets `stale=true` and a new one).
    pub(crate) fn new(lifetime: Duration, capacity: usize) -> Self {
        Authenticator { nonces: HashMap::new(), issued: VecDeque::new(), lifetime, capacity: capacity.max(1) }
    }

    /// How many nonces are outstanding.
    pub(crate) fn len(&self) -> usize {
        self.nonces.len()
    }

    /// Registers a fresh nonce and returns the challenge header values, one per algorithm.
    pub(crate) fn challenge(
        &mut self,
        nonce: String,
        realm: &str,
        algorithms: &[Algorithm],
        stale: bool,
        now: Instant,
    ) -> Vec<String> {
        self.expire(now);
        while self.issued.len() >= self.capacity {
            self.forget_oldest();
        }
        let values = algorithms
            .iter()
            .map(|a| {
                let stale = if stale { ", stale=true" } else { "" };
                format!(r#"Digest realm="{realm}", nonce="{nonce}", algorithm={}, qop="auth"{stale}"#, a.name())
            })
            .collect();
        let nonce: Arc<str> = nonce.into();
        self.issued.push_back((now, nonce.clone()));
        self.nonces.insert(nonce, NonceState { issued: now, highest_nc: 0 });
        values
    }

    /// Forgets the nonces whose lifetime is over, oldest first.
    fn expire(&mut self, now: Instant) {
        while self.issued.front().is_some_and(|(issued, _)| now.duration_since(*issued) >= self.lifetime) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, nonce)) = self.issued.pop_front() {
            self.nonces.remove(&nonce);
        }
    }

    /// Checks the `credentials` a `method` request carries for `realm` by `rules`.
    pub(crate) fn verify<'u>(
        &mut self,
        method: &Method,
        credentials: &[AuthParams],
        realm: &str,
        rules: Rules<'u>,
        now: Instant,
    ) -> Verdict<'u> {
        let Some(c) = credentials.iter().find(|c| c.is_digest() && c.get("realm") == Some(realm)) else {
            return Verdict::Challenge { stale: false };
        };
        let (Some(username), Some(nonce), Some(uri), Some(response)) =
            (c.get("username"), c.get("nonce"), c.get("uri"), c.get("response"))
        else {
            return Verdict::Forbidden("Incomplete credentials");
        };
        let Some(algorithm) = Algorithm::parse(c.get("algorithm")) else {
            return Verdict::Challenge { stale: false };
        };
        if !rules.algorithms.contains(&algorithm) {
            // An absent `algorithm` means MD5 (RFC 2617 §3.2.2), so it is refused too when
            // only SHA-256 is offered.
            return Verdict::Forbidden("Digest algorithm not offered");
        }
        let lifetime = self.lifetime;
        let Some(state) = self.nonces.get_mut(nonce).filter(|n| now.duration_since(n.issued) < lifetime) else {
            // Expired, or issued before a restart: let the client retry with a new nonce.
            return Verdict::Challenge { stale: true };
        };
        let qop = c.get("qop");
        let nc = match qop {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                match c.get("nc").and_then(|nc| u32::from_str_radix(nc, 16).ok()) {
                    Some(nc) if nc > state.highest_nc => Some(nc),
                    Some(_) => return Verdict::Forbidden("Replayed nonce count"),
                    None => return Verdict::Forbidden("Incomplete credentials"),
                }
            }
            Some(_) => return Verdict::Forbidden("Unsupported qop"),
            None if rules.require_qop => return Verdict::Forbidden("Credentials without qop=auth"),
            None => None,
        };
        let user = rules.users.iter().find(|u| u.username == username && u.realm.as_deref().is_none_or(|r| r == realm));
        let known = user.and_then(|u| Some((u, u.ha1(algorithm, realm)?)));
        // An unknown user costs the same hashing as a known one, so timing does not tell
        // which usernames exist either.
        let ha1 = known.as_ref().map_or_else(|| algorithm.hash(nonce), |(_, ha1)| ha1.clone());
        let ha2 = algorithm.hash(&format!("{method}:{uri}"));
        let expected = match nc {
            Some(_) => {
                let (nc, cnonce) = (c.get("nc").unwrap_or_default(), c.get("cnonce").unwrap_or_default());
                algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            }
            None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
        };
        let matches = bool::from(expected.as_bytes().ct_eq(response.to_ascii_lowercase().as_bytes()));
        let Some((user, _)) = known.filter(|_| matches) else {
            return Verdict::Forbidden(BAD_CREDENTIALS);
        };
        match nc {
            Some(nc) => state.highest_nc = nc,
            // RFC 2069 style answers carry no count to grow, so each nonce takes one: a
            // replay finds it gone and is challenged.
            None => {
                self.nonces.remove(nonce);
            }
        }
        Verdict::Authenticated { user, realm: realm.to_owned(), uri: uri.to_owned() }
    }
}

/// Credentials answering `challenge` (RFC 2617 §3.2.2), for a request we send.
pub(crate) fn answer(challenge: &AuthParams, user: &User, method: &str, uri: &str, cnonce: &str) -> Option<String> {
    let realm = challenge.get("realm")?;
    let nonce = challenge.get("nonce")?;
    let algorithm = Algorithm::parse(challenge.get("algorithm"))?;
    let ha1 = user.ha1(algorithm, realm)?;
    let ha2 = algorithm.hash(&format!("{method}:{uri}"));
    let mut creds = AuthParams { scheme: "Digest".to_owned(), params: Vec::new() };
    let mut add =
        |name: &str, value: &str, quoted: bool| creds.params.push((name.to_owned(), value.to_owned(), quoted));
    add("username", &user.username, true);
    add("realm", realm, true);
    add("nonce", nonce, true);
    add("uri", uri, true);
    add("algorithm", algorithm.name(), false);
    let offers_auth = challenge.get("qop").is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")));
    let response = if offers_auth {
        add("qop", "auth", false);
        add("nc", "00000001", false);
        add("cnonce", cnonce, true);
        algorithm.hash(&format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"))
    } else {
        algorithm.hash(&format!("{ha1}:{nonce}:{ha2}"))
    };
    add("response", &response, true);
    if let Some(opaque) = challenge.get("opaque") {
        add("opaque", opaque, true);
    }
    Some(creds.to_string())
}

/// The header a challenge or credentials travel in: `WWW-Authenticate`/`Authorization`
/// for a user agent server (401), `Proxy-Authenticate`/`Proxy-Authorization` (407).
pub(crate) fn challenge_header(proxy: bool) -> HeaderName {
    if proxy { HeaderName::ProxyAuthenticate } else { HeaderName::WwwAuthenticate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_proto::Request;
    use sip_proto::message::Message;

    /// RFC 2617 §3.5's example, in a SIP request: the digest must come out as the RFC says.
    #[test]
    fn rfc_2617_known_answer() {
        let user = User {
            username: "Mufasa".into(),
            realm: None,
            secret: Secret::Password("Circle Of Life".into()),
            act_for: Vec::new(),
        };
        let ha1 = user.ha1(Algorithm::Md5, "testrealm@host.com").unwrap();
        let ha2 = Algorithm::Md5.hash("GET:/dir/index.html");
        let response =
            Algorithm::Md5.hash(&format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"));
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    /// RFC 7616 §3.9.1's SHA-256 example (the algorithm RFC 8760 brings to SIP).
    #[test]
    fn rfc_7616_sha256_known_answer() {
        let user = User {
            username: "Mufasa".into(),
            realm: None,
            secret: Secret::Password("Circle of Life".into()),
            act_for: Vec::new(),
        };
        let ha1 = user.ha1(Algorithm::Sha256, "http-auth@example.org").unwrap();
        let ha2 = Algorithm::Sha256.hash("GET:/dir/index.html");
        let response = Algorithm::Sha256.hash(&format!(
            "{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{ha2}"
        ));
        assert_eq!(response, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    }

    const BOTH: &[Algorithm] = &[Algorithm::Md5, Algorithm::Sha256];

    fn rules<'u>(users: &'u [User], algorithms: &'static [Algorithm]) -> Rules<'u> {
        Rules { users, algorithms, require_qop: true }
    }

    fn credentials_of(req: &Request) -> Vec<AuthParams> {
        req.headers.authorization().unwrap()
    }

    fn register_with(credentials: &str) -> Request {
        let raw = format!(
            "REGISTER sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:1001@pbx.example.com>;tag=1\r\nTo: <sip:1001@pbx.example.com>\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\nAuthorization: {credentials}\r\n\r\n"
        );
        match sip_proto::parse_message(raw.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    #[test]
    fn round_trip_stale_and_replay() {
        let t0 = Instant::now();
        let users = [User {
            username: "1001".into(),
            realm: None,
            secret: Secret::Password("secret".into()),
            act_for: Vec::new(),
        }];
        let mut auth = Authenticator::new(Duration::from_secs(300), 100);
        let header = auth.challenge("n1".into(), "pbx.example.com", &[Algorithm::Sha256], false, t0).remove(0);
        let challenge = AuthParams::parse(&header).unwrap();
        let creds = answer(&challenge, &users[0], "REGISTER", "sip:pbx.example.com", "cn").unwrap();
        let req = register_with(&creds);
        assert_eq!(
            auth.verify(&req.method, &credentials_of(&req), "pbx.example.com", rules(&users, BOTH), t0),
            Verdict::Authenticated {
                user: &users[0],
                realm: "pbx.example.com".into(),
                uri: "sip:pbx.example.com".into()
            }
        );
        assert_eq!(
            auth.verify(&req.method, &credentials_of(&req), "pbx.example.com", rules(&users, BOTH), t0),
            Verdict::Forbidden("Replayed nonce count")
        );
        assert_eq!(
            auth.verify(
                &req.method,
                &credentials_of(&req),
                "pbx.example.com",
                rules(&users, BOTH),
                t0 + Duration::from_secs(301)
            ),
            Verdict::Challenge { stale: true }
        );

        let wrong = [User {
            username: "1001".into(),
            realm: None,
            secret: Secret::Password("other".into()),
            act_for: Vec::new(),
        }];
        auth.challenge("n2".into(), "pbx.example.com", &[Algorithm::Md5], false, t0);
        let md5 = AuthParams::parse(&auth.challenge("n3".into(), "pbx.example.com", &[Algorithm::Md5], false, t0)[0])
            .unwrap();
        let bad = register_with(&answer(&md5, &wrong[0], "REGISTER", "sip:pbx.example.com", "cn").unwrap());
        assert_eq!(
            auth.verify(&bad.method, &credentials_of(&bad), "pbx.example.com", rules(&users, BOTH), t0),
            Verdict::Forbidden("Bad credentials")
        );
        let elsewhere = register_with("Digest realm=\"elsewhere\", username=\"1001\"");
        assert_eq!(
            auth.verify(&elsewhere.method, &credentials_of(&elsewhere), "pbx.example.com", rules(&users, BOTH), t0),
            Verdict::Challenge { stale: false }
        );
    }

    #[test]
    fn ha1_secrets_work() {
        let t0 = Instant::now();
        let ha1 = Algorithm::Md5.hash("1001:pbx.example.com:secret");
        let users = [User {
            username: "1001".into(),
            realm: Some("pbx.example.com".into()),
            secret: Secret::Ha1 { md5: Some(ha1), sha256: None },
            act_for: Vec::new(),
        }];
        let mut auth = Authenticator::new(Duration::from_secs(60), 100);
        let c =
            AuthParams::parse(&auth.challenge("n".into(), "pbx.example.com", &[Algorithm::Md5], false, t0)[0]).unwrap();
        let with_password = User {
            username: "1001".into(),
            realm: None,
            secret: Secret::Password("secret".into()),
            act_for: Vec::new(),
        };
        let req = register_with(&answer(&c, &with_password, "REGISTER", "sip:pbx.example.com", "x").unwrap());
        assert!(matches!(
            auth.verify(&req.method, &credentials_of(&req), "pbx.example.com", rules(&users, BOTH), t0),
            Verdict::Authenticated { .. }
        ));
    }
}
