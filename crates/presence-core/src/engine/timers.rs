//! Routing due deadlines: each key of the one deadline index goes to the component that
//! owns what it names, and what that component hands back is carried out.

use std::time::Instant;

use crate::effects::TimerKey;

use super::{Engine, cx};

impl Engine {
    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.fx.pop_due(now) {
            match key {
                TimerKey::ServerTransaction(key) => self.server.on_timer(key, &mut self.fx, now),
                TimerKey::ClientTransaction(key) => {
                    if let Some(outcome) = self.client.on_timer(key, &self.config, &mut self.fx, now) {
                        self.outcome(outcome, now);
                    }
                }
                TimerKey::SubscriptionExpiry(id) => {
                    self.notifier.terminate(id, "timeout", &self.entities, cx!(self, now))
                }
                TimerKey::NotifyThrottle(id) => self.notifier.throttle_ended(id, &self.entities, cx!(self, now)),
                TimerKey::PublicationExpiry(id) => {
                    let withdrawn = self.publications.remove(id, &mut self.fx);
                    self.apply(withdrawn.into_iter().collect(), now);
                }
                TimerKey::EntityCalls(entity) => {
                    let changed = self.entities.expire_calls(&entity, &self.config.calls, now);
                    self.changed(&entity, changed, now);
                }
                TimerKey::BindingExpiry(aor) => {
                    let registered = self.registrar.expire(&aor, &mut self.fx, now);
                    self.registered(registered, now);
                }
                TimerKey::WatchRefresh(id) => {
                    let update = self.phones.refresh(id, cx!(self, now));
                    self.apply(update.into_iter().collect(), now);
                }
            }
        }
    }
}
