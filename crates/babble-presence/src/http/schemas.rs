//! The request bodies of the event API as OpenAPI schemas. `presence_core::contract` is what
//! reads them (with the seed's aliases and errors naming the field); these types only describe
//! it for the document, and `tests/server/api.rs` holds their fields equal to the contract's
//! field lists, so the two cannot drift apart. The `{"event", "data"}` form of
//! `POST /api/v1/events` is built from the same schemas, each with `entity` added.
#![expect(dead_code, reason = "schema-only types: the contract parser reads the bodies they describe")]

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// `PUT /api/v1/entities/{entity}/voicemail` (`presence.voicemail.out`). An absent count is 0.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VoicemailBody {
    /// New messages.
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    new: Option<u32>,
    /// The seed README's name for `new`.
    #[schema(deprecated)]
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    newcount: Option<u32>,
    /// Old messages.
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    old: Option<u32>,
    /// The seed README's name for `old`.
    #[schema(deprecated)]
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    oldcount: Option<u32>,
    /// New urgent messages.
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    newurgent: Option<u32>,
    /// Old urgent messages.
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    oldurgent: Option<u32>,
    /// `init` (answering a `presence.voicemail.in`) or `update` (the default, the mailbox
    /// changed). Either sets the entity's counts, which every MWI subscription to it is sent:
    /// counts are the mailbox's, so unlike the seed an `init` is not dropped for
    /// subscriptions that already had a NOTIFY.
    reason: Option<VoicemailReason>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum VoicemailReason {
    Init,
    Update,
}

/// `PUT /api/v1/entities/{entity}/status` (`presence.status.out`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    /// `open` (the default) or `closed`; `available`/`online` and `unavailable`/`offline` are
    /// taken for them, in any case.
    status: Option<BasicStatus>,
    /// Shown by phones under the name; cut to 512 bytes.
    note: Option<String>,
    /// Do not disturb.
    dnd: Option<bool>,
    /// On the phone.
    onthephone: Option<bool>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum BasicStatus {
    Open,
    Closed,
    Available,
    Unavailable,
    Online,
    Offline,
}

/// `PUT /api/v1/entities/{entity}/dialogs` (`presence.dialog.out`): `full` replaces the
/// entity's calls, `partial` changes the one call it names and keeps the fields it leaves out.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DialogsBody {
    /// The entity's display name; cut to 512 bytes.
    display: Option<String>,
    /// Calls in progress, for presence watchers (on the phone when above 0).
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    callcount: Option<u32>,
    /// Every call of the entity.
    full: Option<Vec<CallBody>>,
    /// The seed README's name for `full`.
    #[schema(deprecated)]
    all: Option<Vec<CallBody>>,
    /// One call that changed.
    partial: Option<CallBody>,
    /// The seed README's name for `partial`.
    #[schema(deprecated)]
    update: Option<CallBody>,
    /// Sends only to the subscription with this Call-ID (the answer to a
    /// `presence.subscribe.in`).
    callid: Option<String>,
}

/// A call. Its Call-ID is `sip.callid` or, flat, `callid`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallBody {
    sip: Option<CallSipBody>,
    callid: Option<String>,
    /// RFC 4235 direction: `initiator` (outbound) or `recipient` (inbound).
    direction: Option<CallDirection>,
    state: CallStateName,
    /// Seconds since the call began.
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    duration: Option<u32>,
    /// Whether the call has media (RFC 4235 `rendering`).
    hasmedia: Option<bool>,
    remote: Option<RemoteBody>,
}

/// The call's SIP dialog.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallSipBody {
    callid: String,
    localtag: Option<String>,
    remotetag: Option<String>,
}

/// The other party, which a BLF key shows as the caller and dials for pickup.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteBody {
    display: Option<String>,
    uri: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum CallDirection {
    Initiator,
    Recipient,
    Initiate,
    Initiated,
    Outbound,
    Receive,
    Received,
    Inbound,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum CallStateName {
    Trying,
    Proceeding,
    Early,
    Confirmed,
    Terminated,
}

/// `presence.registration.out` (only in the `{"event", "data"}` form).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistrationBody {
    status: RegistrationStatus,
    /// Calls in progress (on the phone when above 0).
    #[schema(value_type = Option<u64>, maximum = 4294967295.0)]
    callcount: Option<u32>,
    /// Sends only to the subscription with this Call-ID.
    callid: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum RegistrationStatus {
    Registered,
    Unregistered,
}

/// `PUT /api/v1/entities/{entity}/features` (`presence.feature.out`): DND, forwarding, or
/// both; what is left out stays as it is.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeaturesBody {
    /// Do not disturb, for every phone and package of the user.
    dnd: Option<bool>,
    /// The kinds of forwarding to set.
    forwarding: Option<ForwardingBody>,
}

