//! Digest authentication (RFC 3261 §22): owns the nonces we issued. For a request the
//! router protects (by its method and the configuration) it answers with a challenge (401, or 407 as a proxy),
//! a refusal (403 naming why), or lets the request through; `digest` holds the algorithms,
//! the verification and the credentials we compute when a phone challenges us.

mod digest;

use std::time::{Duration, Instant};

use sip_proto::Response;

pub(crate) use digest::answer;
pub use digest::{Algorithm, Secret, User};

use crate::effects::Effects;
use crate::request::Incoming;
use digest::{Authenticator, Verdict};

/// The authentication component.
#[derive(Debug)]
pub(crate) struct Auth {
    nonces: Authenticator,
}

impl Auth {
    pub(crate) fn new(config: &AuthConfig) -> Self {
        Auth { nonces: Authenticator::new(config.nonce_lifetime) }
    }

    /// Checks `req` (RFC 3261 §22.1): `None` lets it through; otherwise the challenge or
    /// refusal to send.
    pub(crate) fn check(
        &mut self,
        req: &Incoming,
        config: &AuthConfig,
        fx: &mut Effects,
        now: Instant,
    ) -> Option<Response> {
        let host = req.request.uri.as_sip().map(|u| u.host.canonical()).unwrap_or_default();
        let realm = config.realm.clone().unwrap_or_else(|| host.clone());
        let verdict = self.nonces.verify(req.method(), &req.credentials, &realm, &config.users, now);
        let stale = match verdict {
            Verdict::Authenticated { realm, .. } if config.realm_must_match_host && realm != host => {
                fx.stats.auth_refusals += 1;
                return Some(req.answer(403).with_reason("Realm Does Not Match the Domain"));
            }
            Verdict::Authenticated { .. } => return None,
            Verdict::Forbidden("Bad credentials") if config.challenge_bad_credentials => false,
            Verdict::Forbidden(reason) => {
                fx.stats.auth_refusals += 1;
                return Some(req.answer(403).with_reason(reason));
            }
            Verdict::Challenge { stale } => stale,
        };
        fx.stats.auth_challenges += 1;
        let (status, header) = (if config.proxy { 407 } else { 401 }, digest::challenge_header(config.proxy));
        let nonce = fx.ids.token() + &fx.ids.token();
        let mut challenge = req.answer(status);
        for value in self.nonces.challenge(nonce, &realm, &config.algorithms, stale, now) {
            challenge.headers.push(header.clone(), value);
        }
        Some(challenge)
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
    /// Algorithms offered, preferred first.
    pub algorithms: Vec<Algorithm>,
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
            users: Vec::new(),
            realm_must_match_host: false,
            challenge_bad_credentials: false,
        }
    }
}
