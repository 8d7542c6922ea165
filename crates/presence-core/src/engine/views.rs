//! The engine's look-ups: each asks the components that own the state, read-only.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::entities::{Shown, shown_with_status};
use crate::entity_key::EntityKey;
use crate::views::{EntityView, PublicationView, RegistrationView, SubscriptionView};

use super::{Engine, cx};

impl Engine {
    /// A page of the entities whose names start with `prefix` (case-insensitively): how many
    /// there are, and what the `limit` after the first `offset` show. It walks the sorted
    /// directory from the prefix to the end of the page (and, with a prefix, counts the
    /// entities in its range), never the state of every entity.
    pub fn entity_page(&self, prefix: &str, offset: usize, limit: usize) -> (usize, Vec<EntityView>) {
        let (total, keys) = self.fx.directory.page(prefix, offset, limit);
        (total, keys.into_iter().map(|key| self.entity_view(key)).collect())
    }

    /// What `key` (an entity key as [`crate::EngineConfig::entity_key`] makes it) shows.
    pub fn entity_view(&self, key: &EntityKey) -> EntityView {
        let entity = self.entities.get(key);
        let (shown, status) = shown_with_status(entity, self.config.render_options());
        let dnd = matches!(shown, Shown::DoNotDisturb | Shown::OnThePhoneDoNotDisturb);
        let on_the_phone = matches!(shown, Shown::OnThePhone | Shown::OnThePhoneDoNotDisturb);
        EntityView {
            entity: key.to_string(),
            registered: entity.and_then(|e| e.registration).map(|r| r.registered),
            contacts: self.registrar.bindings_of(key).len(),
            shown: match shown {
                Shown::Available => "available",
                Shown::OnThePhone => "on-the-phone",
                Shown::DoNotDisturb => "dnd",
                Shown::OnThePhoneDoNotDisturb => "on-the-phone-dnd",
                Shown::Offline => "offline",
            },
            note: status.and_then(|s| s.note),
            dnd,
            on_the_phone,
            calls: entity.map(|e| e.calls().into_iter().cloned().collect()).unwrap_or_default(),
            voicemail: entity.and_then(|e| e.voicemail),
            watchers: self.notifier.watchers_of(key),
            available: shown == Shown::Available,
            known: entity.is_some(),
        }
    }

    /// How many subscriptions there are per (event package, `active`/`terminating`), without
    /// building their views (for metrics).
    pub fn subscription_counts(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.notifier.counts()
    }

    /// A page of the subscriptions we serve, in id order: how many there are, and the first
    /// `limit` with an id above `after` (from the first when `None`). It costs the page.
    pub fn subscription_page(&self, after: Option<u64>, limit: usize, now: Instant) -> (usize, Vec<SubscriptionView>) {
        self.notifier.page(after, limit, &self.config, now)
    }

    /// Ends a subscription from outside (`terminated;reason=deactivated`). False when there
    /// is no such active subscription.
    pub fn deactivate_subscription(&mut self, id: u64, now: Instant) -> bool {
        self.notifier.deactivate(id, &self.entities, cx!(self, now))
    }

    /// Every registered contact.
    pub fn registration_views(&self, now: Instant) -> Vec<RegistrationView> {
        self.registrar.views(now)
    }

    /// Every live publication.
    pub fn publication_views(&self, now: Instant) -> Vec<PublicationView> {
        self.publications.views(now)
    }
}
