//! Coalescing a batch before it is written: a Put that a later change to the same record
//! makes moot is left out. Every NOTIFY stores its subscription again, so a busy batch (or
//! one kept while the store is down) holds many Puts of the same record; only the last one
//! matters. Deletes are all kept, and conditional publication updates are never touched (the
//! `if_etag` of a later one names the entity-tag an earlier one writes).

use std::collections::HashSet;

use crate::Change;

/// The record a change writes, for the changes that may be coalesced.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Subscription(u64),
    Watch(u64),
    Binding(&'a str, &'a str),
    Entity(&'a str),
}

fn key(change: &Change) -> Option<Key<'_>> {
    Some(match change {
        Change::PutSubscription(r) => Key::Subscription(r.id),
        Change::DeleteSubscription(id) => Key::Subscription(*id),
        Change::PutWatch(r) => Key::Watch(r.id),
        Change::DeleteWatch(id) => Key::Watch(*id),
        Change::PutBinding(r) => Key::Binding(&r.aor, &r.contact),
        Change::DeleteBinding { aor, contact } => Key::Binding(aor, contact),
        Change::PutEntity(r) => Key::Entity(&r.entity),
        Change::DeleteEntity(entity) => Key::Entity(entity),
        Change::PutPublication { .. } | Change::DeletePublication(_) => return None,
    })
}

fn is_put(change: &Change) -> bool {
    matches!(change, Change::PutSubscription(_) | Change::PutWatch(_) | Change::PutBinding(_) | Change::PutEntity(_))
}

/// Leaves out every Put followed, later in `changes`, by another change to the same record;
/// the rest keep their order. Applying the result leaves the store as applying `changes`
/// would.
pub fn coalesce(changes: Vec<Change>) -> Vec<Change> {
    let mut later = HashSet::new();
    let mut keep = vec![true; changes.len()];
    // Walking backwards, a Put is moot when a change to its record was already seen.
    for (i, change) in changes.iter().enumerate().rev() {
        if let Some(key) = key(change)
            && !later.insert(key)
            && is_put(change)
        {
            keep[i] = false;
        }
    }
    changes.into_iter().zip(keep).filter_map(|(change, keep)| keep.then_some(change)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::subscription;
    use crate::{EntityRecord, MemoryStore, Store};

    fn entity(key: &str, display: &str) -> Change {
        Change::PutEntity(EntityRecord { entity: key.into(), display: Some(display.into()), ..EntityRecord::default() })
    }

    #[test]
    fn only_the_last_put_of_a_record_is_kept_and_deletes_stay() {
        let batch = vec![
            Change::PutSubscription(subscription(1, 2, 0)),
            entity("a", "first"),
            Change::PutSubscription(subscription(1, 3, 1)),
            Change::DeleteEntity("a".into()),
            entity("a", "again"),
            Change::PutSubscription(subscription(2, 2, 0)),
            Change::DeleteSubscription(2),
        ];
        let coalesced = coalesce(batch.clone());
        assert_eq!(
            coalesced,
            vec![
                Change::PutSubscription(subscription(1, 3, 1)),
                Change::DeleteEntity("a".into()),
                entity("a", "again"),
                Change::DeleteSubscription(2),
            ]
        );
        let (mut whole, mut short) = (MemoryStore::new(), MemoryStore::new());
        whole.apply(&batch).unwrap();
        short.apply(&coalesced).unwrap();
        assert_eq!(whole.load().unwrap(), short.load().unwrap(), "the same state either way");
    }
}
