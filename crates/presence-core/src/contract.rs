//! The seed's JSON event contract: `{"event": "<name>", "data": {...}}` for the
//! `.in` events the server raises and the `.out` events it takes, with the field names and
//! aliases existing babble-drachtio-presence integrations send (`newcount`/`oldcount`,
//! `update`/`all`). Errors name the field at fault.

use serde_json::{Map, Value, json};

use crate::api::{CallsUpdate, Command, InEvent, VoicemailReason};
use crate::bodies::Basic;
use crate::bodies::mwi::MessageCounts;
use crate::call::{Call, CallState, Direction, Party};

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

/// Reads an `.out` event: its name and its `data` object.
pub fn command_from_json(event: &str, data: &Value) -> Result<Command, ContractError> {
    let d = Fields::new(data, "data")?;
    let entity = d.string("entity")?;
    Ok(match event {
        "presence.voicemail.out" => Command::Voicemail {
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
        "presence.registration.out" => Command::Registration {
            registered: match d.string("status")?.as_str() {
                "registered" => true,
                "unregistered" => false,
                _ => return Err(d.error("status", "must be \"registered\" or \"unregistered\"")),
            },
            call_count: d.count(&["callcount"])?,
            call_id: d.optional_string("callid")?,
            entity,
        },
        "presence.dialog.out" => Command::Dialog {
            display: d.optional_string("display")?,
            call_count: d.optional_count("callcount")?,
            calls: match (d.get(&["full", "all"]), d.get(&["partial", "update"])) {
                (Some((name, full)), _) => {
                    let list = full.as_array().ok_or_else(|| d.error(name, "must be an array of calls"))?;
                    let calls = list.iter().enumerate().map(|(i, c)| call(c, &format!("data.{name}[{i}]")));
                    CallsUpdate::Full(calls.collect::<Result<_, _>>()?)
                }
                (None, Some((name, one))) => CallsUpdate::Partial(call(one, &format!("data.{name}"))?),
                (None, None) => CallsUpdate::Unchanged,
            },
            call_id: d.optional_string("callid")?,
            entity,
        },
        "presence.status.out" => Command::Status {
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
        "presence.checksync.out" => Command::CheckSync { entity },
        other => return Err(ContractError::UnknownEvent(other.to_owned())),
    })
}

/// A seed `call` object.
fn call(value: &Value, path: &str) -> Result<Call, ContractError> {
    let c = Fields::new(value, path)?;
    let sip = match c.get(&["sip"]) {
        Some((_, sip)) => Some(Fields::new(sip, format!("{path}.sip"))?),
        None => None,
    };
    let call_id = match &sip {
        Some(sip) => sip.string("callid")?,
        None => c.string("callid")?,
    };
    let tag = |name| sip.as_ref().map_or(Ok(None), |s| s.optional_string(name));
    let state = c.string("state")?;
    let remote = match c.get(&["remote"]) {
        Some((_, remote)) => {
            let r = Fields::new(remote, format!("{path}.remote"))?;
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
        rendering: match c.get(&["hasmedia"]) {
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
    fn new(value: &'a Value, path: impl Into<String>) -> Result<Self, ContractError> {
        let path = path.into();
        let Some(object) = value.as_object() else {
            return Err(ContractError::Field { field: path, problem: "must be an object" });
        };
        Ok(Fields { object, path })
    }

    fn error(&self, name: &str, problem: &'static str) -> ContractError {
        ContractError::Field { field: format!("{}.{name}", self.path), problem }
    }

    /// The first present, non-null field of `names` (a name and its aliases).
    fn get(&self, names: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        names.iter().find_map(|n| self.object.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
    }

    fn optional_string(&self, name: &'static str) -> Result<Option<String>, ContractError> {
        match self.get(&[name]) {
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
        match self.get(&[name]) {
            None => Ok(None),
            Some((_, v)) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.error(name, "must be a whole number from 0 to 4294967295")),
        }
    }

    /// A count under a name or its aliases; 0 when absent.
    fn count(&self, names: &[&'static str]) -> Result<u32, ContractError> {
        match self.get(names) {
            None => Ok(0),
            Some((name, _)) => Ok(self.optional_count(name)?.unwrap_or(0)),
        }
    }

    fn flag(&self, name: &'static str) -> Result<bool, ContractError> {
        match self.get(&[name]) {
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
