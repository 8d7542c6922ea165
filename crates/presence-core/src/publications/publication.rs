//! One publication (RFC 3903), a piece of an entity's state with its own entity-tag and
//! expiry, and the table of them indexed by entity-tag (for SIP-If-Match) and by publishing
//! device (so a publisher that lost its tag, after a 412, replaces its record instead of
//! adding one).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::admission::{Limits, Over, Tally};
use crate::entity_key::EntityKey;
use crate::ids::PublicationId;
use crate::packages::Package;

/// One live publication.
#[derive(Clone, Debug)]
pub(crate) struct Publication {
    pub(crate) entity: EntityKey,
    pub(crate) package: Package,
    pub(crate) etag: String,
    pub(crate) expires_at: Instant,
    /// Who published from where: the From address plus the Contact (or source address).
    pub(crate) device: String,
    /// The address it was published from, for the source's share (unspecified for one
    /// restored after a restart, which the store does not keep).
    pub(crate) source: IpAddr,
    /// The highest dialog-info version seen from this publisher; older documents are stale.
    pub(crate) dialog_version: Option<u32>,
    /// The last body applied and its content type (kept so a restart can rebuild the state).
    pub(crate) body: (String, String),
}

type DeviceKey = (EntityKey, Package, String);

/// Every live publication.
#[derive(Debug, Default)]
pub(crate) struct Publications {
    by_id: HashMap<PublicationId, Publication>,
    by_etag: HashMap<String, PublicationId>,
    by_device: HashMap<DeviceKey, PublicationId>,
    /// Each entity's publications, for its quota and its look-up.
    per_entity: HashMap<EntityKey, Vec<PublicationId>>,
    per_source: Tally,
}

impl Publications {
    pub(crate) fn insert(&mut self, id: PublicationId, publication: Publication) {
        self.by_etag.insert(publication.etag.clone(), id);
        self.by_device.insert(device_key(&publication), id);
        self.per_entity.entry(publication.entity.clone()).or_default().push(id);
        self.per_source.add(publication.source);
        self.by_id.insert(id, publication);
    }

    pub(crate) fn get(&self, id: PublicationId) -> Option<&Publication> {
        self.by_id.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: PublicationId) -> Option<&mut Publication> {
        self.by_id.get_mut(&id)
    }

    /// The publication holding entity-tag `etag` for `entity` and `package`.
    pub(crate) fn by_etag(&self, entity: &EntityKey, package: Package, etag: &str) -> Option<PublicationId> {
        let id = *self.by_etag.get(etag)?;
        self.by_id.get(&id).filter(|p| p.entity == *entity && p.package == package).map(|_| id)
    }

    pub(crate) fn by_device(&self, entity: &EntityKey, package: Package, device: &str) -> Option<PublicationId> {
        self.by_device.get(&(entity.clone(), package, device.to_owned())).copied()
    }

    pub(crate) fn count_of_entity(&self, entity: &EntityKey) -> usize {
        self.per_entity.get(entity).map_or(0, Vec::len)
    }

    /// The publications of `entity`.
    pub(crate) fn of_entity(&self, entity: &EntityKey) -> impl Iterator<Item = &Publication> {
        self.per_entity.get(entity).into_iter().flatten().filter_map(|id| self.by_id.get(id))
    }

    /// The limit one more publication from `source` would pass, if any.
    pub(crate) fn over_quota(&self, source: IpAddr, limits: &Limits) -> Option<Over> {
        self.per_source.over(source, limits.publications, limits)
    }

    /// Gives a publication a fresh entity-tag (RFC 3903 §6: a new one on every 2xx).
    pub(crate) fn retag(&mut self, id: PublicationId, etag: String) {
        if let Some(p) = self.by_id.get_mut(&id) {
            self.by_etag.remove(&p.etag);
            self.by_etag.insert(etag.clone(), id);
            p.etag = etag;
        }
    }

    pub(crate) fn remove(&mut self, id: PublicationId) -> Option<Publication> {
        let p = self.by_id.remove(&id)?;
        self.by_etag.remove(&p.etag);
        self.by_device.remove(&device_key(&p));
        self.per_source.remove(p.source);
        if let Some(ids) = self.per_entity.get_mut(&p.entity) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.per_entity.remove(&p.entity);
            }
        }
        Some(p)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Every live publication.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Publication> {
        self.by_id.values()
    }
}

fn device_key(p: &Publication) -> DeviceKey {
    (p.entity.clone(), p.package, p.device.clone())
}
