//! The event contract with integrations, typed: [`InEvent`]s the engine raises
//! (`presence.subscribe.in`, `presence.voicemail.in`) and [`Command`]s it takes (the `.out`
//! events). `contract` maps both to and from the seed's JSON.

use crate::bodies::Basic;
use crate::bodies::mwi::MessageCounts;
use crate::call::Call;
use crate::features::{FeatureState, ForwardKind, Forwarding};
use crate::lamp::Lamp;

/// An event the server raises for integrations.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InEvent {
    /// `presence.subscribe.in`: a watcher subscribed to presence or dialog state.
    SubscribeIn(NewWatcher),
    /// `presence.voicemail.in`: a phone subscribed to message-waiting.
    VoicemailIn(NewWatcher),
    /// `presence.status.in`: a phone we subscribe to reported its presence.
    StatusIn(StatusReport),
    /// `register`: a contact was bound, or refreshed past half its life.
    Register(RegistrationEvent),
    /// `unregister`: a contact was removed or expired.
    Unregister(RegistrationEvent),
    /// `presence.feature.in`: a phone's feature key changed its user's DND or forwarding.
    FeatureIn(FeatureReport),
}

impl InEvent {
    /// The contract's event name.
    pub fn name(&self) -> &'static str {
        match self {
            InEvent::SubscribeIn(_) => "presence.subscribe.in",
            InEvent::VoicemailIn(_) => "presence.voicemail.in",
            InEvent::StatusIn(_) => "presence.status.in",
            InEvent::Register(_) => "register",
            InEvent::Unregister(_) => "unregister",
            InEvent::FeatureIn(_) => "presence.feature.in",
        }
    }
}

/// Where a message came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceAddress {
    /// `udp` or `tcp`.
    pub transport: String,
    /// The IP address.
    pub address: String,
    /// The port.
    pub port: u16,
}

impl SourceAddress {
    pub(crate) fn of(peer: crate::peer::Peer) -> Self {
        SourceAddress {
            transport: peer.transport.to_string(),
            address: peer.addr.ip().to_string(),
            port: peer.addr.port(),
        }
    }
}

/// A registration change (`register`/`unregister`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationEvent {
    /// The address-of-record, `user@host`.
    pub entity: String,
    /// Every contact bound to it now.
    pub contacts: Vec<String>,
    /// The contact this event is about.
    pub contact: String,
    /// The expiry granted to that contact, in seconds.
    pub expires: u32,
    /// Its User-Agent.
    pub user_agent: Option<String>,
    /// The methods it accepts (Allow, or the Contact `methods` parameter).
    pub allow: Vec<String>,
    /// Where the REGISTER came from.
    pub source: SourceAddress,
}

/// A phone's presence as its NOTIFY reported it (`presence.status.in`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// The entity the phone registered for.
    pub entity: String,
    /// `open` or `closed`.
    pub status: Basic,
    /// Its note.
    pub note: Option<String>,
    /// Do not disturb.
    pub dnd: bool,
    /// On the phone.
    pub on_the_phone: bool,
    /// Where the NOTIFY came from.
    pub source: SourceAddress,
}

/// A user's settings after a feature key changed them (`presence.feature.in`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureReport {
    /// The user's entity.
    pub entity: String,
    /// DND and forwarding as they now are.
    pub state: FeatureState,
    /// Where the feature key's SUBSCRIBE came from.
    pub source: SourceAddress,
}

/// A new subscription, as the `.in` events describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWatcher {
    /// The negotiated body type.
    pub content_type: &'static str,
    /// The watched resource, `user@host` (the seed wrongly sent the subscriber here).
    pub entity: String,
    /// Who subscribed, `user@host` of the From header.
    pub subscriber: String,
    /// The granted expiry in seconds.
    pub expires: u32,
    /// The subscription's Call-ID: pass it back in an `.out` event to target this watcher.
    pub call_id: String,
}

/// Why voicemail counts were pushed (`reason` of `presence.voicemail.out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoicemailReason {
    /// Answering a `presence.voicemail.in`.
    Init,
    /// The mailbox changed.
    Update,
}

/// How a `presence.dialog.out` describes calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallsUpdate {
    /// Every current call (`full`, alias `all`): calls not listed have ended.
    Full(Vec<Call>),
    /// The one call that changed (`partial`, alias `update`).
    Partial(Call),
    /// Only the display name or call count changed.
    Unchanged,
}

/// An instruction from an integration (an `.out` event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `presence.voicemail.out`: message counts of a mailbox.
    Voicemail {
        /// The mailbox's entity.
        entity: String,
        /// The counts.
        counts: MessageCounts,
        /// Why they were sent.
        reason: VoicemailReason,
    },
    /// `presence.registration.out`: registered or not, and the call count.
    Registration {
        /// The entity.
        entity: String,
        /// Registered.
        registered: bool,
        /// Calls in progress.
        call_count: u32,
        /// Target one subscription (by Call-ID) with an immediate NOTIFY.
        call_id: Option<String>,
    },
    /// `presence.dialog.out`: calls of an entity.
    Dialog {
        /// The entity.
        entity: String,
        /// Its display name.
        display: Option<String>,
        /// Calls in progress as the call manager counts them.
        call_count: Option<u32>,
        /// The calls.
        calls: CallsUpdate,
        /// Target one subscription (by Call-ID) with an immediate NOTIFY.
        call_id: Option<String>,
    },
    /// `presence.status.out`: presence status of an entity.
    Status {
        /// The entity.
        entity: String,
        /// Reachable or not.
        basic: Basic,
        /// Note.
        note: Option<String>,
        /// Do not disturb.
        dnd: bool,
        /// On the phone.
        on_the_phone: bool,
    },
    /// `presence.checksync.out`: ask the entity's phones to resynchronise (`Event: check-sync`).
    CheckSync {
        /// The entity.
        entity: String,
    },
    /// `presence.feature.out`: set a user's DND or forwarding, as a feature key would.
    Features {
        /// The user's entity.
        entity: String,
        /// DND on or off (`None`: left as it is).
        dnd: Option<bool>,
        /// The kinds of forwarding to set; the others are left as they are.
        forwarding: Vec<(ForwardKind, Forwarding)>,
    },
    /// `presence.lamp.out`: the lamp of a virtual entity (a park slot, a queue, an agent).
    Lamp {
        /// The entity.
        entity: String,
        /// What it shows.
        lamp: Lamp,
    },
}

impl Command {
    /// The entity the command is about.
    pub fn entity(&self) -> &str {
        match self {
            Command::Voicemail { entity, .. }
            | Command::Registration { entity, .. }
            | Command::Dialog { entity, .. }
            | Command::Status { entity, .. }
            | Command::CheckSync { entity }
            | Command::Features { entity, .. }
            | Command::Lamp { entity, .. } => entity,
        }
    }
}
