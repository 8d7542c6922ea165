//! Entity state and its composition: owns what is known of every entity (`user@host`), one
//! state per entity made of what each source reports (integrations, publications, phones we
//! subscribe to, the registrar) and the user's feature settings (`settings`). Other
//! components describe what they learnt as an [`Update`]; applying it says what
//! [`Changed`], so only the watchers it affects are notified. `compose` turns the state into
//! what a watcher is shown; `store` keeps what integrations pushed and the settings across
//! restarts.

mod compose;
mod entity;
mod settings;
mod store;

use std::collections::HashMap;
use std::time::Instant;

pub(crate) use compose::{RenderOptions, Shown, shown, shown_with_status};
pub use entity::{CallLimits, DndRule};
pub(crate) use entity::{Changed, Entity, Registration, Source, Status};
pub(crate) use store::{status_from_record, status_record};

use crate::bodies::dialog_info::DialogInfo;
use crate::bodies::mwi::MessageCounts;
use crate::call::Call;
use crate::effects::{Effects, TimerKey};
use crate::entity_key::EntityKey;
use crate::features::FeatureChange;
use crate::lamp::Lamp;

/// Something a source says about an entity.
#[derive(Clone, Debug)]
pub(crate) enum Update {
    /// Its presence as `source` reports it (`None`: the source withdrew it).
    Status(Source, Option<Status>),
    /// Its voicemail counts as `source` reports them (`None`: withdrawn, if it set them).
    Voicemail(Source, Option<MessageCounts>),
    /// A dialog-info document (RFC 4235): a full one replaces the source's calls, a partial
    /// one updates them.
    DialogInfo(Source, DialogInfo),
    /// One call changed (a partial update).
    Call(Source, Call),
    /// Every current call of the source (calls not listed have ended).
    Calls(Source, Vec<Call>),
    /// Every call the source reported ends (its publication went away).
    EndCalls(Source),
    /// The registrar: whether any contact is bound (the call count is kept).
    Registered(bool),
    /// An integration's registration push.
    Registration(Registration),
    /// An integration's count of calls in progress (registered unless reported otherwise).
    CallCount(u32),
    /// The display name for the entity's own identity.
    Display(Option<String>),
    /// A change to the user's feature settings (a feature key, the features API).
    Feature(FeatureChange),
    /// The entity's lamp, as an integration set it.
    Lamp(Lamp),
}

impl Update {
    /// Whether the update is to state the store keeps: what integrations pushed through the
    /// API and the entity's registration (see `store::change`).
    fn changes_what_is_stored(&self) -> bool {
        match self {
            Update::Status(source, _)
            | Update::Voicemail(source, _)
            | Update::DialogInfo(source, _)
            | Update::Call(source, _)
            | Update::Calls(source, _)
            | Update::EndCalls(source) => *source == Source::Api,
            Update::Lamp(_) => true,
            Update::Registered(_)
            | Update::Registration(_)
            | Update::CallCount(_)
            | Update::Display(_)
            | Update::Feature(_) => true,
        }
    }
}

/// Every entity with state.
#[derive(Debug, Default)]
pub(crate) struct Entities {
    by_key: HashMap<EntityKey, Entity>,
}

impl Entities {
    /// The state of `key`, if any is known.
    pub(crate) fn get(&self, key: &EntityKey) -> Option<&Entity> {
        self.by_key.get(key)
    }

    /// Applies `update` to entity `key`, DND composed as `options` say. Follow with
    /// [`Entities::settle`].
    pub(crate) fn apply(
        &mut self,
        key: &EntityKey,
        update: Update,
        limits: &CallLimits,
        options: RenderOptions,
        fx: &mut Effects,
        now: Instant,
    ) -> Changed {
        let entity = self.by_key.entry(key.clone()).or_insert_with(|| {
            fx.directory.add(key);
            Entity::default()
        });
        let stored = update.changes_what_is_stored();
        let dnd_before = entity.dnd(options);
        let settings_before = entity.settings_record().0;
        let sets_dnd = matches!(update, Update::Feature(FeatureChange::Dnd(_)));
        let changed = match update {
            Update::Status(source, status) => entity.set_status(source, status),
            Update::Voicemail(source, counts) => entity.set_voicemail(source, counts),
            Update::DialogInfo(source, doc) => entity.apply_dialog_info(source, doc, limits, now),
            Update::Call(source, call) => entity.update_call(source, call, limits, now),
            Update::Calls(source, calls) => entity.replace_calls(source, calls, limits, now),
            Update::EndCalls(source) => entity.end_calls_of(source, limits, now),
            Update::Registered(registered) => {
                let call_count = entity.registration.map_or(0, |r| r.call_count);
                entity.set_registration(Registration { registered, call_count })
            }
            Update::Registration(registration) => entity.set_registration(registration),
            Update::CallCount(call_count) => {
                // The seed re-rendered presence watchers from the dialog event's count.
                let registered = entity.registration.is_none_or(|r| r.registered);
                entity.set_registration(Registration { registered, call_count })
            }
            Update::Display(display) => entity.set_display(display),
            Update::Feature(change) => entity.set_feature(change),
            Update::Lamp(lamp) => entity.set_lamp(&lamp, limits, now),
        };
        let dnd_changed = entity.dnd(options) != dnd_before;
        // A source's DND news moves the setting too (`Entity::set_status`): that is stored.
        let setting_followed = entity.settings_record().0 != settings_before;
        let changed = Changed {
            stored: (stored && changed.any()) || setting_followed,
            features: changed.features || dnd_changed,
            ..changed
        };
        if sets_dnd {
            // What watchers are shown changes only if DND as composed does.
            return Changed { presence: dnd_changed, dialogs: dnd_changed, ..changed };
        }
        changed
    }

    /// Drops the calls of `key` that outlived their limits. Follow with [`Entities::settle`].
    pub(crate) fn expire_calls(&mut self, key: &EntityKey, limits: &CallLimits, now: Instant) -> Changed {
        let changed = self.by_key.get_mut(key).map_or_else(Changed::default, |e| e.forget_expired(limits, now));
        // The expired calls may be ones an integration pushed, which are stored.
        Changed { stored: changed.any(), ..changed }
    }

    /// After entity `key` changed by `changed`: stores what integrations pushed for it,
    /// re-arms its call-expiry timer, and forgets it when it holds nothing.
    pub(crate) fn settle(&mut self, key: &EntityKey, changed: Changed, fx: &mut Effects) {
        if changed.stored {
            fx.store(|wall| store::change(key, self.by_key.get(key), wall));
        }
        let next = self.by_key.get(key).and_then(Entity::next_expiry);
        if self.by_key.get(key).is_some_and(Entity::is_empty) {
            self.by_key.remove(key);
            fx.directory.remove(key);
        }
        fx.set_deadline(TimerKey::EntityCalls(key.clone()), next);
    }
}
