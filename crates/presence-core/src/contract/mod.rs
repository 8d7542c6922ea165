//! The seed's JSON event contract: `{"event": "<name>", "data": {...}}` for the
//! `.in` events the server raises and the `.out` events it takes, with the field names and
//! aliases existing babble-drachtio-presence integrations send (`newcount`/`oldcount`,
//! `update`/`all`). Errors name the field at fault, and a field the event does not take is
//! refused: a typo (`neww`) would otherwise read as an absent count and reset the state.
//! `features` holds the feature-key events (`presence.feature.in`/`.out`).

mod features;

pub use features::state_json as feature_state_json;

use serde_json::{Map, Value, json};

use crate::api::{CallsUpdate, Command, InEvent, VoicemailReason};
use crate::bodies::Basic;
use crate::bodies::mwi::MessageCounts;
use crate::call::{Call, CallState, Direction, Party};
use crate::lamp::{Lamp, LampState};

/// A `.out` event that cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The event name is not an `.out` event of the contract.
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    /// A field is missing or has the wrong type or value.
    #[error("{field}: {problem}")]
    Field {
        /// The field, as a JSON path (`data.full[1].state`).
        field: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The object has a field it does not take.
    #[error("{field}: unknown field; this object takes {}", .accepted.join(", "))]
    UnknownField {
        /// The field, as a JSON path (`data.neww`).
        field: String,
        /// The fields the object takes, aliases included.
        accepted: &'static [&'static str],
    },
}

/// The `.in` event as the contract's JSON.
pub fn in_event_json(event: &InEvent) -> Value {
    let data = match event {
        InEvent::SubscribeIn(w) | InEvent::VoicemailIn(w) => json!({
            "contenttype": w.content_type,
            "entity": w.entity,
            "subscriber": w.subscriber,
            "expires": w.expires,
            "callid": w.call_id,
        }),
        InEvent::StatusIn(s) => json!({
            "entity": s.entity,
            "status": s.status.as_str(),
            "note": s.note,
            "dnd": s.dnd,
            "onthephone": s.on_the_phone,
            "source": { "event": "NOTIFY", "transport": s.source.transport, "address": s.source.address, "port": s.source.port },
        }),
        InEvent::FeatureIn(report) => features::report_json(report),
        InEvent::Register(r) | InEvent::Unregister(r) => json!({
            "entity": r.entity,
            "contacts": r.contacts,
            "contact": r.contact,
            "expires": r.expires,
            "useragent": r.user_agent,
            "allow": r.allow,
            "source": { "transport": r.source.transport, "address": r.source.address, "port": r.source.port },
        }),
    };
    json!({ "event": event.name(), "data": data })
}

/// The fields each object of an `.out` event takes, aliases included. An event's `data` list
/// starts with `entity`, which the resource form (`PUT /api/v1/entities/{entity}/voicemail`)
/// takes from the path instead.
pub mod fields {
    /// `presence.voicemail.out`.
    pub const VOICEMAIL: &[&str] =
        &["entity", "new", "newcount", "old", "oldcount", "newurgent", "oldurgent", "reason"];
    /// `presence.registration.out`.
    pub const REGISTRATION: &[&str] = &["entity", "status", "callcount", "callid"];
    /// `presence.dialog.out`; `all` and `update` are the seed README's names for `full` and
    /// `partial`.
    pub const DIALOG: &[&str] = &["entity", "display", "callcount", "full", "all", "partial", "update", "callid"];
    /// `presence.status.out`.
    pub const STATUS: &[&str] = &["entity", "status", "note", "dnd", "onthephone"];
    /// `presence.checksync.out`.
    pub const CHECKSYNC: &[&str] = &["entity"];
    /// A call of `presence.dialog.out`; its Call-ID is `sip.callid` or, flat, `callid`.
    pub const CALL: &[&str] = &["sip", "callid", "direction", "state", "duration", "hasmedia", "remote"];
    /// A call's `sip` object.
    pub const CALL_SIP: &[&str] = &["callid", "localtag", "remotetag"];
    /// A call's `remote` party.
    pub const CALL_REMOTE: &[&str] = &["display", "uri"];
    /// `presence.feature.out`.
    pub const FEATURES: &[&str] = &["entity", "dnd", "forwarding"];
    /// Its `forwarding` object, by kind.
    pub const FORWARDING: &[&str] = &["always", "busy", "noanswer"];
    /// Forwarding of every call, or when busy.
    pub const FORWARD: &[&str] = &["active", "to"];
    /// Forwarding when not answered.
    pub const FORWARD_NOANSWER: &[&str] = &["active", "to", "ringcount"];
    /// `presence.lamp.out`.
    pub const LAMP: &[&str] = &["entity", "state", "caller", "callid", "localtag", "remotetag", "expires"];
}

