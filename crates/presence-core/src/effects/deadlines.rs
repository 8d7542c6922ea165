//! The one deadline index: every timer of every transaction, subscription, publication,
//! watch and entity is an entry here, not a task. The driver sleeps until
//! [`DeadlineIndex::next`] and then asks for what is due.

use std::collections::BTreeSet;
use std::hash::Hash;
use std::time::Instant;

use crate::tables::FastMap;

/// Deadlines keyed by `K`, at most one per key.
#[derive(Debug)]
pub(crate) struct DeadlineIndex<K> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: FastMap<K, Instant>,
}

impl<K: Ord + Hash + Clone> DeadlineIndex<K> {
    pub(crate) fn new() -> Self {
        DeadlineIndex { by_time: BTreeSet::new(), by_key: FastMap::default() }
    }

    /// Sets (or moves, or with `None` clears) the deadline of `key`.
    pub(crate) fn set(&mut self, key: K, deadline: Option<Instant>) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key.clone()));
            crate::tables::shrink_when_drained(&mut self.by_key);
        }
        if let Some(at) = deadline {
            self.by_time.insert((at, key.clone()));
            self.by_key.insert(key, at);
        }
    }

    /// The deadline of `key`, if one is set.
    pub(crate) fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).copied()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one key due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        crate::tables::shrink_when_drained(&mut self.by_key);
        Some(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn moves_clears_and_pops_in_order() {
        let t0 = Instant::now();
        let mut idx = DeadlineIndex::new();
        idx.set("a", Some(t0 + Duration::from_secs(5)));
        idx.set("b", Some(t0 + Duration::from_secs(1)));
        idx.set("a", Some(t0 + Duration::from_secs(2)));
        idx.set("c", Some(t0 + Duration::from_secs(3)));
        idx.set("c", None);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(idx.pop_due(t0), None);
        assert_eq!(idx.pop_due(t0 + Duration::from_secs(10)), Some("b"));
        assert_eq!(idx.pop_due(t0 + Duration::from_secs(10)), Some("a"));
        assert_eq!(idx.pop_due(t0 + Duration::from_secs(10)), None);
    }
}
