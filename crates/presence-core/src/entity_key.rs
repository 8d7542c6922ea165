//! The one name of an entity: its address-of-record `user@host` (or a bare host), with the
//! scheme, parameters and port dropped, the host lowercased and domain aliases folded. Every
//! component keys what it holds about an entity by it, and the configuration and the API
//! name entities by it, so `sip:1001@PBX.example.com:5060` and `1001@10.0.0.5` (an alias)
//! are one entity everywhere. Only [`crate::EngineConfig::entity_key`] makes one, because
//! only the configuration knows the aliases.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// An entity's name. Shared text: a subscription's key is copied into several indexes, and a
/// copy costs a reference count instead of an allocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey(Arc<str>);

impl EntityKey {
    /// Wraps text already in the canonical form.
    pub(crate) fn canonical(text: String) -> Self {
        EntityKey(text.into())
    }

    /// The key as text, `user@host`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain: the host part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or(&*self.0, |(_, domain)| domain)
    }

    /// The user part, if there is one.
    pub fn user(&self) -> Option<&str> {
        self.0.rsplit_once('@').map(|(user, _)| user)
    }

    /// The entity as the SIP URI documents name it by, `sip:user@host`.
    pub fn uri(&self) -> String {
        format!("sip:{}", self.0)
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lets maps keyed by entity be searched with the text of a key (it hashes the same).
impl Borrow<str> for EntityKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}
