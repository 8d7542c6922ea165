//! The in-memory backend: the same semantics as SQLite, kept in maps, for tests (the server
//! with `--data-dir none` stores nothing at all). Clones share the storage, so "reopening" a
//! clone sees what was written.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::{
    BindingRecord, Change, EntityRecord, PublicationRecord, Snapshot, Store, StoreError, SubscriptionRecord,
    WatchRecord,
};

#[derive(Clone, Debug, Default)]
struct Maps {
    subscriptions: BTreeMap<u64, SubscriptionRecord>,
    bindings: BTreeMap<(String, String), BindingRecord>,
    publications: BTreeMap<u64, PublicationRecord>,
    entities: BTreeMap<String, EntityRecord>,
    watches: BTreeMap<u64, WatchRecord>,
}

/// Storage in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    maps: Arc<Mutex<Maps>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let maps = self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(Snapshot {
            subscriptions: maps.subscriptions.values().cloned().collect(),
            bindings: maps.bindings.values().cloned().collect(),
            publications: maps.publications.values().cloned().collect(),
            entities: maps.entities.values().cloned().collect(),
            watches: maps.watches.values().cloned().collect(),
        })
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let mut maps = self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Work on a copy so a conflict leaves the store as it was (batches are atomic).
        let mut next = maps.clone();
        for change in changes {
            match change {
                Change::PutSubscription(record) => {
                    let merged = monotonic(next.subscriptions.get(&record.id), record.clone());
                    next.subscriptions.insert(record.id, merged);
                }
                Change::DeleteSubscription(id) => {
                    next.subscriptions.remove(id);
                }
                Change::PutWatch(record) => {
                    let merged = monotonic_watch(next.watches.get(&record.id), record.clone());
                    next.watches.insert(record.id, merged);
                }
                Change::DeleteWatch(id) => {
                    next.watches.remove(id);
                }
                Change::PutBinding(record) => {
                    next.bindings.insert((record.aor.clone(), record.contact.clone()), record.clone());
                }
                Change::DeleteBinding { aor, contact } => {
                    next.bindings.remove(&(aor.clone(), contact.clone()));
                }
                Change::PutPublication { record, if_etag } => {
                    if let Some(expected) = if_etag {
                        let current = next.publications.get(&record.id).map(|p| &p.etag);
                        if current != Some(expected) {
                            return Err(StoreError::Conflict { id: record.id, expected: expected.clone() });
                        }
                    }
                    next.publications.insert(record.id, record.clone());
                }
                Change::DeletePublication(id) => {
                    next.publications.remove(id);
                }
                Change::PutEntity(record) => {
                    next.entities.insert(record.entity.clone(), record.clone());
                }
                Change::DeleteEntity(entity) => {
                    next.entities.remove(entity);
                }
            }
        }
        *maps = next;
        Ok(())
    }
}

/// A subscription record whose CSeq and version never go below what was stored: a late or
/// replayed write cannot make NOTIFYs after a restart go backwards.
fn monotonic(stored: Option<&SubscriptionRecord>, mut record: SubscriptionRecord) -> SubscriptionRecord {
    if let Some(old) = stored {
        record.dialog.local_seq = record.dialog.local_seq.max(old.dialog.local_seq);
        record.version = record.version.max(old.version);
    }
    record
}

/// A watch record whose CSeq never goes below what was stored.
fn monotonic_watch(stored: Option<&WatchRecord>, mut record: WatchRecord) -> WatchRecord {
    if let Some(old) = stored {
        record.dialog.local_seq = record.dialog.local_seq.max(old.dialog.local_seq);
    }
    record
}
