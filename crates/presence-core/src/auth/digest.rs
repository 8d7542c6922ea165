//! Digest authentication (RFC 3261 §22, RFC 2617 `qop=auth`, RFC 8760 SHA-256): challenges,
//! verifying credentials with expiring nonces, `stale=true`, and refusing a replayed nonce
//! count; and computing credentials when a phone challenges us.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};
use sip_proto::header::AuthParams;
use sip_proto::{HeaderName, Method};
use subtle::ConstantTimeEq;

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
pub(crate) enum Verdict {
    /// Authenticated as `username` in `realm`.
    Authenticated { username: String, realm: String },
    /// Send a challenge (`stale` when the nonce was ours but has expired or is unknown).
    Challenge { stale: bool },
    /// Refuse with 403 and this reason.
    Forbidden(&'static str),
}

/// Nonce bookkeeping and verification.
#[derive(Debug)]
pub(crate) struct Authenticator {
    nonces: HashMap<String, NonceState>,
    lifetime: Duration,
}

#[derive(Debug)]
struct NonceState {
    issued: Instant,
    /// The highest `nc` accepted with this nonce (RFC 2617 §3.2.2: it must grow).
    highest_nc: u32,
}

/// Most outstanding nonces kept; past it the oldest expire early.
const MAX_NONCES: usize = 100_000;

impl Authenticator {
    pub(crate) fn new(lifetime: Duration) -> Self {
        Authenticator { nonces: HashMap::new(), lifetime }
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
        if self.nonces.len() >= MAX_NONCES {
            let lifetime = self.lifetime;
            self.nonces.retain(|_, n| now.duration_since(n.issued) < lifetime);
        }
        let values = algorithms
            .iter()
            .map(|a| {
                let stale = if stale { ", stale=true" } else { "" };
                format!(r#"Digest realm="{realm}", nonce="{nonce}", algorithm={}, qop="auth"{stale}"#, a.name())
            })
            .collect();
        self.nonces.insert(nonce, NonceState { issued: now, highest_nc: 0 });
        values
    }

    /// Checks the `credentials` a `method` request carries for `realm` against `users`.
    pub(crate) fn verify(
        &mut self,
        method: &Method,
        credentials: &[AuthParams],
        realm: &str,
        users: &[User],
        now: Instant,
    ) -> Verdict {
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
        let lifetime = self.lifetime;
        let Some(state) = self.nonces.get_mut(nonce).filter(|n| now.duration_since(n.issued) < lifetime) else {
            // Expired, or issued before a restart: let the client retry with a new nonce.
            return Verdict::Challenge { stale: true };
        };
        let Some(user) = users.iter().find(|u| u.username == username && u.realm.as_deref().is_none_or(|r| r == realm))
        else {
            return Verdict::Forbidden("Unknown user");
        };
        let Some(ha1) = user.ha1(algorithm, realm) else { return Verdict::Forbidden("No secret for this algorithm") };
        let ha2 = algorithm.hash(&format!("{method}:{uri}"));
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
            None => None,
        };
        let expected = match nc {
            Some(_) => {
                let (nc, cnonce) = (c.get("nc").unwrap_or_default(), c.get("cnonce").unwrap_or_default());
                algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            }
            // RFC 2069 compatibility: no qop, no replay protection beyond the nonce lifetime.
            None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
        };
        if !bool::from(expected.as_bytes().ct_eq(response.to_ascii_lowercase().as_bytes())) {
            return Verdict::Forbidden("Bad credentials");
        }
        if let Some(nc) = nc {
            state.highest_nc = nc;
        }
        Verdict::Authenticated { username: username.to_owned(), realm: realm.to_owned() }
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
        let user = User { username: "Mufasa".into(), realm: None, secret: Secret::Password("Circle Of Life".into()) };
        let ha1 = user.ha1(Algorithm::Md5, "testrealm@host.com").unwrap();
        let ha2 = Algorithm::Md5.hash("GET:/dir/index.html");
        let response =
            Algorithm::Md5.hash(&format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"));
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    /// RFC 7616 §3.9.1's SHA-256 example (the algorithm RFC 8760 brings to SIP).
    #[test]
    fn rfc_7616_sha256_known_answer() {
        let user = User { username: "Mufasa".into(), realm: None, secret: Secret::Password("Circle of Life".into()) };
        let ha1 = user.ha1(Algorithm::Sha256, "http-auth@example.org").unwrap();
        let ha2 = Algorithm::Sha256.hash("GET:/dir/index.html");
        let response = Algorithm::Sha256.hash(&format!(
            "{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{ha2}"
        ));
        assert_eq!(response, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
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
        let users = [User { username: "1001".into(), realm: None, secret: Secret::Password("secret".into()) }];
        let mut auth = Authenticator::new(Duration::from_secs(300));
        let header = auth.challenge("n1".into(), "pbx.example.com", &[Algorithm::Sha256], false, t0).remove(0);
        let challenge = AuthParams::parse(&header).unwrap();
        let creds = answer(&challenge, &users[0], "REGISTER", "sip:pbx.example.com", "cn").unwrap();
        let req = register_with(&creds);
        assert_eq!(
            auth.verify(&req.method, &credentials_of(&req), "pbx.example.com", &users, t0),
            Verdict::Authenticated { username: "1001".into(), realm: "pbx.example.com".into() }
        );
        assert_eq!(
            auth.verify(&req.method, &credentials_of(&req), "pbx.example.com", &users, t0),
            Verdict::Forbidden("Replayed nonce count")
        );
        assert_eq!(
            auth.verify(&req.method, &credentials_of(&req), "pbx.example.com", &users, t0 + Duration::from_secs(301)),
            Verdict::Challenge { stale: true }
        );

        let wrong = [User { username: "1001".into(), realm: None, secret: Secret::Password("other".into()) }];
        auth.challenge("n2".into(), "pbx.example.com", &[Algorithm::Md5], false, t0);
        let md5 = AuthParams::parse(&auth.challenge("n3".into(), "pbx.example.com", &[Algorithm::Md5], false, t0)[0])
            .unwrap();
        let bad = register_with(&answer(&md5, &wrong[0], "REGISTER", "sip:pbx.example.com", "cn").unwrap());
        assert_eq!(
            auth.verify(&bad.method, &credentials_of(&bad), "pbx.example.com", &users, t0),
            Verdict::Forbidden("Bad credentials")
        );
        let elsewhere = register_with("Digest realm=\"elsewhere\", username=\"1001\"");
        assert_eq!(
            auth.verify(&elsewhere.method, &credentials_of(&elsewhere), "pbx.example.com", &users, t0),
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
        }];
        let mut auth = Authenticator::new(Duration::from_secs(60));
        let c =
            AuthParams::parse(&auth.challenge("n".into(), "pbx.example.com", &[Algorithm::Md5], false, t0)[0]).unwrap();
        let with_password = User { username: "1001".into(), realm: None, secret: Secret::Password("secret".into()) };
        let req = register_with(&answer(&c, &with_password, "REGISTER", "sip:pbx.example.com", "x").unwrap());
        assert!(matches!(
            auth.verify(&req.method, &credentials_of(&req), "pbx.example.com", &users, t0),
            Verdict::Authenticated { .. }
        ));
    }
}
