//! Identifiers the engine mints: tags, Via branches, Call-IDs. Random from a seeded RNG, so
//! tests are reproducible and the shell seeds it from the OS.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip_proto::header::BRANCH_MAGIC_COOKIE;

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

    /// A Via branch with the RFC 3261 magic cookie.
    pub(crate) fn branch(&mut self) -> String {
        format!("{BRANCH_MAGIC_COOKIE}{}", self.token())
    }
}
