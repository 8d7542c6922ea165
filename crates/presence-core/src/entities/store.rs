//! What the entity component keeps across restarts: the state integrations pushed through
//! the API (presence, registration, voicemail counts, calls, display name, a lamp) and the
//! user's feature settings. Everything else an entity shows comes back with its source
//! (publications, bindings, phones).

use std::time::Instant;

use crate::effects::Wall;
use crate::features::{FeatureChange, ForwardKind, Forwarding};
use crate::lamp::{Lamp, LampState};
use crate::store::{CallRecord, Change, EntityRecord, ForwardRecord, LampRecord, SettingsRecord};

use crate::bodies::Basic;
use crate::bodies::mwi::MessageCounts;
use crate::call::{Call, CallState, Direction, Party};
use crate::effects::{Effects, TimerKey};
use crate::entity_key::EntityKey;

use super::{CallLimits, Entities, Entity, Registration, Source, Status};

/// A presence status as stored: `open`/`closed`, note, DND, on the phone.
type StatusRecord = (String, Option<String>, bool, bool);

pub(crate) fn status_record(s: &Status) -> StatusRecord {
    (s.basic.as_str().to_owned(), s.note.clone(), s.dnd, s.on_the_phone)
}

pub(crate) fn status_from_record((basic, note, dnd, on_the_phone): StatusRecord) -> Status {
    let basic = if basic == "closed" { Basic::Closed } else { Basic::Open };
    Status { basic, note, dnd, on_the_phone }
}

/// The change that stores what the integration API pushed for `key`, or forgets it when
/// nothing is left.
pub(super) fn change(key: &EntityKey, entity: Option<&Entity>, wall: Wall) -> Change {
    let record = entity.and_then(|e| {
        let (status, voicemail, calls) = e.reported_by(Source::Api);
        let record = EntityRecord {
            entity: key.to_string(),
            display: e.display.clone(),
            status: status.map(status_record),
            registration: e.registration.map(|r| (r.registered, r.call_count)),
            voicemail: voicemail.map(|c| [c.new, c.old, c.new_urgent, c.old_urgent]),
            calls: calls.into_iter().map(call_record).collect(),
            settings: settings_record(e),
            lamp: e.lamp().map(|(call, until)| LampRecord {
                call: call_record(call),
                expires_at_ms: until.map(|at| wall.unix_ms(at)),
            }),
        };
        (record != EntityRecord { entity: key.to_string(), ..EntityRecord::default() }).then_some(record)
    });
    match record {
        Some(record) => Change::PutEntity(record),
        None => Change::DeleteEntity(key.to_string()),
    }
}

impl Entities {
    /// Puts back what integrations had pushed for an entity before a restart, but its
    /// settings (see [`Entities::restore_settings`]). `key` is the record's entity as this
    /// run's configuration names it.
    pub(crate) fn restore(
        &mut self,
        key: EntityKey,
        record: EntityRecord,
        limits: &CallLimits,
        fx: &mut Effects,
        now: Instant,
    ) {
        // Stored under another name (the domain aliases changed): moved to this run's name,
        // so later changes replace it.
        let renamed = (record.entity != key.as_str()).then(|| record.entity.clone());
        let entity = self.by_key.entry(key.clone()).or_insert_with(|| {
            fx.directory.add(&key);
            Entity::default()
        });
        entity.set_display(record.display);
        if let Some(status) = record.status {
            entity.set_status(Source::Api, Some(status_from_record(status)));
        }
        if let Some((registered, call_count)) = record.registration {
            entity.set_registration(Registration { registered, call_count });
        }
        if let Some([new, old, new_urgent, old_urgent]) = record.voicemail {
            entity.set_voicemail(Source::Api, Some(MessageCounts { new, old, new_urgent, old_urgent }));
        }
        for call in record.calls.into_iter().filter_map(call_from_record) {
            entity.update_call(Source::Api, call, limits, now);
        }
        if let Some(lamp) = record.lamp.and_then(|r| lamp_from_record(r, fx.wall(), now)) {
            entity.set_lamp(&lamp, limits, now);
        }
        let next = entity.next_expiry();
        if let Some(old) = renamed {
            fx.store(|_| Change::DeleteEntity(old));
            fx.store(|wall| change(&key, self.by_key.get(&key), wall));
        }
        fx.set_deadline(TimerKey::EntityCalls(key), next);
    }

