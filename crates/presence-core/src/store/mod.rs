//! What the engine keeps across restarts, in its own terms: one record type per kind of
//! state (subscriptions with their dialog, CSeq and dialog-info version; bindings;
//! publications; our subscriptions to phones; what integrations pushed), the [`Change`]s
//! the engine emits through its effect sink, and the [`Snapshot`] it is restored from.
//! Backends (`presence-store`) map these to their own rows; nothing here knows SQL.
//!
//! Times are absolute, in Unix milliseconds, so they mean the same after a restart.

mod sip_values;

use serde::{Deserialize, Serialize};

pub(crate) use sip_values::{RESTART_MARGIN, dialog_record, peer, peer_record, restored_dialog};

/// A remote party as stored: transport, address and our local address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// `udp` or `tcp`.
    pub transport: String,
    /// The remote `ip:port`.
    pub addr: String,
    /// Our `ip:port` on that socket.
    pub local: String,
    /// The socket or connection id of the run that stored it.
    pub flow: Option<u64>,
}

/// A SIP dialog (RFC 3261 §12), as kept for the subscriptions we serve and those we hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogRecord {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The other side's tag.
    pub remote_tag: String,
    /// Our address (From of our requests), without tag.
    pub local_uri: String,
    /// The other side's address (To of our requests), without tag.
    pub remote_uri: String,
    /// Where in-dialog requests are addressed (the other side's Contact).
    pub remote_target: String,
    /// The route set, in order.
    pub route_set: Vec<String>,
    /// The CSeq of our last request.
    pub local_seq: u32,
    /// The CSeq of the other side's last request.
    pub remote_seq: Option<u32>,
}

/// A subscription we serve, with everything needed to go on NOTIFYing in its dialog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// The engine's id.
    pub id: u64,
    /// The watched entity.
    pub entity: String,
    /// The event package.
    pub package: String,
    /// The negotiated content type.
    pub content_type: String,
    /// The Event `id` parameter.
    pub event_id: Option<String>,
    /// The subscriber.
    pub subscriber: String,
    /// The dialog our NOTIFYs go in (`local_seq`: our last NOTIFY's CSeq).
    pub dialog: DialogRecord,
    /// When it expires.
    pub expires_at_ms: u64,
    /// The next dialog-info version.
    pub version: u32,
    /// Where NOTIFYs go.
    pub peer: PeerRecord,
    /// Our host as the subscriber addressed us.
    pub our_host: String,
    /// The name of the subscriber's device profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// The SUBSCRIBE that set it up was authenticated (records from before this field: no).
    #[serde(default)]
    pub authenticated: bool,
}

/// A contact bound to an address-of-record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord {
    /// The address-of-record.
    pub aor: String,
    /// The Contact value as registered.
    pub contact: String,
    /// The REGISTER's Call-ID.
    pub call_id: String,
    /// The REGISTER's CSeq.
    pub cseq: u32,
    /// When it expires.
    pub expires_at_ms: u64,
    /// The expiry granted, in seconds.
    pub granted: u32,
    /// Where it registered from.
    pub source: PeerRecord,
    /// Its User-Agent.
    pub user_agent: Option<String>,
    /// The methods it accepts.
    pub allow: Vec<String>,
    /// The Path it registered through (RFC 3327), the proxy nearest us first.
    #[serde(default)]
    pub path: Vec<String>,
}

/// A subscription we hold to a phone (subscribing back after it registered), with its
/// dialog so refreshes go on in it after a restart, and what the phone last reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRecord {
    /// The engine's id.
    pub id: u64,
    /// The phone's address-of-record.
    pub aor: String,
    /// The binding's Contact, as in its [`BindingRecord`].
    pub contact: String,
    /// The event package.
    pub package: String,
    /// Where our SUBSCRIBEs go.
    pub peer: PeerRecord,
    /// Our host in From, Via and Contact.
    pub our_host: String,
    /// The dialog our SUBSCRIBEs go in (`local_seq`: our last SUBSCRIBE's CSeq).
    pub dialog: DialogRecord,
    /// When we refresh it.
    pub refresh_at_ms: u64,
    /// What the phone last reported: `open`/`closed`, note, DND, on the phone.
    pub status: Option<(String, Option<String>, bool, bool)>,
}

