//! Digest authentication (RFC 3261 §22): owns the nonces we issued. For a request the
//! router protects (by its method and the configuration) it answers with a challenge (401,
//! or 407 as a proxy), a refusal (403 naming why), or lets the request through with the
//! user it proved; `digest` holds the algorithms, the verification and the credentials we
//! compute when a phone challenges us, and `identity` what a user may act as.

mod digest;
mod identity;

use std::time::{Duration, Instant};

use sip_proto::Response;
use sip_proto::uri::Uri;

pub(crate) use digest::answer;
pub use digest::{Algorithm, Secret, User};
pub use identity::Grant;

use crate::config::EngineConfig;
use crate::effects::Effects;
use crate::request::Incoming;
use digest::{Authenticator, Rules, Verdict};

/// The authentication component.
#[derive(Debug)]
pub(crate) struct Auth {
    nonces: Authenticator,
}

impl Auth {
    pub(crate) fn new(config: &AuthConfig) -> Self {
        Auth { nonces: Authenticator::new(config.nonce_lifetime, config.max_nonces) }
    }

    /// How many nonces are outstanding.
    pub(crate) fn nonce_count(&self) -> usize {
        self.nonces.len()
    }

    /// Checks `req` (RFC 3261 §22.1): `Ok` lets it through, its credentials good and its
    /// identities the user's to claim; `Err` is the challenge or refusal to send.
    pub(crate) fn check(
        &mut self,
        req: &Incoming,
        config: &EngineConfig,
        fx: &mut Effects,
        now: Instant,
    ) -> Result<(), Response> {
        let auth = &config.auth;
        let host = req.request.uri.as_sip().map(|u| u.host.canonical()).unwrap_or_default();
        let realm = auth.realm.clone().unwrap_or_else(|| host.clone());
        let rules = Rules { users: &auth.users, algorithms: &auth.algorithms, require_qop: auth.require_qop };
        let refusal = |fx: &mut Effects, reason: &'static str| {
            fx.stats.auth_refusals += 1;
            req.answer(403).with_reason(reason)
        };
        let stale = match self.nonces.verify(req.method(), &req.credentials, &realm, rules, now) {
            Verdict::Authenticated { realm, .. } if auth.realm_must_match_host && realm != host => {
                return Err(refusal(fx, "Realm Does Not Match the Domain"));
            }
            Verdict::Authenticated { uri, .. } if !same_target(&uri, &req.request.uri, config) => {
                // §22.4: credentials computed for another Request-URI are not for this request.
                return Err(refusal(fx, "Digest URI Does Not Match the Request-URI"));
            }
            Verdict::Authenticated { user, .. } => {
                return match identity::refusal(req, user, config) {
                    None => Ok(()),
                    Some(refused) => {
                        fx.stats.auth_refusals += 1;
                        Err(refused)
                    }
                };
            }
            Verdict::Forbidden(digest::BAD_CREDENTIALS) if auth.challenge_bad_credentials => false,
            Verdict::Forbidden(reason) => return Err(refusal(fx, reason)),
            Verdict::Challenge { stale } => stale,
        };
        fx.stats.auth_challenges += 1;
        let (status, header) = (if auth.proxy { 407 } else { 401 }, digest::challenge_header(auth.proxy));
        let nonce = fx.ids.token() + &fx.ids.token();
        let mut challenge = req.answer(status);
        for value in self.nonces.challenge(nonce, &realm, &auth.algorithms, stale, now) {
            challenge.headers.push(header.clone(), value);
        }
        Err(challenge)
    }
}

/// Whether the digest `uri` names the request's target: the same scheme and the same entity
/// (case, port, parameters and domain aliases aside), so a proxy that rewrites the host to an
/// alias does not break authentication, while credentials computed for one entity do not
/// serve for another.
fn same_target(digest_uri: &str, request_uri: &Uri, config: &EngineConfig) -> bool {
    match (Uri::parse(digest_uri), request_uri) {
        (Ok(Uri::Sip(ours)), Uri::Sip(theirs)) => {
            ours.secure == theirs.secure && config.entity_key(&ours.aor()) == config.entity_key(&theirs.aor())
        }
        (Ok(other), request_uri) => other == *request_uri,
        (Err(_), _) => false,
    }
}

/// Digest authentication settings (RFC 3261 §22, RFC 8760).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// The realm; `None` uses the Request-URI host.
    pub realm: Option<String>,
    /// Challenge REGISTER.
    pub register: bool,
    /// Challenge SUBSCRIBE (initial and in-dialog).
    pub subscribe: bool,
    /// Challenge PUBLISH.
    pub publish: bool,
    /// Challenge with 407/Proxy-Authenticate instead of 401/WWW-Authenticate.
    pub proxy: bool,
    /// How long a nonce may be used.
    pub nonce_lifetime: Duration,
    /// Algorithms offered, preferred first; answers with any other are refused.
    pub algorithms: Vec<Algorithm>,
    /// Refuse answers without `qop=auth` (RFC 2069 style); when off, each such answer uses
    /// up its nonce, so it cannot be replayed either.
    pub require_qop: bool,
    /// Most nonces outstanding; past it the oldest is forgotten.
    pub max_nonces: usize,
    /// Users who may authenticate (also our credentials when a phone challenges us).
    pub users: Vec<User>,
    /// The seed's rule: the authenticated realm must equal the Request-URI host, else 403.
    pub realm_must_match_host: bool,
    /// Answer wrong credentials with a new challenge instead of 403.
    pub challenge_bad_credentials: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            realm: None,
            register: false,
            subscribe: false,
            publish: false,
            proxy: false,
            nonce_lifetime: Duration::from_secs(300),
            algorithms: vec![Algorithm::Md5],
            require_qop: true,
            max_nonces: 100_000,
            users: Vec::new(),
            realm_must_match_host: false,
            challenge_bad_credentials: false,
        }
    }
}
