//! The feature-key events of the contract: `presence.feature.in`, raised when a phone's
//! feature key changed its user's DND or forwarding, and `presence.feature.out`, which sets
//! them as a feature key would (docs/feature-keys.md). A forwarding kind left out, and a
//! field of one left out, keep what is set.

use serde_json::{Value, json};

use crate::api::{Command, FeatureReport};
use crate::features::{FORWARD_KINDS, FeatureError, FeatureState, ForwardKind, Forwarding};

use super::{ContractError, Fields, fields};

/// A user's feature state as the contract shows it (`presence.feature.in`, the features
/// look-up): `dnd` and `forwarding` by kind.
pub fn state_json(entity: &str, state: &FeatureState) -> Value {
    let forwarding: serde_json::Map<String, Value> = FORWARD_KINDS
        .iter()
        .map(|k| {
            let f = state.forward(*k);
            let mut one = json!({ "active": f.active, "to": f.to });
            if *k == ForwardKind::NoAnswer {
                one["ringcount"] = json!(f.ring_count);
            }
            (k.api_name().to_owned(), one)
        })
        .collect();
    json!({ "entity": entity, "dnd": state.dnd, "forwarding": forwarding })
}

pub(super) fn report_json(report: &FeatureReport) -> Value {
    let mut data = state_json(&report.entity, &report.state);
    let s = &report.source;
    data["source"] = json!({ "event": "SUBSCRIBE", "transport": s.transport, "address": s.address, "port": s.port });
    data
}

/// `presence.feature.out`'s `data` (or the features resource's body) for `entity`.
pub(super) fn command(entity: String, d: &Fields) -> Result<Command, ContractError> {
    let dnd = match d.get(&["dnd"])? {
        Some((_, v)) => Some(v.as_bool().ok_or_else(|| d.error("dnd", "must be true or false"))?),
        None => None,
    };
    let mut forwarding = Vec::new();
    if let Some((_, value)) = d.get(&["forwarding"])? {
        let kinds = d.inner(value, "forwarding", fields::FORWARDING)?;
        for kind in FORWARD_KINDS {
            let Some((name, value)) = kinds.get(&[kind.api_name()])? else { continue };
            let accepted = if kind == ForwardKind::NoAnswer { fields::FORWARD_NOANSWER } else { fields::FORWARD };
            let f = kinds.inner(value, name, accepted)?;
            let active = match f.get(&["active"])? {
                Some((_, v)) => v.as_bool().ok_or_else(|| f.error("active", "must be true or false"))?,
                None => return Err(f.error("active", "is required")),
            };
            let ring_count = f.optional_count("ringcount")?;
            let asked = Forwarding { active, to: f.optional_string("to")?, ring_count };
            forwarding.push((kind, asked.checked().map_err(|e| refusal(&f, e))?));
        }
    }
    if dnd.is_none() && forwarding.is_empty() {
        return Err(d.error("dnd", "or forwarding is required"));
    }
    Ok(Command::Features { entity, dnd, forwarding })
}

fn refusal(f: &Fields, e: FeatureError) -> ContractError {
    match e {
        FeatureError::Target => f.error("to", "is not a SIP URI or a number of at most 256 characters"),
        FeatureError::RingCount => f.error("ringcount", "must be 1 to 100"),
        FeatureError::MissingTarget => f.error("to", "is required to turn forwarding on"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::command_from_json;
    use super::*;

    #[test]
    fn sets_what_it_names_and_refuses_what_it_cannot() {
        let cmd = command_from_json(
            "presence.feature.out",
            &json!({"entity": "1001@pbx", "dnd": true, "forwarding": {"noanswer": {"active": true, "to": "2002", "ringcount": 4}}}),
        )
        .unwrap();
        let want = Forwarding { active: true, to: Some("2002".into()), ring_count: Some(4) };
        assert_eq!(
            cmd,
            Command::Features {
                entity: "1001@pbx".into(),
                dnd: Some(true),
                forwarding: vec![(ForwardKind::NoAnswer, want)]
            }
        );
        let refused = |data: Value| command_from_json("presence.feature.out", &data).unwrap_err().to_string();
        assert_eq!(refused(json!({"entity": "e"})), "data.dnd: or forwarding is required");
        assert_eq!(
            refused(json!({"entity": "e", "forwarding": {"always": {"active": true}}})),
            "data.forwarding.always.to: is required to turn forwarding on"
        );
        assert!(
            refused(json!({"entity": "e", "forwarding": {"busy": {"active": false, "ringcount": 3}}}))
                .starts_with("data.forwarding.busy.ringcount: unknown field"),
            "rings are for no-answer forwarding"
        );
        assert_eq!(
            refused(json!({"entity": "e", "forwarding": {"always": {"active": true, "to": " "}}})),
            "data.forwarding.always.to: is required to turn forwarding on"
        );
        assert!(
            refused(json!({"entity": "e", "forwarding": {"all": {}}}))
                .starts_with("data.forwarding.all: unknown field")
        );
        assert!(refused(json!({"entity": "e", "dnd": "yes"})).contains("must be true or false"));
    }

    #[test]
    fn shows_every_kind() {
        let mut state = FeatureState { dnd: true, ..FeatureState::default() };
        state.forwarding[2] = Forwarding { active: true, to: Some("2002".into()), ring_count: Some(3) };
        let shown = state_json("1001@pbx", &state);
        assert_eq!(shown["forwarding"]["noanswer"], json!({"active": true, "to": "2002", "ringcount": 3}));
        assert_eq!(shown["forwarding"]["always"], json!({"active": false, "to": null}));
    }
}