/// The `.out` events of the contract.
#[derive(Clone, Copy)]
enum OutEvent {
    Voicemail,
    Registration,
    Dialog,
    Status,
    CheckSync,
    Features,
    Lamp,
}

impl OutEvent {
    fn named(name: &str) -> Result<Self, ContractError> {
        Ok(match name {
            "presence.voicemail.out" => OutEvent::Voicemail,
            "presence.registration.out" => OutEvent::Registration,
            "presence.dialog.out" => OutEvent::Dialog,
            "presence.status.out" => OutEvent::Status,
            "presence.checksync.out" => OutEvent::CheckSync,
            "presence.feature.out" => OutEvent::Features,
            "presence.lamp.out" => OutEvent::Lamp,
            other => return Err(ContractError::UnknownEvent(other.to_owned())),
        })
    }

    /// The fields its `data` takes, `entity` first.
    fn fields(self) -> &'static [&'static str] {
        match self {
            OutEvent::Voicemail => fields::VOICEMAIL,
            OutEvent::Registration => fields::REGISTRATION,
            OutEvent::Dialog => fields::DIALOG,
            OutEvent::Status => fields::STATUS,
            OutEvent::CheckSync => fields::CHECKSYNC,
            OutEvent::Features => fields::FEATURES,
            OutEvent::Lamp => fields::LAMP,
        }
    }
}

/// Reads an `.out` event in its whole form, `{"event": "<name>", "data": {...}}`.
pub fn command_from_envelope(envelope: &Value) -> Result<Command, ContractError> {
    let e = Fields::new(envelope, "")?;
    e.only(&["event", "data"])?;
    let event = e.string("event")?;
    let Some((_, data)) = e.get(&["data"])? else { return Err(e.error("data", "is required")) };
    command_from_json(&event, data)
}

/// Reads an `.out` event: its name and its `data` object, which names the entity.
pub fn command_from_json(event: &str, data: &Value) -> Result<Command, ContractError> {
    let event = OutEvent::named(event)?;
    let d = Fields::new(data, "data")?;
    d.only(event.fields())?;
    let entity = d.string("entity")?;
    command(event, entity, &d)
}

/// Reads an `.out` event for `entity` from the body of its resource
/// (`PUT /api/v1/entities/{entity}/voicemail`): the body holds the event's `data` fields but
/// `entity`, and errors name fields from the body's top (`full[0].state`).
pub fn command_for_entity(event: &str, entity: String, body: &Value) -> Result<Command, ContractError> {
    let event = OutEvent::named(event)?;
    let d = Fields::new(body, "")?;
    d.only(&event.fields()[1..])?;
    if entity.trim().is_empty() {
        return Err(ContractError::Field { field: "entity".to_owned(), problem: "is required" });
    }
    command(event, entity, &d)
}

