//! Entities in look-up order: sorted by name case-insensitively, so that a page of them from
//! a prefix costs the page. The directory of entities held keeps one, and so does the shell's
//! index of entities by the groups the dashboard filters by.

use std::collections::BTreeMap;

use crate::entity_key::EntityKey;

/// Entities in look-up order, each with a value.
#[derive(Clone, Debug)]
pub struct NameIndex<V> {
    by_name: BTreeMap<(String, EntityKey), V>,
}

impl<V> Default for NameIndex<V> {
    fn default() -> Self {
        NameIndex { by_name: BTreeMap::new() }
    }
}

impl<V> NameIndex<V> {
    /// The value of `key`, inserted with `V::default()` when absent.
    pub fn entry(&mut self, key: &EntityKey) -> &mut V
    where
        V: Default,
    {
        self.by_name.entry(name(key)).or_default()
    }

    /// Puts `key` in, with `value`.
    pub fn insert(&mut self, key: &EntityKey, value: V) {
        self.by_name.insert(name(key), value);
    }

    /// The value of `key`, if it is in.
    pub fn get_mut(&mut self, key: &EntityKey) -> Option<&mut V> {
        self.by_name.get_mut(&name(key))
    }

    /// Takes `key` out.
    pub fn remove(&mut self, key: &EntityKey) {
        self.by_name.remove(&name(key));
    }

    /// Whether `key` is in.
    pub fn contains(&self, key: &EntityKey) -> bool {
        self.by_name.contains_key(&name(key))
    }

    /// How many entities are in.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Every entity, in look-up order.
    pub fn keys(&self) -> impl Iterator<Item = &EntityKey> {
        self.by_name.keys().map(|(_, key)| key)
    }

    /// How many entities start with `prefix` (case-insensitively), and the `limit` of them
    /// after the first `offset`. Without a prefix the count is the size; with one, it counts
    /// the entities in the prefix's range.
    pub fn page(&self, prefix: &str, offset: usize, limit: usize) -> (usize, Vec<&EntityKey>) {
        let prefix = prefix.to_ascii_lowercase();
        let matching = || {
            let from = (prefix.clone(), EntityKey::canonical(String::new()));
            self.by_name.range(from..).take_while(|((name, _), _)| name.starts_with(&prefix)).map(|((_, key), _)| key)
        };
        let total = if prefix.is_empty() { self.by_name.len() } else { matching().count() };
        (total, matching().skip(offset).take(limit).collect())
    }
}

fn name(key: &EntityKey) -> (String, EntityKey) {
    (key.as_str().to_ascii_lowercase(), key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> EntityKey {
        EntityKey::canonical(text.to_owned())
    }

    #[test]
    fn pages_by_case_insensitive_prefix() {
        let mut index = NameIndex::default();
        for k in ["1001@pbx", "1002@pbx", "1010@pbx", "2001@pbx", "alice@pbx", "ALICE@other"] {
            index.insert(&key(k), ());
        }
        let (total, page) = index.page("100", 1, 5);
        assert_eq!((total, page.iter().map(|k| k.as_str()).collect::<Vec<_>>()), (2, vec!["1002@pbx"]));
        let (total, page) = index.page("Alice", 0, 5);
        assert_eq!((total, page.len()), (2, 2));
        assert_eq!(index.page("", 4, 10).0, 6);
        assert_eq!(index.page("", 4, 10).1.len(), 2);
        assert_eq!(index.page("3", 0, 10), (0, vec![]));
        index.remove(&key("1002@pbx"));
        assert!(!index.contains(&key("1002@pbx")) && index.len() == 5);
    }
}
