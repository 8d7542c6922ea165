//! Read-only views of the engine's state for look-ups (the HTTP API's GET resources): what
//! an entity shows, and the subscriptions, registrations and publications held. Each
//! component builds the views of what it owns; nothing here changes state.

use crate::api::SourceAddress;
use crate::bodies::mwi::MessageCounts;
use crate::call::Call;

/// An entity's composed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityView {
    /// `user@host`.
    pub entity: String,
    /// Registered (`None`: nobody reported).
    pub registered: Option<bool>,
    /// Registered contacts.
    pub contacts: usize,
    /// What presence watchers see: `available`, `on-the-phone`, `dnd`, `on-the-phone-dnd`, `offline`.
    pub shown: &'static str,
    /// The composed note.
    pub note: Option<String>,
    /// Do not disturb.
    pub dnd: bool,
    /// On the phone.
    pub on_the_phone: bool,
    /// Current calls.
    pub calls: Vec<Call>,
    /// Voicemail counts, once known.
    pub voicemail: Option<MessageCounts>,
    /// Active subscriptions to it.
    pub watchers: usize,
    /// Whether it can take a call now: registered (or not known otherwise), not DND, not on
    /// the phone (the availability that queue routing asks for).
    pub available: bool,
    /// Whether anything is known of its state (a registration, a publication, what an
    /// integration pushed); an entity that is only watched is not known.
    pub known: bool,
}

/// One subscription we serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionView {
    /// Its id (for `DELETE`).
    pub id: u64,
    /// The watched entity.
    pub entity: String,
    /// The subscriber.
    pub subscriber: String,
    /// The event package.
    pub event: &'static str,
    /// The negotiated body type.
    pub content_type: &'static str,
    /// The dialog's Call-ID.
    pub call_id: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// `active` or `terminating`.
    pub state: &'static str,
    /// Where its NOTIFYs go.
    pub peer: SourceAddress,
    /// The subscriber's device profile, if one matched.
    pub profile: Option<String>,
}

/// One registered contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationView {
    /// The address-of-record.
    pub entity: String,
    /// The contact URI.
    pub contact: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Its User-Agent.
    pub user_agent: Option<String>,
    /// Where it registered from.
    pub source: SourceAddress,
}

/// One live publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicationView {
    /// The entity.
    pub entity: String,
    /// The event package.
    pub event: &'static str,
    /// Its current entity-tag.
    pub etag: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}
