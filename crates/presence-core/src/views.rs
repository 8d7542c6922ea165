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
    /// Why it cannot take a call now (`None` when it can).
    pub unavailable: Option<&'static str>,
    /// Its display name, as the call manager gave it.
    pub display: Option<String>,
    /// The User-Agents of its registered contacts, each once.
    pub user_agents: Vec<String>,
}

/// The groups an operator filters entities by (and the dashboard counts), declared in the
/// order of [`Category::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// A contact is registered.
    Registered,
    /// On a call, or one is ringing or being placed.
    Busy,
    /// Do not disturb.
    Dnd,
    /// New messages are waiting.
    Messages,
}

impl Category {
    /// Every category, in the order the API lists them.
    pub const ALL: [Category; 4] = [Category::Registered, Category::Busy, Category::Dnd, Category::Messages];

    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Registered => "registered",
            Category::Busy => "busy",
            Category::Dnd => "dnd",
            Category::Messages => "messages",
        }
    }

    /// The category named `name`.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl EntityView {
    /// Whether the entity is in `category`.
    pub fn is(&self, category: Category) -> bool {
        match category {
            Category::Registered => self.contacts > 0 || self.registered == Some(true),
            Category::Busy => self.on_the_phone || !self.calls.is_empty(),
            Category::Dnd => self.dnd,
            Category::Messages => self.voicemail.is_some_and(|v| v.new > 0),
        }
    }

    /// Whether its name or display name contains `needle` (lowercase), case-insensitively.
    pub fn mentions(&self, needle: &str) -> bool {
        let contains = |text: &str| text.to_ascii_lowercase().contains(needle);
        contains(&self.entity) || self.display.as_deref().is_some_and(contains)
    }
}

/// Everything held about one entity, for an operator's detail view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityDetail {
    /// Its composed state.
    pub entity: EntityView,
    /// The subscriptions we serve to it.
    pub subscriptions: Vec<SubscriptionView>,
    /// Our subscriptions to its registered phones.
    pub watches: Vec<WatchView>,
    /// Its registered contacts.
    pub registrations: Vec<RegistrationView>,
    /// Its live publications.
    pub publications: Vec<PublicationView>,
}

/// One subscription we hold to a registered phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchView {
    /// The event package.
    pub event: &'static str,
    /// The phone's Contact.
    pub contact: String,
    /// `subscribing` (no dialog yet), `active` or `ending`.
    pub state: &'static str,
    /// What the phone last reported of its presence: `open` or `closed`, with DND.
    pub reported: Option<String>,
    /// Where our requests go.
    pub peer: SourceAddress,
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
    /// Who published: the From address and the Contact (or source address).
    pub device: String,
    /// The address it was published from (`None` for one restored after a restart).
    pub source: Option<String>,
}
