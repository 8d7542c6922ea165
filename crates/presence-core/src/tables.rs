//! The engine's hot hash tables: their hasher, and giving memory back. A hash table keeps
//! its capacity when entries leave, so the tables that a burst fills (transactions, timers)
//! would hold the burst's memory for good; after a removal they shrink once mostly empty.
//! And [`Bounded`], for tables keyed by what a peer chooses (its address) whose entries can
//! be forgotten at the cost of a fresh start.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};

/// A hash table for what every message looks up (transactions, timers, dialogs), keyed by
/// text the peer chose (branches, Call-IDs, tags). aHash with keys drawn at random for each
/// table resists the collisions a peer could aim at it, as std's SipHash does, at a fraction
/// of the cost for short keys: hashing was a tenth of the engine's instructions per
/// lifecycle (bench `engine_lifecycle`).
pub(crate) type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// Below this capacity a table keeps what it has: too little to matter.
const KEEP_CAPACITY: usize = 1024;

/// Halves a table's spare room once it is under a quarter full. A shrink takes time in
/// proportion to the entries, and at least as many removals again come before the next
/// one, so the cost per removal stays constant.
pub(crate) fn shrink_when_drained<K: Eq + Hash, V, S: BuildHasher>(table: &mut HashMap<K, V, S>) {
    if table.capacity() > KEEP_CAPACITY && table.len() * 4 < table.capacity() {
        table.shrink_to(table.len() * 2);
    }
}

/// A table of at most `capacity` entries that forgets the one made first when full, so a
/// peer that names ever new keys (addresses) cannot grow it. Checks and evictions are O(1).
#[derive(Debug)]
pub(crate) struct Bounded<K, V> {
    map: FastMap<K, V>,
    /// Keys in the order their entries were made.
    made: VecDeque<K>,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Bounded { map: FastMap::default(), made: VecDeque::new() }
    }
}

impl<K: Eq + Hash + Clone, V> Bounded<K, V> {
    /// The entry of `key`, made by `make` (forgetting the oldest entries past `capacity`)
    /// when there is none.
    pub(crate) fn entry(&mut self, key: K, capacity: usize, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) {
            while self.made.len() >= capacity.max(1) {
                let Some(first) = self.made.pop_front() else { break };
                self.map.remove(&first);
            }
            self.made.push_back(key.clone());
        }
        self.map.entry(key).or_insert_with(make)
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_drained_after_a_burst_gives_back_most_of_its_room() {
        let mut table: HashMap<u32, u32> = (0..100_000).map(|n| (n, n)).collect();
        let burst = table.capacity();
        for n in 100..100_000 {
            table.remove(&n);
            shrink_when_drained(&mut table);
        }
        assert!(table.capacity() <= KEEP_CAPACITY * 2, "{} of {burst} kept", table.capacity());
        assert_eq!(table.len(), 100);
    }

    #[test]
    fn a_bounded_table_forgets_the_oldest_entry_when_full() {
        let mut table: Bounded<u32, u32> = Bounded::default();
        for n in 0..10 {
            *table.entry(n, 3, || 0) += n;
        }
        assert_eq!(table.len(), 3);
        assert!(table.contains(&9) && table.contains(&7) && !table.contains(&6));
        assert_eq!(*table.entry(8, 3, || 100), 8, "an existing entry is kept");
    }
}
