//! Routing integrations' `.out` events: each becomes entity updates (applied, and the
//! affected watchers notified), or a check-sync for the notifier and the phones. A `call_id`
//! targets one subscription with an immediate NOTIFY even when the entity's state did not
//! change (the answer to its `.in` event).

use std::time::Instant;

use crate::api::{CallsUpdate, Command};
use crate::entities::{Registration, Source, Status, Update};
use crate::features::FeatureChange;
use crate::unsolicited;

use super::{Engine, cx};

impl Engine {
    /// Applies an `.out` event.
    pub fn handle_command(&mut self, command: Command, now: Instant) {
        let entity = self.config.watched_key(command.entity());
        let (updates, target) = match command {
            Command::CheckSync { .. } => {
                // Touches no state: no entity is made for it.
                self.notifier.check_sync(&entity, &self.entities, cx!(self, now));
                unsolicited::check_sync(&entity, self.registrar.bindings_of(&entity), cx!(self, now));
                return;
            }
            Command::Voicemail { counts, .. } => (vec![Update::Voicemail(Source::Api, Some(counts))], None),
            Command::Registration { registered, call_count, call_id, .. } => {
                (vec![Update::Registration(Registration { registered, call_count })], call_id)
            }
            Command::Status { basic, note, dnd, on_the_phone, .. } => {
                (vec![Update::Status(Source::Api, Some(Status { basic, note, dnd, on_the_phone }))], None)
            }
            Command::Dialog { display, call_count, calls, call_id, .. } => {
                let mut updates = vec![Update::Display(display)];
                updates.extend(call_count.map(Update::CallCount));
                match calls {
                    CallsUpdate::Full(calls) => updates.push(Update::Calls(Source::Api, calls)),
                    CallsUpdate::Partial(call) => updates.push(Update::Call(Source::Api, call)),
                    CallsUpdate::Unchanged => {}
                }
                (updates, call_id)
            }
            Command::Features { dnd, forwarding, .. } => {
                let dnd = dnd.map(|on| Update::Feature(FeatureChange::Dnd(on)));
                let forwards = forwarding.into_iter().map(|(k, f)| Update::Feature(FeatureChange::Forward(k, f)));
                (dnd.into_iter().chain(forwards).collect(), None)
            }
            Command::Lamp { lamp, .. } => (vec![Update::Lamp(lamp)], None),
        };
        self.apply(updates.into_iter().map(|update| (entity.clone(), update)).collect(), now);
        if let Some(call_id) = target {
            self.notifier.notify_call_id(&entity, &call_id, &self.entities, cx!(self, now));
        }
    }
}
