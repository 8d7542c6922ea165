//! Applying `.out` events from integrations to entity state, and notifying the watchers
//! each change affects. A `call_id` targets one subscription with an immediate NOTIFY even
//! when the entity's state did not change (the answer to its `.in` event).

use std::time::Instant;

use crate::api::{CallsUpdate, Command};
use crate::bodies::Format;
use crate::engine::{Engine, TimerKey};
use crate::entity::{Changed, Entity, Registration, Source, Status};

impl Engine {
    /// Applies an `.out` event.
    pub fn handle_command(&mut self, command: Command, now: Instant) {
        let entity_key = self.config.entity_key(command.entity());
        let limits = self.config.calls;
        if let Command::CheckSync { .. } = command {
            // Touches no state: no entity is made for it.
            self.check_sync(&entity_key, now);
            self.unsolicited_check_sync(&entity_key, now);
            return;
        }
        let entity = self.entities.entry(entity_key.clone()).or_default();
        let (changed, target) = match command {
            Command::Voicemail { counts, .. } => (entity.set_voicemail(Source::Api, Some(counts)), None),
            Command::Registration { registered, call_count, call_id, .. } => {
                (entity.set_registration(Registration { registered, call_count }), call_id)
            }
            Command::Status { basic, note, dnd, on_the_phone, .. } => {
                (entity.set_status(Source::Api, Some(Status { basic, note, dnd, on_the_phone })), None)
            }
            Command::Dialog { display, call_count, calls, call_id, .. } => {
                let mut changed = entity.set_display(display);
                if let Some(count) = call_count {
                    // The seed re-rendered presence watchers from the dialog event's count.
                    let registered = entity.registration.is_none_or(|r| r.registered);
                    changed = changed.or(entity.set_registration(Registration { registered, call_count: count }));
                }
                let calls_changed = match calls {
                    CallsUpdate::Full(calls) => entity.replace_calls(Source::Api, calls, &limits, now),
                    CallsUpdate::Partial(call) => entity.update_call(Source::Api, call, &limits, now),
                    CallsUpdate::Unchanged => Changed::default(),
                };
                (changed.or(calls_changed), call_id)
            }
            // Handled above.
            Command::CheckSync { .. } => return,
        };
        self.entity_changed(&entity_key, changed, now);
        if let Some(call_id) = target {
            for id in self.subscriptions.of_call_id(&entity_key, &call_id) {
                // Already notified above when the change affected it; merging makes a
                // second call cheap (it only marks the subscription dirty).
                self.send_notify(id, now);
            }
        }
    }

    /// Drops an entity's calls that outlived their limits, and notifies.
    pub(crate) fn expire_calls(&mut self, entity_key: &str, now: Instant) {
        let limits = self.config.calls;
        let Some(entity) = self.entities.get_mut(entity_key) else { return };
        let changed = entity.forget_expired(&limits, now);
        self.entity_changed(entity_key, changed, now);
    }

    /// After an entity changed: re-arms its call-expiry timer, forgets it when it holds
    /// nothing, and notifies the watchers the change affects.
    pub(crate) fn entity_changed(&mut self, entity_key: &str, changed: Changed, now: Instant) {
        if changed.any() {
            self.persist_entity(entity_key);
        }
        let next = self.entities.get(entity_key).and_then(Entity::next_expiry);
        if self.entities.get(entity_key).is_some_and(Entity::is_empty) {
            self.entities.remove(entity_key);
        }
        self.deadlines.set(TimerKey::EntityCalls(entity_key.to_owned()), next);
        self.notify_entity(entity_key, changed, now);
        if changed.voicemail && self.config.unsolicited_mwi {
            self.unsolicited_mwi(entity_key, now);
        }
    }

    /// `presence.checksync.out`: an `Event: check-sync` NOTIFY in each of the entity's
    /// message-summary dialogs, as the seed did (Polycom and Yealink resynchronise).
    fn check_sync(&mut self, entity_key: &str, now: Instant) {
        for id in self.subscriptions.of_entity(entity_key) {
            let Some(sub) = self.subscriptions.get_mut(id) else { continue };
            if sub.format == Format::MessageSummary {
                sub.check_sync = true;
                if !sub.in_flight {
                    self.send_notify(id, now);
                }
            }
        }
    }
}
