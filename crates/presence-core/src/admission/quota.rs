//! The quotas of the state tables: how many entries a source may hold and how many there
//! may be in all. A table keeps a [`Tally`] beside its entries, so a check is two look-ups
//! instead of a scan.

use std::net::IpAddr;

use crate::tables::FastMap;

use super::Limits;

/// A table's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Most entries one untrusted source address may hold.
    pub per_source: usize,
    /// Most entries in all.
    pub total: usize,
}

/// Which limit a new entry would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    /// The source's share.
    Source,
    /// The table's total.
    Total,
}

/// How many entries of a table each source holds, and in all.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    total: usize,
    per_source: FastMap<IpAddr, usize>,
}

impl Tally {
    pub(crate) fn add(&mut self, source: IpAddr) {
        self.total += 1;
        *self.per_source.entry(source).or_default() += 1;
    }

    pub(crate) fn remove(&mut self, source: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
                crate::tables::shrink_when_drained(&mut self.per_source);
            }
        }
    }

    /// An entry moved from one source to another (a NAT rebinding).
    pub(crate) fn moved(&mut self, from: IpAddr, to: IpAddr) {
        if from != to {
            self.remove(from);
            self.add(to);
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// The limit one more entry from `source` would pass, if any.
    pub(crate) fn over(&self, source: IpAddr, quota: Quota, limits: &Limits) -> Option<Over> {
        if self.total >= quota.total {
            return Some(Over::Total);
        }
        let held = self.per_source.get(&source).copied().unwrap_or(0);
        (held >= quota.per_source && !limits.trusts(source)).then_some(Over::Source)
    }
}
