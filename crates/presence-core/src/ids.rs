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

/// Hands out the ids of one kind, each once; ids restored from storage move it past them.
#[derive(Debug, Default)]
pub(crate) struct Counter(u64);

impl Counter {
    /// The next unused id.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }

    /// Marks `id` (restored from storage) as used.
    pub(crate) fn skip_past(&mut self, id: u64) {
        self.0 = self.0.max(id);
    }
}

/// The wire tokens the engine mints.
#[derive(Debug)]
pub(crate) struct Ids {
    rng: StdRng,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Self {
        Ids { rng: StdRng::seed_from_u64(seed) }
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
