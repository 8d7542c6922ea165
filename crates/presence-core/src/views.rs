//! Read-only views of the engine's state for look-ups (the HTTP API's GET resources): what
//! an entity shows, and the subscriptions, registrations and publications held. Built on
//! request from the live state; nothing here changes it.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::api::SourceAddress;
use crate::bodies::mwi::MessageCounts;
use crate::call::Call;
use crate::engine::Engine;
use crate::render::{RenderOptions, Shown, shown_with_status};
use crate::subscription::Phase;

/// An entity's composed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityView {
    /// `user@host`.
    pub entity: String,
    /// Registered (`None`: nobody reported).
    pub registered: Option<bool>,
    /// Registered contacts.
    pub contacts: usize,
    /// What presence watchers see: `available`, `on-the-phone`, `dnd`, `on-the-phone-dnd`, `offline`.
    pub shown: &'static str,
    /// The composed note.
    pub note: Option<String>,
    /// Do not disturb.
    pub dnd: bool,
    /// On the phone.
    pub on_the_phone: bool,
    /// Current calls.
    pub calls: Vec<Call>,
    /// Voicemail counts, once known.
    pub voicemail: Option<MessageCounts>,
    /// Active subscriptions to it.
    pub watchers: usize,
    /// Whether it can take a call now: registered (or not known otherwise), not DND, not on
    /// the phone (SPEC §9 availability).
    pub available: bool,
}

/// One subscription we serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionView {
    /// Its id (for `DELETE`).
    pub id: u64,
    /// The watched entity.
    pub entity: String,
    /// The subscriber.
    pub subscriber: String,
    /// The event package.
    pub event: &'static str,
    /// The negotiated body type.
    pub content_type: &'static str,
    /// The dialog's Call-ID.
    pub call_id: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// `active` or `terminating`.
    pub state: &'static str,
    /// Where its NOTIFYs go.
    pub peer: SourceAddress,
    /// The subscriber's device profile, if one matched.
    pub profile: Option<String>,
}

/// One registered contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationView {
    /// The address-of-record.
    pub entity: String,
    /// The contact URI.
    pub contact: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Its User-Agent.
    pub user_agent: Option<String>,
    /// Where it registered from.
    pub source: SourceAddress,
}

/// One live publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicationView {
    /// The entity.
    pub entity: String,
    /// The event package.
    pub event: &'static str,
    /// Its current entity-tag.
    pub etag: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl Engine {
    pub(crate) fn render_options(&self) -> RenderOptions {
        RenderOptions {
            unknown_is_available: self.config.unknown_is_available,
            zero_voicemail_when_unknown: self.config.zero_voicemail_when_unknown,
            dnd_rule: self.config.dnd_rule,
            device_dnd_rule: self.config.device_dnd_rule,
            dnd_as_busy_lamp: self.config.dnd_as_busy_lamp,
        }
    }

    /// Every entity the engine knows of (with state, watchers or bindings), sorted.
    pub fn entity_keys(&self) -> Vec<String> {
        let mut keys: BTreeSet<&String> = self.entities.keys().collect();
        keys.extend(self.subscriptions.entities());
        keys.extend(self.registrations.iter().map(|(aor, _)| aor));
        keys.into_iter().cloned().collect()
    }

    /// What `key` (an entity key as [`crate::EngineConfig::entity_key`] makes it) shows.
    pub fn entity_view(&self, key: &str) -> EntityView {
        let entity = self.entities.get(key);
        let options = self.render_options();
        let (shown, status) = shown_with_status(entity, options);
        let dnd = matches!(shown, Shown::DoNotDisturb | Shown::OnThePhoneDoNotDisturb);
        let on_the_phone = matches!(shown, Shown::OnThePhone | Shown::OnThePhoneDoNotDisturb);
        EntityView {
            entity: key.to_owned(),
            registered: entity.and_then(|e| e.registration).map(|r| r.registered),
            contacts: self.registrations.of(key).len(),
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
            watchers: self.subscriptions.count_of_entity(key),
            available: shown == Shown::Available,
        }
    }

    /// How many subscriptions there are per (event package, `active`/`terminating`), without
    /// building their views (for metrics).
    pub fn subscription_counts(&self) -> std::collections::BTreeMap<(&'static str, &'static str), u64> {
        let mut counts = std::collections::BTreeMap::new();
        for (_, s) in self.subscriptions.iter() {
            let state = if s.phase == Phase::Active { "active" } else { "terminating" };
            *counts.entry((s.package.name(), state)).or_default() += 1;
        }
        counts
    }

    /// Every subscription we serve.
    pub fn subscription_views(&self, now: Instant) -> Vec<SubscriptionView> {
        let mut views: Vec<SubscriptionView> = self
            .subscriptions
            .iter()
            .map(|(id, s)| SubscriptionView {
                id,
                entity: s.entity.clone(),
                subscriber: s.subscriber.clone(),
                event: s.package.name(),
                content_type: s.format.content_type(),
                call_id: s.dialog.id.call_id.clone(),
                expires_in: s.remaining_secs(now),
                state: if s.phase == Phase::Active { "active" } else { "terminating" },
                peer: SourceAddress::of(s.peer),
                profile: s.profile.and_then(|p| self.config.profiles.get(p)).map(|p| p.name.clone()),
            })
            .collect();
        views.sort_by_key(|v| v.id);
        views
    }

    /// Ends a subscription from outside (`terminated;reason=deactivated`). False when there
    /// is no such active subscription.
    pub fn deactivate_subscription(&mut self, id: u64, now: Instant) -> bool {
        let active = self.subscriptions.get(id).is_some_and(|s| s.phase == Phase::Active);
        if active {
            self.terminate_subscription(id, "deactivated", now);
        }
        active
    }

    /// Every registered contact.
    pub fn registration_views(&self, now: Instant) -> Vec<RegistrationView> {
        let mut views: Vec<RegistrationView> = self
            .registrations
            .iter()
            .map(|(aor, b)| RegistrationView {
                entity: aor.clone(),
                contact: b.contact.uri.to_string(),
                expires_in: b.expires_at.saturating_duration_since(now).as_secs(),
                user_agent: b.user_agent.clone(),
                source: SourceAddress::of(b.source),
            })
            .collect();
        views.sort_by(|a, b| (&a.entity, &a.contact).cmp(&(&b.entity, &b.contact)));
        views
    }

    /// Every live publication.
    pub fn publication_views(&self, now: Instant) -> Vec<PublicationView> {
        let mut views: Vec<PublicationView> = self
            .publications
            .iter()
            .map(|p| PublicationView {
                entity: p.entity.clone(),
                event: p.package.name(),
                etag: p.etag.clone(),
                expires_in: p.expires_at.saturating_duration_since(now).as_secs(),
            })
            .collect();
        views.sort_by(|a, b| (&a.entity, &a.etag).cmp(&(&b.entity, &b.etag)));
        views
    }

    /// The settings the engine runs with (to normalise entity names the same way).
    pub fn config(&self) -> &crate::EngineConfig {
        &self.config
    }
}
