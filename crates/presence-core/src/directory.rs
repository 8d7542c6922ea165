//! The directory of entities: every entity some component holds something about (state,
//! subscriptions, bindings), kept sorted so a page of the entity look-up costs the page,
//! not a walk over everything. Components add an entity when it first appears in their own
//! index and remove it when it leaves; an entity is listed while any component holds it.
//!
//! While the shell follows changes (for the live dashboard), the directory also notes which
//! entities' look-ups changed since the shell last took them, so a live view costs the
//! entities that changed, never a walk over everything.

use std::collections::HashSet;

use crate::entity_key::EntityKey;
use crate::name_index::NameIndex;

/// The most changed entities noted between two takes; past it the shell is told to list
/// everything again rather than the set growing without bound.
const MAX_TOUCHED: usize = 65_536;

/// Entities in look-up order (case-insensitively, so a prefix matches as the API promises),
/// each with how many components hold it.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    by_name: NameIndex<u8>,
    /// Entities whose look-up changed since the last take (`None`: nobody follows).
    touched: Option<Touched>,
}

/// The entities whose look-up changed since the shell last asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// The entities, each once.
    pub keys: HashSet<EntityKey>,
    /// More changed than were noted: the shell lists everything again.
    pub overflowed: bool,
}

impl Directory {
    /// One more component holds `key`.
    pub(crate) fn add(&mut self, key: &EntityKey) {
        *self.by_name.entry(key) += 1;
        self.touch(key);
    }

    /// One component no longer holds `key`.
    pub(crate) fn remove(&mut self, key: &EntityKey) {
        if let Some(holders) = self.by_name.get_mut(key) {
            *holders -= 1;
            if *holders == 0 {
                self.by_name.remove(key);
            }
        }
        self.touch(key);
    }

    /// What a look-up of `key` shows changed (its state, registrations or watchers).
    pub(crate) fn touch(&mut self, key: &EntityKey) {
        let Some(touched) = &mut self.touched else { return };
        if touched.keys.len() < MAX_TOUCHED {
            touched.keys.insert(key.clone());
        } else if !touched.keys.contains(key) {
            touched.overflowed = true;
        }
    }

    /// Starts noting changed entities, from now on.
    pub(crate) fn follow(&mut self) {
        self.touched.get_or_insert_with(Touched::default);
    }

    /// The entities changed since the last take (none when nobody follows).
    pub(crate) fn take_touched(&mut self) -> Touched {
        self.touched.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Whether changed entities wait to be taken.
    pub(crate) fn has_touched(&self) -> bool {
        self.touched.as_ref().is_some_and(|t| t.overflowed || !t.keys.is_empty())
    }

    /// Whether any component holds `key`.
    pub(crate) fn contains(&self, key: &EntityKey) -> bool {
        self.by_name.contains(key)
    }

    /// Every entity listed, in look-up order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &EntityKey> {
        self.by_name.keys()
    }

    /// How many entities start with `prefix` (case-insensitively), and the `limit` of them
    /// after the first `offset` ([`NameIndex::page`]).
    pub(crate) fn page(&self, prefix: &str, offset: usize, limit: usize) -> (usize, Vec<&EntityKey>) {
        self.by_name.page(prefix, offset, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> EntityKey {
        EntityKey::canonical(text.to_owned())
    }

    #[test]
    fn an_entity_is_listed_while_any_component_holds_it() {
        let mut dir = Directory::default();
        dir.add(&key("1001@pbx"));
        dir.add(&key("1001@pbx"));
        dir.add(&key("Alice@pbx"));
        dir.add(&key("1002@pbx"));
        dir.remove(&key("1001@pbx"));
        let listed = dir.page("", 0, 10).1.into_iter().map(EntityKey::as_str).collect::<Vec<_>>();
        assert_eq!(listed, ["1001@pbx", "1002@pbx", "Alice@pbx"]);
        dir.remove(&key("1001@pbx"));
        assert_eq!(dir.page("", 0, 10).0, 2);
    }

    #[test]
    fn notes_each_changed_entity_once_while_followed_and_overflows_without_growing() {
        let mut dir = Directory::default();
        dir.add(&key("1001@pbx"));
        assert_eq!(dir.take_touched(), Touched::default(), "nothing is noted before anyone follows");
        dir.follow();
        dir.add(&key("1001@pbx"));
        dir.touch(&key("1001@pbx"));
        dir.remove(&key("1002@pbx"));
        let touched = dir.take_touched();
        let mut keys: Vec<_> = touched.keys.iter().map(EntityKey::as_str).collect();
        keys.sort_unstable();
        assert_eq!((keys, touched.overflowed), (vec!["1001@pbx", "1002@pbx"], false));
        assert_eq!(dir.take_touched(), Touched::default(), "a take empties it");
        for n in 0..=MAX_TOUCHED {
            dir.touch(&key(&format!("{n}@pbx")));
        }
        let touched = dir.take_touched();
        assert_eq!((touched.keys.len(), touched.overflowed), (MAX_TOUCHED, true));
        assert!(dir.contains(&key("1001@pbx")) && !dir.contains(&key("1002@pbx")));
    }
}
