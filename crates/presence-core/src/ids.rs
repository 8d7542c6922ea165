//! Identifiers: the numbers that name what each component holds (a subscription, a
//! publication, a subscription to a phone), and the random tokens the engine mints for the
//! wire (tags, Via branches, Call-IDs, entity-tags, nonces). Random from a seeded RNG, so
//! tests are reproducible and the shell seeds it from the OS.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip_proto::header::BRANCH_MAGIC_COOKIE;

/// A subscription we serve as notifier (RFC 6665 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SubscriptionId(pub(crate) u64);

/// A publication (RFC 3903).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PublicationId(pub(crate) u64);

/// A subscription we hold to a registered phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct WatchId(pub(crate) u64);

/// Bits of a number we mint that count; the 16 bits above them name the node. Numbers stay
/// below 2^53, so API clients in JavaScript read them exactly.
const NODE_SHIFT: u32 = 37;

/// The numbers and wire tokens the engine mints. Numbers carry the node in bits 37–52, so
/// nodes that share a store never mint the same one; tokens are 64 random bits.
#[derive(Debug)]
pub(crate) struct Ids {
    rng: StdRng,
    node: u64,
    last: u64,
}

impl Ids {
    pub(crate) fn new(seed: u64, node: u16) -> Self {
        Ids { rng: StdRng::seed_from_u64(seed), node: u64::from(node) << NODE_SHIFT, last: 0 }
    }

    /// A number no other id of this node's has (subscriptions, publications, watches).
    pub(crate) fn number(&mut self) -> u64 {
        self.last += 1;
        self.node | self.last
    }

    /// Marks `number` (restored from storage) as used, when this node minted it.
    pub(crate) fn skip_past(&mut self, number: u64) {
        if number >> NODE_SHIFT == self.node >> NODE_SHIFT {
            self.last = self.last.max(number & ((1 << NODE_SHIFT) - 1));
        }
    }

    /// 64 random bits as 16 hex digits (RFC 3261 §19.3 asks for at least 32).
    pub(crate) fn token(&mut self) -> String {
        format!("{:016x}", self.rng.next_u64())
    }

    /// A Via branch with the RFC 3261 magic cookie (§8.1.1.7).
    pub(crate) fn branch(&mut self) -> String {
        format!("{BRANCH_MAGIC_COOKIE}{}", self.token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_carry_the_node_and_skip_past_restored_ones() {
        let (mut a, mut b) = (Ids::new(1, 1), Ids::new(1, 2));
        let (first_a, first_b) = (a.number(), b.number());
        assert_ne!(first_a, first_b, "two nodes never mint the same number");
        a.skip_past(first_a + 10);
        assert_eq!(a.number(), first_a + 11);
        a.skip_past(first_b + 100);
        assert_eq!(a.number(), first_a + 12, "another node's numbers are not ours to skip");
        let mut last_node = Ids::new(1, u16::MAX);
        last_node.skip_past((u64::from(u16::MAX) << NODE_SHIFT) | ((1 << NODE_SHIFT) - 2));
        assert!(last_node.number() < 1 << 53, "exact as a JavaScript number");
    }
}