    /// Puts back a user's feature settings, once every source's state is back: a source's
    /// report replayed is not news of DND that the setting should follow, and the setting
    /// already follows whatever news came before the restart. `renamed`: the record was
    /// stored under another name, and is stored again under `key`.
    pub(crate) fn restore_settings(&mut self, key: EntityKey, record: SettingsRecord, renamed: bool, fx: &mut Effects) {
        let entity = self.by_key.entry(key.clone()).or_insert_with(|| {
            fx.directory.add(&key);
            Entity::default()
        });
        if let Some(dnd) = record.dnd {
            entity.set_feature(FeatureChange::Dnd(dnd));
        }
        let kinds = [(ForwardKind::Always, record.always), (ForwardKind::Busy, record.busy)];
        for (kind, r) in kinds.into_iter().chain([(ForwardKind::NoAnswer, record.noanswer)]) {
            let forwarding = Forwarding { active: r.active, to: r.to, ring_count: r.ring_count };
            entity.set_feature(FeatureChange::Forward(kind, forwarding));
        }
        if renamed {
            fx.store(|wall| change(&key, self.by_key.get(&key), wall));
        }
    }
}

fn settings_record(e: &Entity) -> Option<SettingsRecord> {
    let (dnd, forwarding) = e.settings_record();
    let forward = |f: &Forwarding| ForwardRecord { active: f.active, to: f.to.clone(), ring_count: f.ring_count };
    let record = SettingsRecord {
        dnd,
        always: forward(&forwarding[ForwardKind::Always.index()]),
        busy: forward(&forwarding[ForwardKind::Busy.index()]),
        noanswer: forward(&forwarding[ForwardKind::NoAnswer.index()]),
    };
    (record != SettingsRecord::default()).then_some(record)
}

fn call_record(c: &Call) -> CallRecord {
    CallRecord {
        call_id: c.call_id.clone(),
        local_tag: c.local_tag.clone(),
        remote_tag: c.remote_tag.clone(),
        direction: c.direction.map(|d| d.as_str().to_owned()),
        state: c.state.as_str().to_owned(),
        duration: c.duration,
        rendering: c.rendering,
        remote_display: c.remote.as_ref().and_then(|r| r.display.clone()),
        remote_uri: c.remote.as_ref().map(|r| r.uri.clone()),
    }
}

/// The lamp as stored, lit again with what is left of its time (one past its time is not
/// lit again).
fn lamp_from_record(r: LampRecord, wall: Option<Wall>, now: Instant) -> Option<Lamp> {
    let call = call_from_record(r.call)?;
    let expires = match (r.expires_at_ms, wall) {
        (Some(ms), Some(wall)) => {
            let left = wall.instant(ms).saturating_duration_since(now).as_secs();
            if left == 0 {
                return None; // It went out while the server was down.
            }
            Some(u32::try_from(left).unwrap_or(u32::MAX))
        }
        _ => None,
    };
    let state = match (call.state, call.rendering) {
        (CallState::Confirmed, Some(false)) => LampState::Held,
        (CallState::Confirmed, _) => LampState::Busy,
        _ => LampState::Ringing,
    };
    Some(Lamp {
        state,
        caller: call.remote,
        call_id: Some(call.call_id),
        local_tag: call.local_tag,
        remote_tag: call.remote_tag,
        expires,
    })
}

fn call_from_record(r: CallRecord) -> Option<Call> {
    Some(Call {
        call_id: r.call_id,
        local_tag: r.local_tag,
        remote_tag: r.remote_tag,
        direction: r.direction.as_deref().and_then(Direction::parse),
        state: CallState::parse(&r.state)?,
        duration: r.duration,
        rendering: r.rendering,
        remote: r.remote_uri.map(|uri| Party { display: r.remote_display, uri }),
    })
}
