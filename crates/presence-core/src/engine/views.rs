//! The engine's look-ups: each asks the components that own the state, read-only.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::directory::Touched;
use crate::entities::{Shown, shown_with_status};
use crate::entity_key::EntityKey;
use crate::views::{Category, EntityDetail, EntityView, PublicationView, RegistrationView, SubscriptionView};

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

    /// A page of the entities whose names start with `prefix`, whose name or display name
    /// contains `needle` and that are in `category` (when given): how many match, and the
    /// `limit` after the first `offset`. Unlike [`Engine::entity_page`] it builds the view of
    /// every entity in the prefix's range to test it, so it costs the whole range: an
    /// operator's search, not something to run per change.
    pub fn entity_search(
        &self,
        prefix: &str,
        category: Option<Category>,
        needle: &str,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<EntityView>) {
        let needle = needle.to_ascii_lowercase();
        let (_, in_range) = self.fx.directory.page(prefix, 0, usize::MAX);
        let matching = in_range
            .into_iter()
            .map(|key| self.entity_view(key))
            .filter(|view| category.is_none_or(|c| view.is(c)) && view.mentions(&needle));
        let mut total = 0;
        let mut page = Vec::new();
        for view in matching {
            if total >= offset && page.len() < limit {
                page.push(view);
            }
            total += 1;
        }
        (total, page)
    }

    /// Everything held about entity `key`: its state, the subscriptions to it, ours to its
    /// phones, its registrations and its publications. It costs what the entity holds.
    pub fn entity_detail(&self, key: &EntityKey, now: Instant) -> EntityDetail {
        let bindings = self.registrar.bindings_of(key);
        EntityDetail {
            entity: self.entity_view(key),
            subscriptions: self.notifier.views_of(key, &self.config, now),
            watches: self.phones.views_of(key, bindings.iter().map(|b| b.key.as_str())),
            registrations: self.registrar.views_of(key, now),
            publications: self.publications.views_of(key, now),
        }
    }

    /// What entity `key`'s feature keys show: DND as every package composes it, and the
    /// forwarding settings.
    pub fn features(&self, key: &EntityKey) -> crate::features::FeatureState {
        let options = self.config.render_options();
        self.entities.get(key).map(|e| e.feature_state(options)).unwrap_or_default()
    }

    /// From now on, note which entities' look-ups change (for a live view; see
    /// [`Engine::take_touched`]).
    pub fn follow_entities(&mut self) {
        self.fx.directory.follow();
    }

    /// The entities whose look-up changed since the last call (once following).
    pub fn take_touched(&mut self) -> Touched {
        self.fx.directory.take_touched()
    }

    /// Whether entities changed since the last [`Engine::take_touched`].
    pub fn has_touched(&self) -> bool {
        self.fx.directory.has_touched()
    }

    /// Whether any component holds something about `key` (it is listed).
    pub fn is_listed(&self, key: &EntityKey) -> bool {
        self.fx.directory.contains(key)
    }

    /// Every listed entity, in look-up order.
    pub fn listed_entities(&self) -> impl Iterator<Item = &EntityKey> {
        self.fx.directory.keys()
    }

    /// What `key` (an entity key as [`crate::EngineConfig::entity_key`] makes it) shows.
    pub fn entity_view(&self, key: &EntityKey) -> EntityView {
        let entity = self.entities.get(key);
        let (shown, status) = shown_with_status(entity, self.config.render_options());
        let dnd = matches!(shown, Shown::DoNotDisturb | Shown::OnThePhoneDoNotDisturb);
        let on_the_phone = matches!(shown, Shown::OnThePhone | Shown::OnThePhoneDoNotDisturb);
        let bindings = self.registrar.bindings_of(key);
        let mut user_agents: Vec<String> = Vec::new();
        for agent in bindings.iter().filter_map(|b| b.user_agent.as_ref()) {
            if !user_agents.contains(agent) {
                user_agents.push(agent.clone());
            }
        }
        let unavailable = match shown {
            Shown::Available => None,
            Shown::Offline if entity.is_some_and(|e| e.offline()) => Some("not registered"),
            Shown::Offline if status.is_some() => Some("its presence is closed (offline)"),
            Shown::Offline => Some("nothing is known of it"),
            Shown::DoNotDisturb | Shown::OnThePhoneDoNotDisturb => Some("do not disturb"),
            Shown::OnThePhone => Some("on the phone"),
        };
        EntityView {
            entity: key.to_string(),
            registered: entity.and_then(|e| e.registration).map(|r| r.registered),
            contacts: bindings.len(),
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
            unavailable,
            display: entity.and_then(|e| e.display.clone()),
            user_agents,
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
