//! The registrar (RFC 3261 §10.3): owns the bindings of contacts to addresses-of-record,
//! with the source address and flow kept so requests reach phones behind NAT. `register`
//! takes REGISTERs and expires bindings, `outbound` holds what RFC 5626 and RFC 3327 change
//! in that, `store` keeps them across restarts, `binding` is the table. Other components
//! read a binding through [`Registrar::binding`].

mod binding;
mod outbound;
mod register;
mod store;

use std::time::Instant;

pub(crate) use binding::Binding;
pub(crate) use outbound::binding_key;

use crate::api::SourceAddress;
use crate::entity_key::EntityKey;
use crate::views::RegistrationView;
use binding::Bindings;

/// The registrar component.
#[derive(Debug, Default)]
pub(crate) struct Registrar {
    bindings: Bindings,
}

/// What a REGISTER, or an expiry, changed for one address-of-record, in order.
#[derive(Debug)]
pub(crate) struct Registered {
    pub(crate) aor: EntityKey,
    pub(crate) bindings: Vec<BindingChange>,
    /// Whether any contact is bound now.
    pub(crate) registered: bool,
}

/// One binding that came, went or moved, by its key ([`binding_key`]).
#[derive(Debug)]
pub(crate) enum BindingChange {
    Added(String),
    Removed(String),
    /// Refreshed from another source or connection (a phone that reconnected): requests to
    /// it now go that way (RFC 5626 §6: the newest flow replaces the old one).
    Moved(String),
}

impl Registrar {
    /// The bindings of `aor`.
    pub(crate) fn bindings_of(&self, aor: &EntityKey) -> &[Binding] {
        self.bindings.of(aor)
    }

    /// The binding of `aor` whose key ([`binding_key`]) is `key`.
    pub(crate) fn binding(&self, aor: &EntityKey, key: &str) -> Option<&Binding> {
        self.bindings.of(aor).iter().find(|b| b.key == key)
    }

    /// How many contacts are bound.
    pub(crate) fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Every registered contact.
    pub(crate) fn views(&self, now: Instant) -> Vec<RegistrationView> {
        let mut views: Vec<RegistrationView> = self.bindings.iter().map(|(aor, b)| view(aor, b, now)).collect();
        views.sort_by(|a, b| (&a.entity, &a.contact).cmp(&(&b.entity, &b.contact)));
        views
    }

    /// The registered contacts of `aor`, in the order they registered.
    pub(crate) fn views_of(&self, aor: &EntityKey, now: Instant) -> Vec<RegistrationView> {
        self.bindings_of(aor).iter().map(|b| view(aor, b, now)).collect()
    }
}

fn view(aor: &EntityKey, b: &Binding, now: Instant) -> RegistrationView {
    RegistrationView {
        entity: aor.to_string(),
        contact: b.contact.uri.to_string(),
        expires_in: b.expires_at.saturating_duration_since(now).as_secs(),
        user_agent: b.user_agent.clone(),
        source: SourceAddress::of(b.source),
    }
}
