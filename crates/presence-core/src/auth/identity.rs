//! What an authenticated user may act as. Digest proves a username (RFC 3261 §22); it is up
//! to the server to bind it to the identities the request claims (§22.3, §26.2.1), or anyone
//! with an account could subscribe, register and publish as anyone else. The From of a
//! SUBSCRIBE, PUBLISH or REGISTER, the address-of-record a REGISTER binds (its To, §10.2) and
//! the entity a PUBLISH sets (its Request-URI, RFC 3903 §4) must each be the user's own or
//! one its grants name.
//!
//! A user's own entities are those whose user part is its username: at its realm's domain
//! when the account names a realm (so the extension 1001 of one tenant is not 1001 of
//! another), at any domain when it does not (the account then serves every domain).

use sip_proto::uri::Uri;
use sip_proto::{Method, Response};

use crate::config::EngineConfig;
use crate::entity_key::EntityKey;
use crate::request::Incoming;

use super::User;

/// Entities a user may act as besides its own: an alias, a shared line, or every entity of a
/// domain for a trusted gateway's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Every entity (`*`).
    Everyone,
    /// Every entity of one domain (`*@pbx.example.com`), the domain in canonical form.
    Domain(String),
    /// One entity (`1002@pbx.example.com`).
    Entity(EntityKey),
}

impl Grant {
    /// Reads `*`, `*@domain` or an entity, keyed as `keys` keys entities (domain aliases
    /// folded).
    pub fn parse(text: &str, keys: &EngineConfig) -> Grant {
        match text.trim() {
            "*" => Grant::Everyone,
            text => match text.strip_prefix("*@") {
                Some(domain) => Grant::Domain(keys.entity_key(domain).as_str().to_owned()),
                None => Grant::Entity(keys.entity_key(text)),
            },
        }
    }

    fn covers(&self, entity: &EntityKey) -> bool {
        match self {
            Grant::Everyone => true,
            Grant::Domain(domain) => entity.domain() == domain,
            Grant::Entity(granted) => granted == entity,
        }
    }
}

/// The 403 for a request authenticated as `user` that claims an identity the user may not
/// act as; `None` lets it through.
pub(crate) fn refusal(req: &Incoming, user: &User, config: &EngineConfig) -> Option<Response> {
    let may_act_as = |entity: &EntityKey| {
        let own = entity.user() == Some(user.username.as_str())
            && user.realm.as_deref().is_none_or(|realm| config.entity_key(realm).as_str() == entity.domain());
        own || user.act_for.iter().any(|grant| grant.covers(entity))
    };
    if !may_act_as(&config.entity_key(&req.from.uri.to_string())) {
        return Some(req.answer(403).with_reason("From Does Not Match the Authenticated User"));
    }
    let (acted_on, reason) = match (req.method(), &req.request.uri) {
        (Method::Register, _) => (config.entity_key(&req.to.uri.to_string()), "Not Allowed to Register This Address"),
        (Method::Publish, Uri::Sip(target)) => {
            (config.entity_key(&target.aor()), "Not Allowed to Publish for This Entity")
        }
        _ => return None,
    };
    (!may_act_as(&acted_on)).then(|| req.answer(403).with_reason(reason))
}