/// Forwarding by kind; a kind left out stays as it is.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForwardingBody {
    /// Every call.
    always: Option<ForwardBody>,
    /// Calls while on the phone.
    busy: Option<ForwardBody>,
    /// Calls not answered.
    noanswer: Option<NoAnswerForwardBody>,
}

/// One kind of forwarding.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForwardBody {
    /// Forward or not.
    active: bool,
    /// Where to: a SIP URI or a number (required to turn forwarding on; kept when left out).
    #[schema(max_length = 256, pattern = r#"^[^\s"<>\\]*$"#)]
    to: Option<String>,
}

/// Forwarding of calls not answered.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoAnswerForwardBody {
    /// Forward or not.
    active: bool,
    /// Where to: a SIP URI or a number (required to turn forwarding on; kept when left out).
    #[schema(max_length = 256, pattern = r#"^[^\s"<>\\]*$"#)]
    to: Option<String>,
    /// Rings before forwarding (kept when left out).
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 100)]
    ringcount: Option<u32>,
}

/// A user's features as `GET /api/v1/entities/{entity}/features` and `presence.feature.in`
/// show them.
#[derive(ToSchema)]
pub(crate) struct FeaturesView {
    /// user@host.
    entity: String,
    /// Do not disturb, as every package shows it.
    dnd: bool,
    /// Forwarding by kind.
    forwarding: ForwardingView,
}

/// Forwarding by kind.
#[derive(ToSchema)]
pub(crate) struct ForwardingView {
    always: ForwardView,
    busy: ForwardView,
    noanswer: NoAnswerForwardView,
}

/// One kind of forwarding as set.
#[derive(ToSchema)]
pub(crate) struct ForwardView {
    active: bool,
    to: Option<String>,
}

/// Forwarding of calls not answered, as set.
#[derive(ToSchema)]
pub(crate) struct NoAnswerForwardView {
    active: bool,
    to: Option<String>,
    #[schema(value_type = Option<u64>)]
    ringcount: Option<u32>,
}

/// `PUT /api/v1/entities/{entity}/lamp` (`presence.lamp.out`): what a virtual entity's lamp
/// shows on BLF keys and to presence watchers (docs/lamps.md).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LampBody {
    /// `idle` (out), `ringing` (a fast blink), `busy` (steady) or `held` (a call on hold: a
    /// slow blink).
    state: LampStateName,
    /// The waiting or parked party, which a key shows.
    caller: Option<RemoteBody>,
    /// The Call-ID of the call the lamp stands for, for directed pickup; without it the lamp
    /// has a Call-ID of its own.
    callid: Option<String>,
    /// That call's tag at the entity's side.
    localtag: Option<String>,
    /// That call's tag at the caller's side.
    remotetag: Option<String>,
    /// Seconds after which the lamp goes out by itself.
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 4294967295.0)]
    expires: Option<u32>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum LampStateName {
    Idle,
    Ringing,
    Busy,
    Held,
}

/// `presence.checksync.out` takes only `entity`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckSyncBody {}

/// The body of `POST /api/v1/events`: one of `{"event": <name>, "data": <that event's fields
/// and the entity they are for>}`.
pub(crate) struct EventEnvelope;

impl EventEnvelope {
    fn envelopes() -> [(&'static str, RefOr<Schema>); 7] {
        [
            ("presence.voicemail.out", VoicemailBody::schema()),
            ("presence.registration.out", RegistrationBody::schema()),
            ("presence.dialog.out", DialogsBody::schema()),
            ("presence.status.out", StatusBody::schema()),
            ("presence.checksync.out", CheckSyncBody::schema()),
            ("presence.feature.out", FeaturesBody::schema()),
            ("presence.lamp.out", LampBody::schema()),
        ]
    }
}

impl PartialSchema for EventEnvelope {
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new();
        for (event, fields) in Self::envelopes() {
            one_of = one_of.item(
                ObjectBuilder::new()
                    .property("event", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([event])))
                    .required("event")
                    .property("data", with_entity(fields))
                    .required("data")
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            );
        }
        one_of.into()
    }
}

impl ToSchema for EventEnvelope {
    /// What the event bodies refer to (their enums, calls and parties).
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        VoicemailBody::schemas(schemas);
        RegistrationBody::schemas(schemas);
        DialogsBody::schemas(schemas);
        StatusBody::schemas(schemas);
        FeaturesBody::schemas(schemas);
        LampBody::schemas(schemas);
    }
}

/// An event body's fields plus the `entity` they are for, required.
fn with_entity(fields: RefOr<Schema>) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut fields)) = fields else { return fields };
    fields.properties.insert(
        "entity".to_owned(),
        ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).description(Some("user@host")).into(),
    );
    fields.required.insert(0, "entity".to_owned());
    RefOr::T(Schema::Object(fields))
}
