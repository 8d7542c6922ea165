//! Publications (RFC 3903, the event state compositor's side): owns every live
//! publication. `publish` takes PUBLISH requests, `content` reads their bodies, `store`
//! keeps them across restarts. Each live publication is one source of its entity's state,
//! which it hands to the entity component as an `Update`; its state goes away with it
//! (removal or expiry).

mod content;
mod publication;
mod publish;
mod store;

use std::time::Instant;

use crate::effects::{Effects, TimerKey};
use crate::entities::{Source, Update};
use crate::entity_key::EntityKey;
use crate::ids::PublicationId;
use crate::views::PublicationView;
use publication::Publications as Table;

/// The publications component.
#[derive(Debug, Default)]
pub(crate) struct Publications {
    table: Table,
}

impl Publications {
    /// Forgets publication `id` (removed, or expired: RFC 3903 §6); returns what that
    /// withdraws from its entity.
    pub(crate) fn remove(&mut self, id: PublicationId, fx: &mut Effects) -> Option<(EntityKey, Update)> {
        fx.set_deadline(TimerKey::PublicationExpiry(id), None);
        let publication = self.table.remove(id)?;
        fx.store(|_| crate::store::Change::DeletePublication(id.0));
        let withdrawn = content::withdrawal(publication.package, Source::Publication(id))?;
        Some((publication.entity, withdrawn))
    }

    /// How many live publications are held.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every live publication.
    pub(crate) fn views(&self, now: Instant) -> Vec<PublicationView> {
        sorted(self.table.iter().map(|p| view(p, now)).collect())
    }

    /// The live publications of `entity`.
    pub(crate) fn views_of(&self, entity: &EntityKey, now: Instant) -> Vec<PublicationView> {
        sorted(self.table.of_entity(entity).map(|p| view(p, now)).collect())
    }
}

fn view(p: &publication::Publication, now: Instant) -> PublicationView {
    PublicationView {
        entity: p.entity.to_string(),
        event: p.package.name(),
        etag: p.etag.clone(),
        expires_in: p.expires_at.saturating_duration_since(now).as_secs(),
        device: p.device.clone(),
        source: (!p.source.is_unspecified()).then(|| p.source.to_string()),
    }
}

fn sorted(mut views: Vec<PublicationView>) -> Vec<PublicationView> {
    views.sort_by(|a, b| (&a.entity, &a.etag).cmp(&(&b.entity, &b.etag)));
    views
}