fn command(event: OutEvent, entity: String, d: &Fields) -> Result<Command, ContractError> {
    Ok(match event {
        OutEvent::Voicemail => Command::Voicemail {
            counts: MessageCounts {
                new: d.count(&["new", "newcount"])?,
                old: d.count(&["old", "oldcount"])?,
                new_urgent: d.count(&["newurgent"])?,
                old_urgent: d.count(&["oldurgent"])?,
            },
            reason: match d.optional_string("reason")?.as_deref() {
                Some("init") => VoicemailReason::Init,
                Some("update") | None => VoicemailReason::Update,
                Some(_) => return Err(d.error("reason", "must be \"init\" or \"update\"")),
            },
            entity,
        },
        OutEvent::Registration => Command::Registration {
            registered: match d.string("status")?.as_str() {
                "registered" => true,
                "unregistered" => false,
                _ => return Err(d.error("status", "must be \"registered\" or \"unregistered\"")),
            },
            call_count: d.count(&["callcount"])?,
            call_id: d.optional_string("callid")?,
            entity,
        },
        OutEvent::Dialog => Command::Dialog {
            display: d.optional_string("display")?,
            call_count: d.optional_count("callcount")?,
            calls: match (d.get(&["full", "all"])?, d.get(&["partial", "update"])?) {
                (Some(_), Some((partial, _))) => return Err(d.error(partial, "cannot be given with full")),
                (Some((name, full)), None) => {
                    let list = full.as_array().ok_or_else(|| d.error(name, "must be an array of calls"))?;
                    let path = d.path_of(name);
                    let calls = list.iter().enumerate().map(|(i, c)| call(c, &format!("{path}[{i}]")));
                    CallsUpdate::Full(calls.collect::<Result<_, _>>()?)
                }
                (None, Some((name, one))) => CallsUpdate::Partial(call(one, &d.path_of(name))?),
                (None, None) => CallsUpdate::Unchanged,
            },
            call_id: d.optional_string("callid")?,
            entity,
        },
        OutEvent::Status => Command::Status {
            basic: match d.optional_string("status")?.map(|s| s.to_ascii_lowercase()).as_deref() {
                Some("open" | "available" | "online") | None => Basic::Open,
                Some("closed" | "unavailable" | "offline") => Basic::Closed,
                Some(_) => return Err(d.error("status", "must be \"open\" or \"closed\"")),
            },
            note: d.optional_string("note")?,
            dnd: d.flag("dnd")?,
            on_the_phone: d.flag("onthephone")?,
            entity,
        },
        OutEvent::CheckSync => Command::CheckSync { entity },
        OutEvent::Features => features::command(entity, d)?,
        OutEvent::Lamp => Command::Lamp {
            lamp: Lamp {
                state: LampState::parse(&d.string("state")?)
                    .ok_or_else(|| d.error("state", "must be idle, ringing, busy or held"))?,
                caller: match d.get(&["caller"])? {
                    Some((_, caller)) => {
                        let c = d.inner(caller, "caller", fields::CALL_REMOTE)?;
                        Some(Party { display: c.optional_string("display")?, uri: c.string("uri")? })
                    }
                    None => None,
                },
                call_id: d.optional_string("callid")?,
                local_tag: d.optional_string("localtag")?,
                remote_tag: d.optional_string("remotetag")?,
                expires: match d.optional_count("expires")? {
                    Some(0) => return Err(d.error("expires", "must be at least 1 second")),
                    expires => expires,
                },
            },
            entity,
        },
    })
}

