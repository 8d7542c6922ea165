//! The directory of entities: every entity some component holds something about (state,
//! subscriptions, bindings), kept sorted so a page of the entity look-up costs the page,
//! not a walk over everything. Components add an entity when it first appears in their own
//! index and remove it when it leaves; an entity is listed while any component holds it.

use std::collections::BTreeMap;

use crate::entity_key::EntityKey;

/// Entities in look-up order (case-insensitively, so a prefix matches as the API promises),
/// each with how many components hold it.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    by_name: BTreeMap<(String, EntityKey), u8>,
}

impl Directory {
    /// One more component holds `key`.
    pub(crate) fn add(&mut self, key: &EntityKey) {
        *self.by_name.entry(name(key)).or_default() += 1;
    }

    /// One component no longer holds `key`.
    pub(crate) fn remove(&mut self, key: &EntityKey) {
        let name = name(key);
        if let Some(holders) = self.by_name.get_mut(&name) {
            *holders -= 1;
            if *holders == 0 {
                self.by_name.remove(&name);
            }
        }
    }

    /// How many entities start with `prefix` (case-insensitively), and the `limit` of them
    /// after the first `offset`. Without a prefix the count is the directory's size;
    /// with one, it counts the entities in the prefix's range.
    pub(crate) fn page(&self, prefix: &str, offset: usize, limit: usize) -> (usize, Vec<&EntityKey>) {
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
    fn pages_by_case_insensitive_prefix() {
        let mut dir = Directory::default();
        for k in ["1001@pbx", "1002@pbx", "1010@pbx", "2001@pbx", "alice@pbx", "ALICE@other"] {
            dir.add(&key(k));
        }
        let (total, page) = dir.page("100", 1, 5);
        assert_eq!((total, page.iter().map(|k| k.as_str()).collect::<Vec<_>>()), (2, vec!["1002@pbx"]));
        let (total, page) = dir.page("Alice", 0, 5);
        assert_eq!((total, page.len()), (2, 2));
        assert_eq!(dir.page("", 4, 10).0, 6);
        assert_eq!(dir.page("", 4, 10).1.len(), 2);
        assert_eq!(dir.page("3", 0, 10), (0, vec![]));
    }
}