/// A live publication, with its body so its state can be rebuilt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationRecord {
    /// The engine's id.
    pub id: u64,
    /// The entity.
    pub entity: String,
    /// The event package.
    pub package: String,
    /// The entity-tag.
    pub etag: String,
    /// When it expires.
    pub expires_at_ms: u64,
    /// The publishing device.
    pub device: String,
    /// The last dialog-info version applied.
    pub dialog_version: Option<u32>,
    /// The body's content type.
    pub content_type: String,
    /// The body.
    pub body: String,
}

/// A call pushed by an integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Call-ID.
    pub call_id: String,
    /// The entity side's tag.
    pub local_tag: Option<String>,
    /// The far side's tag.
    pub remote_tag: Option<String>,
    /// `initiator` or `recipient`.
    pub direction: Option<String>,
    /// The RFC 4235 state.
    pub state: String,
    /// Seconds since it started.
    pub duration: Option<u64>,
    /// Whether media flows.
    pub rendering: Option<bool>,
    /// The far party's display name.
    pub remote_display: Option<String>,
    /// The far party's address.
    pub remote_uri: Option<String>,
}

/// What integrations pushed for one entity, and the user's feature settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRecord {
    /// The entity.
    pub entity: String,
    /// Its display name.
    pub display: Option<String>,
    /// Presence: `open`/`closed`, note, DND, on the phone.
    pub status: Option<(String, Option<String>, bool, bool)>,
    /// Registered and call count, as pushed.
    pub registration: Option<(bool, u32)>,
    /// Voicemail counts: new, old, new urgent, old urgent.
    pub voicemail: Option<[u32; 4]>,
    /// Calls.
    pub calls: Vec<CallRecord>,
    /// The user's feature settings (records from before this field: none).
    #[serde(default)]
    pub settings: Option<SettingsRecord>,
    /// The lamp an integration set, if lit (records from before this field: none).
    #[serde(default)]
    pub lamp: Option<LampRecord>,
}

/// A lit lamp: the call it shows, and when it goes out by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LampRecord {
    /// The call.
    pub call: CallRecord,
    /// When it goes out by itself (`None`: when told).
    pub expires_at_ms: Option<u64>,
}

/// A user's feature settings: DND and forwarding as feature keys or the API set them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRecord {
    /// DND as set (`None`: never set).
    pub dnd: Option<bool>,
    /// Forwarding of every call.
    pub always: ForwardRecord,
    /// Forwarding when on the phone.
    pub busy: ForwardRecord,
    /// Forwarding when not answered.
    pub noanswer: ForwardRecord,
}

/// One kind of forwarding as set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardRecord {
    /// Calls are forwarded.
    pub active: bool,
    /// Where to.
    pub to: Option<String>,
    /// Rings first (no-answer forwarding).
    pub ring_count: Option<u32>,
}

/// One change to apply.
// Changes live briefly in a batch on their way to the writer; boxing the big variants
// would cost an allocation each for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Create or replace a subscription. The stored CSeq and version never go down.
    PutSubscription(SubscriptionRecord),
    /// Forget a subscription.
    DeleteSubscription(u64),
    /// Create or replace a subscription to a phone. The stored CSeq never goes down.
    PutWatch(WatchRecord),
    /// Forget a subscription to a phone.
    DeleteWatch(u64),
    /// Create or replace a binding (keyed by address-of-record and contact).
    PutBinding(BindingRecord),
    /// Forget a binding.
    DeleteBinding {
        /// The address-of-record.
        aor: String,
        /// The contact.
        contact: String,
    },
    /// Create or replace a publication. With `if_etag`, only if the stored one still
    /// carries that entity-tag (the engine sends none today; the check is for writers that
    /// share a store).
    PutPublication {
        /// The record.
        record: PublicationRecord,
        /// The entity-tag the stored record must have.
        if_etag: Option<String>,
    },
    /// Forget a publication.
    DeletePublication(u64),
    /// Create or replace what integrations pushed for an entity.
    PutEntity(EntityRecord),
    /// Forget an entity's pushed state.
    DeleteEntity(String),
}

/// Everything stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Subscriptions, by id.
    pub subscriptions: Vec<SubscriptionRecord>,
    /// Bindings.
    pub bindings: Vec<BindingRecord>,
    /// Publications, by id.
    pub publications: Vec<PublicationRecord>,
    /// Pushed entity state.
    pub entities: Vec<EntityRecord>,
    /// Subscriptions to phones, by id.
    pub watches: Vec<WatchRecord>,
}