/// A seed `call` object.
fn call(value: &Value, path: &str) -> Result<Call, ContractError> {
    let c = Fields::new(value, path)?;
    c.only(fields::CALL)?;
    let sip = match c.get(&["sip"])? {
        Some((_, sip)) => Some(c.inner(sip, "sip", fields::CALL_SIP)?),
        None => None,
    };
    let call_id = match &sip {
        Some(sip) => sip.string("callid")?,
        None => c.string("callid")?,
    };
    let tag = |name| sip.as_ref().map_or(Ok(None), |s| s.optional_string(name));
    let state = c.string("state")?;
    let remote = match c.get(&["remote"])? {
        Some((_, remote)) => {
            let r = c.inner(remote, "remote", fields::CALL_REMOTE)?;
            Some(Party { display: r.optional_string("display")?, uri: r.string("uri")? })
        }
        None => None,
    };
    Ok(Call {
        local_tag: tag("localtag")?,
        remote_tag: tag("remotetag")?,
        direction: match c.optional_string("direction")? {
            Some(d) => {
                Some(Direction::parse(&d).ok_or_else(|| c.error("direction", "must be initiator or recipient"))?)
            }
            None => None,
        },
        state: CallState::parse(&state)
            .ok_or_else(|| c.error("state", "must be trying, proceeding, early, confirmed or terminated"))?,
        duration: c.optional_count("duration")?.map(u64::from),
        rendering: match c.get(&["hasmedia"])? {
            Some((_, v)) => Some(v.as_bool().ok_or_else(|| c.error("hasmedia", "must be true or false"))?),
            None => None,
        },
        remote,
        call_id,
    })
}

