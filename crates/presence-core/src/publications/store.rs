//! What the publications component keeps across restarts: each live publication with its
//! entity-tag, expiry and last body, so its state is rebuilt from the body after a restart
//! and its publisher's next refresh still matches.

use std::time::Instant;

use crate::store::{Change, PublicationRecord};

use crate::effects::{Effects, TimerKey};
use crate::entities::Update;
use crate::entity_key::EntityKey;
use crate::ids::PublicationId;
use crate::packages::Package;

use super::Publications;
use super::content;
use super::publication::Publication;

impl Publications {
    /// Stores publication `id` as it is now (no-op without persistence).
    pub(super) fn store(&self, id: PublicationId, fx: &mut Effects) {
        let Some(p) = self.table.get(id) else { return };
        fx.store(|wall| Change::PutPublication {
            record: PublicationRecord {
                id: id.0,
                entity: p.entity.to_string(),
                package: p.package.name().to_owned(),
                etag: p.etag.clone(),
                expires_at_ms: wall.unix_ms(p.expires_at),
                device: p.device.clone(),
                dialog_version: p.dialog_version,
                content_type: p.body.0.clone(),
                body: p.body.1.clone(),
            },
            if_etag: None,
        });
    }

    /// Puts back a stored publication; returns what its body says about its entity. One
    /// this run cannot read (its package unknown, its body unreadable) is deleted and counted.
    /// `entity` is the record's entity as this run's configuration names it.
    pub(crate) fn restore(
        &mut self,
        entity: EntityKey,
        record: PublicationRecord,
        fx: &mut Effects,
        now: Instant,
    ) -> Option<(EntityKey, Update)> {
        let id = PublicationId(record.id);
        let readable = Package::from_event(&record.package).and_then(|package| {
            let content = content::read(&record.content_type, record.body.as_bytes(), package).ok()?;
            Some((package, content))
        });
        let Some((package, content)) = readable else {
            fx.stats.stored_records_dropped += 1;
            fx.store(|_| Change::DeletePublication(id.0));
            return None;
        };
        let expires_at = fx.wall().map_or(now, |wall| wall.instant(record.expires_at_ms));
        let publication = Publication {
            entity,
            package,
            etag: record.etag,
            expires_at,
            device: record.device,
            source: std::net::Ipv4Addr::UNSPECIFIED.into(),
            dialog_version: record.dialog_version,
            body: (record.content_type, record.body),
        };
        self.table.insert(id, publication);
        fx.set_deadline(TimerKey::PublicationExpiry(id), Some(expires_at));
        self.accept_content(id, content, &mut fx.stats)
    }
}
