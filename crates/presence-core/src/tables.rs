//! The engine's hot hash tables: their hasher, and giving memory back. A hash table keeps
//! its capacity when entries leave, so the tables that a burst fills (transactions, timers)
//! would hold the burst's memory for good; after a removal they shrink once mostly empty.

use std::collections::HashMap;
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
}