/// Typed access to one JSON object's fields, with errors naming the path.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    /// The object `value` at `path` (empty for the document's top, named `body` in errors).
    fn new(value: &'a Value, path: impl Into<String>) -> Result<Self, ContractError> {
        let path = path.into();
        let Some(object) = value.as_object() else {
            let field = if path.is_empty() { "body".to_owned() } else { path };
            return Err(ContractError::Field { field, problem: "must be an object" });
        };
        Ok(Fields { object, path })
    }

    /// `name` as a path from the top of the document.
    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() { name.to_owned() } else { format!("{}.{name}", self.path) }
    }

    fn error(&self, name: &str, problem: &'static str) -> ContractError {
        ContractError::Field { field: self.path_of(name), problem }
    }

    /// Refuses a field outside `accepted`.
    fn only(&self, accepted: &'static [&'static str]) -> Result<(), ContractError> {
        match self.object.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(unknown) => Err(ContractError::UnknownField { field: self.path_of(unknown), accepted }),
            None => Ok(()),
        }
    }

    /// The object under `name`, which takes only `accepted`.
    fn inner(&self, value: &'a Value, name: &str, accepted: &'static [&'static str]) -> Result<Self, ContractError> {
        let inner = Fields::new(value, self.path_of(name))?;
        inner.only(accepted)?;
        Ok(inner)
    }

    /// The present, non-null field of `names` (a name and its aliases); both a name and its
    /// alias given is refused, since one would be ignored.
    fn get(&self, names: &[&'static str]) -> Result<Option<(&'static str, &'a Value)>, ContractError> {
        let mut given = names.iter().filter_map(|n| self.object.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)));
        let first = given.next();
        match given.next() {
            Some((alias, _)) => Err(self.error(alias, "is an alias of a field also given")),
            None => Ok(first),
        }
    }

    fn optional_string(&self, name: &'static str) -> Result<Option<String>, ContractError> {
        match self.get(&[name])? {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(name, "must be a string")),
        }
    }

    fn string(&self, name: &'static str) -> Result<String, ContractError> {
        match self.optional_string(name)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(self.error(name, "is required")),
        }
    }

    fn optional_count(&self, name: &'static str) -> Result<Option<u32>, ContractError> {
        match self.get(&[name])? {
            None => Ok(None),
            // JSON has one number type: 7.0 is the count 7 (JavaScript sends what it holds).
            Some((_, v)) => v
                .as_u64()
                .or_else(|| {
                    v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX)).map(|f| f as u64)
                })
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.error(name, "must be a whole number from 0 to 4294967295")),
        }
    }

    /// A count under a name or its aliases; 0 when absent.
    fn count(&self, names: &[&'static str]) -> Result<u32, ContractError> {
        match self.get(names)? {
            None => Ok(0),
            Some((name, _)) => Ok(self.optional_count(name)?.unwrap_or(0)),
        }
    }

    fn flag(&self, name: &'static str) -> Result<bool, ContractError> {
        match self.get(&[name])? {
            None => Ok(false),
            Some((_, v)) => v.as_bool().ok_or_else(|| self.error(name, "must be true or false")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NewWatcher;

    #[test]
    fn voicemail_with_seed_aliases() {
        let cmd = command_from_json(
            "presence.voicemail.out",
            &json!({"entity": "1001@pbx", "newcount": 2, "oldcount": 5, "reason": "init"}),
        )
        .unwrap();
        assert_eq!(
            cmd,
            Command::Voicemail {
                entity: "1001@pbx".into(),
                counts: MessageCounts { new: 2, old: 5, new_urgent: 0, old_urgent: 0 },
                reason: VoicemailReason::Init
            }
        );
        let err = command_from_json("presence.voicemail.out", &json!({"entity": "1001@pbx", "new": -1})).unwrap_err();
        assert_eq!(
            err,
            ContractError::Field { field: "data.new".into(), problem: "must be a whole number from 0 to 4294967295" }
        );
    }

    #[test]
    fn dialog_full_partial_and_aliases() {
        let call = json!({"sip": {"callid": "c1", "localtag": "l"}, "direction": "recipient", "state": "early", "hasmedia": false, "remote": {"display": "K", "uri": "2000@pbx"}});
        let full = command_from_json(
            "presence.dialog.out",
            &json!({"entity": "1001@pbx", "display": "Bob", "all": [call], "callid": "x"}),
        )
        .unwrap();
        let Command::Dialog { calls: CallsUpdate::Full(calls), display, call_id, .. } = full else {
            panic!("not full")
        };
        assert_eq!((display.as_deref(), call_id.as_deref()), (Some("Bob"), Some("x")));
        assert_eq!(calls[0].call_id, "c1");
        assert_eq!(calls[0].state, CallState::Early);
        assert_eq!(calls[0].rendering, Some(false));
        assert_eq!(calls[0].remote.as_ref().unwrap().uri, "2000@pbx");
        let partial = command_from_json(
            "presence.dialog.out",
            &json!({"entity": "1001@pbx", "update": {"callid": "c2", "state": "confirmed"}}),
        )
        .unwrap();
        assert!(matches!(partial, Command::Dialog { calls: CallsUpdate::Partial(_), .. }));
        let bad = command_from_json(
            "presence.dialog.out",
            &json!({"entity": "e", "full": [{"sip": {"callid": "a"}, "state": "ringing"}]}),
        )
        .unwrap_err();
        assert_eq!(
            bad,
            ContractError::Field {
                field: "data.full[0].state".into(),
                problem: "must be trying, proceeding, early, confirmed or terminated"
            }
        );
    }

    #[test]
    fn registration_status_checksync_and_errors() {
        assert!(matches!(
            command_from_json(
                "presence.registration.out",
                &json!({"entity": "e", "status": "registered", "callcount": 1})
            )
            .unwrap(),
            Command::Registration { registered: true, call_count: 1, call_id: None, .. }
        ));
        assert!(matches!(
            command_from_json("presence.status.out", &json!({"entity": "e", "status": "closed", "dnd": true})).unwrap(),
            Command::Status { basic: Basic::Closed, dnd: true, on_the_phone: false, .. }
        ));
        assert!(matches!(
            command_from_json("presence.checksync.out", &json!({"entity": "e"})).unwrap(),
            Command::CheckSync { .. }
        ));
        assert_eq!(
            command_from_json("presence.nope.out", &json!({"entity": "e"})).unwrap_err(),
            ContractError::UnknownEvent("presence.nope.out".into())
        );
        assert_eq!(
            command_from_json("presence.checksync.out", &json!({})).unwrap_err(),
            ContractError::Field { field: "data.entity".into(), problem: "is required" }
        );
        assert!(command_from_json("presence.checksync.out", &json!([])).is_err());
    }

    #[test]
    fn unknown_fields_are_refused_not_read_as_absent() {
        let typo = command_from_json("presence.voicemail.out", &json!({"entity": "e", "neww": 7})).unwrap_err();
        assert_eq!(typo, ContractError::UnknownField { field: "data.neww".into(), accepted: fields::VOICEMAIL });
        assert!(typo.to_string().starts_with("data.neww: unknown field; this object takes entity, new, newcount"));
        let status = command_from_json("presence.status.out", &json!({"entity": "e", "staus": "closed"})).unwrap_err();
        assert!(matches!(status, ContractError::UnknownField { field, .. } if field == "data.staus"));
        let nested = command_from_json(
            "presence.dialog.out",
            &json!({"entity": "e", "full": [{"sip": {"callid": "a", "localtg": "x"}, "state": "early"}]}),
        )
        .unwrap_err();
        assert_eq!(
            nested,
            ContractError::UnknownField { field: "data.full[0].sip.localtg".into(), accepted: fields::CALL_SIP }
        );
        let remote = command_from_json(
            "presence.dialog.out",
            &json!({"entity": "e", "partial": {"callid": "a", "state": "early", "remote": {"uri": "u", "name": "K"}}}),
        )
        .unwrap_err();
        assert!(matches!(remote, ContractError::UnknownField { field, .. } if field == "data.partial.remote.name"));
    }

    #[test]
    fn a_field_and_its_alias_or_full_and_partial_together_are_refused() {
        let both = command_from_json("presence.voicemail.out", &json!({"entity": "e", "new": 1, "newcount": 2}));
        assert_eq!(
            both.unwrap_err(),
            ContractError::Field { field: "data.newcount".into(), problem: "is an alias of a field also given" }
        );
        let both = command_from_json(
            "presence.dialog.out",
            &json!({"entity": "e", "full": [], "update": {"callid": "c", "state": "early"}}),
        );
        assert_eq!(
            both.unwrap_err(),
            ContractError::Field { field: "data.update".into(), problem: "cannot be given with full" }
        );
        // A whole number written as a float is the same count.
        let float = command_from_json("presence.voicemail.out", &json!({"entity": "e", "new": 7.0})).unwrap();
        assert!(matches!(float, Command::Voicemail { counts: MessageCounts { new: 7, .. }, .. }));
        assert!(command_from_json("presence.voicemail.out", &json!({"entity": "e", "new": 7.5})).is_err());
    }

    #[test]
    fn the_resource_form_takes_the_entity_from_the_path() {
        let cmd = command_for_entity("presence.voicemail.out", "1001@pbx".into(), &json!({"new": 1})).unwrap();
        assert!(
            matches!(cmd, Command::Voicemail { entity, counts: MessageCounts { new: 1, .. }, .. } if entity == "1001@pbx")
        );
        // The body names fields from its own top, and `entity` belongs to the path.
        let in_body =
            command_for_entity("presence.voicemail.out", "e".into(), &json!({"entity": "other"})).unwrap_err();
        assert_eq!(in_body, ContractError::UnknownField { field: "entity".into(), accepted: &fields::VOICEMAIL[1..] });
        let nested =
            command_for_entity("presence.dialog.out", "e".into(), &json!({"full": [{"callid": "a"}]})).unwrap_err();
        assert_eq!(nested, ContractError::Field { field: "full[0].state".into(), problem: "is required" });
        assert!(command_for_entity("presence.checksync.out", "e".into(), &json!({})).is_ok());
    }

    #[test]
    fn in_events_in_the_seed_shape() {
        let w = NewWatcher {
            content_type: "application/dialog-info+xml",
            entity: "1001@pbx".into(),
            subscriber: "1002@pbx".into(),
            expires: 600,
            call_id: "c".into(),
        };
        assert_eq!(
            in_event_json(&InEvent::SubscribeIn(w)),
            json!({"event": "presence.subscribe.in", "data": {"contenttype": "application/dialog-info+xml", "entity": "1001@pbx", "subscriber": "1002@pbx", "expires": 600, "callid": "c"}})
        );
    }
}
